/* Byte-level matching of keyMatch2 route patterns (see route_pattern.h for the subset). */
#include "contract/route_pattern.h"

#include <stdlib.h>
#include <string.h>

typedef enum tok_kind {
    TOK_LIT,   /* literal bytes */
    TOK_PARAM, /* [^/]+ */
    TOK_ANY    /* .* : any bytes but a newline, as RE2 and PCRE2 read "." */
} tok_kind;

typedef struct tok {
    tok_kind kind;
    size_t off, len; /* literal bytes in text */
} tok;

struct ts_route_pattern {
    bool native;
    size_t ntoks;
    tok *toks;
    char *text; /* the pattern after slash-star -> "/.*" */
};

void ts_authz__route_free(ts_route_pattern *rp)
{
    if (!rp)
        return;
    free(rp->toks);
    free(rp->text);
    free(rp);
}

static bool is_regex_meta(unsigned char c)
{
    return strchr("\\.+*?()[]{}|^$", c) != NULL || c >= 0x80 || c == '\0';
}

/*
 * Tokenise the way keyMatch2 rewrites: a ':' followed by at least one byte other than '/'
 * starts a parameter running to the next '/'; ".*" (written as slash-star or literally) is the
 * wildcard; every other byte must be a plain literal for the pattern to be native.
 */
static bool tokenize(ts_route_pattern *rp)
{
    const char *s = rp->text;
    size_t n = strlen(s), nany = 0;
    for (size_t i = 0; i < n;) {
        tok *t = &rp->toks[rp->ntoks];
        if (s[i] == ':' && i + 1 < n && s[i + 1] != '/') {
            size_t e = i + 1;
            while (e < n && s[e] != '/')
                e++;
            *t = (tok){TOK_PARAM, i, e - i};
            i = e;
        } else if (s[i] == '.' && i + 1 < n && s[i + 1] == '*') {
            if (++nany > 1) /* several wildcards backtrack: leave them to the regex engine */
                return false;
            *t = (tok){TOK_ANY, i, 2};
            i += 2;
        } else {
            size_t e = i;
            while (e < n && !(s[e] == ':' && e + 1 < n && s[e + 1] != '/') &&
                   !(s[e] == '.' && e + 1 < n && s[e + 1] == '*')) {
                if (s[e] != ':' && is_regex_meta((unsigned char)s[e]))
                    return false;
                e++;
            }
            *t = (tok){TOK_LIT, i, e - i};
            i = e;
        }
        rp->ntoks++;
    }
    return true;
}

ts_route_pattern *ts_authz__route_compile(const char *pattern)
{
    ts_route_pattern *rp = calloc(1, sizeof *rp);
    size_t n = strlen(pattern);
    if (!rp)
        return NULL;
    rp->text = malloc(2 * n + 1);
    rp->toks = calloc(2 * n + 1, sizeof *rp->toks);
    if (!rp->text || !rp->toks) {
        ts_authz__route_free(rp);
        return NULL;
    }
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        if (pattern[i] == '/' && i + 1 < n && pattern[i + 1] == '*') {
            memcpy(rp->text + m, "/.*", 3);
            m += 3;
            i += 2;
        } else {
            rp->text[m++] = pattern[i++];
        }
    }
    rp->text[m] = '\0';
    rp->native = tokenize(rp);
    return rp;
}

bool ts_authz__route_native(const ts_route_pattern *rp)
{
    return rp && rp->native;
}

static bool match_from(const ts_route_pattern *rp, size_t ti, const char *s, size_t len, size_t pos)
{
    for (; ti < rp->ntoks; ti++) {
        const tok *t = &rp->toks[ti];
        switch (t->kind) {
        case TOK_LIT:
            if (len - pos < t->len || memcmp(s + pos, rp->text + t->off, t->len) != 0)
                return false;
            pos += t->len;
            break;
        case TOK_PARAM: {
            /* What follows a parameter starts with '/' or is the end, so the run of non-'/'
               bytes is the only length that can match: no backtracking needed. */
            size_t e = pos;
            while (e < len && s[e] != '/')
                e++;
            if (e == pos)
                return false;
            pos = e;
            break;
        }
        case TOK_ANY:
            for (size_t e = pos;; e++) {
                if (match_from(rp, ti + 1, s, len, e))
                    return true;
                if (e == len || s[e] == '\n')
                    return false;
            }
        }
    }
    return pos == len;
}

bool ts_authz__route_match(const ts_route_pattern *rp, const char *path, size_t len)
{
    return rp && rp->native && match_from(rp, 0, path, len, 0);
}
