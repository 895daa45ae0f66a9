/* Internal subjects. A minted token's `sub` is the upstream `sub` placed in the provider's
   subject_template, because policy lines name subjects ("g, user:alice, role:admin"): with two
   providers that both have a user "alice", the bare upstream `sub` would make them one
   principal, and a line written for one would grant the other.

   A template is P{sub}S, with P and S fixed once the configuration is read ({name} and {iss}
   expanded). Two providers' subjects P1 s S1 and P2 t S2 can be equal for some upstream s and
   t exactly when one of P1, P2 starts the other AND one of S1, S2 ends the other: the
   upstream values can then absorb the difference (P1 = "", P2 = "b:": s = "b:alice" equals
   t = "alice"). So a configuration is accepted only when every two templates differ in a way
   no upstream value can absorb: "a:{sub}" and "b:{sub}", or "{sub}@a" and "{sub}@b"; never
   "{sub}" next to any other template. Provider names cannot hold ':', which is why the default
   "{name}:{sub}" of two named providers always passes. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/str.h"
#include "oidc_internal.h"

bool ts_oidc__name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > TS_OIDC__NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '-' && c != '_' && c != '.')))
            return false;
    }
    return true;
}

static bool placeholder(const char *q, size_t len, const char *name)
{
    return len == strlen(name) && memcmp(q, name, len) == 0;
}

ts_status ts_oidc__subject_prepare(ts_oidc__provider *p, char *msg, size_t msg_len)
{
    if (!p->subject_template &&
        !(p->subject_template = strdup(p->name ? "{name}:{sub}" : "{sub}"))) {
        snprintf(msg, msg_len, "out of memory");
        return TS_ENOMEM;
    }
    const char *t = p->subject_template;
    if (strlen(t) > TS_OIDC__TEMPLATE_MAX) {
        snprintf(msg, msg_len, "must hold at most %u bytes", TS_OIDC__TEMPLATE_MAX);
        return TS_EINVAL;
    }
    ts_common__strbuf pre = {0}, suf = {0};
    ts_common__strbuf_put(&pre, "", 0);
    ts_common__strbuf_put(&suf, "", 0);
    ts_common__strbuf *cur = &pre;
    const char *why = NULL;
    for (const char *q = t; *q && !why;) {
        if (*q == '}') {
            why = "has a '}' without its '{'";
            break;
        }
        if (*q != '{') {
            ts_common__strbuf_put(cur, q, 1);
            q++;
            continue;
        }
        const char *end = strchr(q, '}');
        size_t len = end ? (size_t)(end - q) + 1 : 0;
        if (placeholder(q, len, "{sub}")) {
            if (cur == &suf)
                why = "must contain {sub} exactly once";
            cur = &suf;
        } else if (placeholder(q, len, "{name}")) {
            if (!p->name)
                why = "uses {name}, but the provider has no name";
            else
                ts_common__strbuf_put(cur, p->name, strlen(p->name));
        } else if (placeholder(q, len, "{iss}")) {
            ts_common__strbuf_put(cur, p->issuer, strlen(p->issuer));
        } else {
            why = "has an unknown placeholder: only {sub}, {name} and {iss} exist";
        }
        q += len ? len : 1;
    }
    if (!why && cur != &suf)
        why = "must contain {sub} exactly once";
    if (why || pre.oom || suf.oom) {
        free(pre.p);
        free(suf.p);
        snprintf(msg, msg_len, "%s", why ? why : "out of memory");
        return why ? TS_EINVAL : TS_ENOMEM;
    }
    p->subject_prefix = pre.p;
    p->subject_suffix = suf.p;
    return TS_OK;
}

/* One of @p a, @p b is the start of the other. */
static bool one_starts_other(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    return memcmp(a, b, la < lb ? la : lb) == 0;
}

/* One of @p a, @p b is the end of the other. */
static bool one_ends_other(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), m = la < lb ? la : lb;
    return memcmp(a + la - m, b + lb - m, m) == 0;
}

bool ts_oidc__subjects_disjoint(const ts_oidc__provider *a, const ts_oidc__provider *b)
{
    return !one_starts_other(a->subject_prefix, b->subject_prefix) ||
           !one_ends_other(a->subject_suffix, b->subject_suffix);
}

char *ts_oidc__subject_map(const ts_oidc__provider *p, const char *sub, size_t len)
{
    size_t lp = strlen(p->subject_prefix), ls = strlen(p->subject_suffix);
    if (len > SIZE_MAX - lp - ls - 1)
        return NULL;
    char *o = malloc(lp + len + ls + 1);
    if (!o)
        return NULL;
    memcpy(o, p->subject_prefix, lp);
    memcpy(o + lp, sub, len);
    memcpy(o + lp + len, p->subject_suffix, ls);
    o[lp + len + ls] = '\0';
    return o;
}
