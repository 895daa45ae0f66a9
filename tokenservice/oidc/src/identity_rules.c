/* Identity rules of Kubernetes providers, and the internal subject of a service account.

   A rule matches on the issuer (optional), the namespace and the service account's name, each
   exact or a glob with '*' (any run, also empty) and '?' (one character); the first rule that
   matches, in the order of the configuration, decides, and an account no rule matches gets
   nothing (the exchange is refused). Patterns may only hold the characters of Kubernetes
   names (a-z, 0-9, '-', '.') and the two wildcards, so that no other syntax (brackets,
   escapes, a ':' that would straddle namespace and name) can creep in.

   The subject template: "{namespace}" and "{name}" (each exactly once: every account its own
   subject), optionally "{uid}" (the service account's uid), "{provider}" (the provider's
   name) and "{iss}". Its fixed text before the first and after the last account placeholder
   is what subject.c's disjointness rule compares with the other providers' templates: the
   default "system:serviceaccount:{namespace}:{name}" next to an OIDC provider whose template
   is "{sub}" is refused, because a user of that provider whose sub is
   "system:serviceaccount:boot:bss" would otherwise become that service account. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/str.h"
#include "oidc_internal.h"

#define DEFAULT_TEMPLATE "system:serviceaccount:{namespace}:{name}"

bool ts_oidc__glob_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              c == '*' || c == '?'))
            return false;
    }
    return true;
}

/* Iterative, with one backtrack point (the last '*'): linear in practice, never exponential. */
bool ts_oidc_glob_match(const char *pattern, const char *s)
{
    return pattern && s && ts_oidc__glob_match(pattern, s);
}

bool ts_oidc__glob_match(const char *p, const char *s)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*p == '*') {
            star = p++;
            resume = s;
        } else if (*p == '?' || *p == *s) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

const ts_oidc__identity_rule *ts_oidc__rule_find(const ts_oidc__provider *p, const char *iss,
                                                 const char *ns, const char *name)
{
    for (size_t i = 0; i < p->n_rules; i++) {
        const ts_oidc__identity_rule *r = &p->rules[i];
        if (r->issuer && (!iss || strcmp(r->issuer, iss) != 0))
            continue;
        if (ts_oidc__glob_match(r->namespace_glob, ns) &&
            ts_oidc__glob_match(r->account_glob, name))
            return r;
    }
    return NULL;
}

typedef struct part {
    const char *text; /* fixed text, or NULL for a variable */
    size_t len;
    const char *var; /* "namespace", "name", "uid" */
} part;

/* Walk the template; call @p emit for each piece. Returns NULL or why it is wrong. */
static const char *walk(const ts_oidc__provider *p, const char *t,
                        void (*emit)(const part *pt, void *ud), void *ud)
{
    unsigned seen_ns = 0, seen_name = 0, seen_uid = 0;
    for (const char *q = t; *q;) {
        if (*q == '}')
            return "has a '}' without its '{'";
        if (*q != '{') {
            size_t l = strcspn(q, "{}");
            part pt = {q, l, NULL};
            emit(&pt, ud);
            q += l;
            continue;
        }
        const char *end = strchr(q, '}');
        if (!end)
            return "has a '{' without its '}'";
        size_t l = (size_t)(end - q) + 1;
        part pt = {NULL, 0, NULL};
        if (l == 11 && memcmp(q, "{namespace}", l) == 0) {
            pt.var = "namespace";
            seen_ns++;
        } else if (l == 6 && memcmp(q, "{name}", l) == 0) {
            pt.var = "name";
            seen_name++;
        } else if (l == 5 && memcmp(q, "{uid}", l) == 0) {
            pt.var = "uid";
            seen_uid++;
        } else if (l == 10 && memcmp(q, "{provider}", l) == 0) {
            if (!p->name)
                return "uses {provider}, but the provider has no name";
            pt.text = p->name;
            pt.len = strlen(p->name);
        } else if (l == 5 && memcmp(q, "{iss}", l) == 0) {
            pt.text = p->issuer;
            pt.len = strlen(p->issuer);
        } else {
            return "has an unknown placeholder: only {namespace}, {name}, {uid}, {provider} and "
                   "{iss} exist";
        }
        emit(&pt, ud);
        q += l;
    }
    if (seen_ns != 1 || seen_name != 1 || seen_uid > 1)
        return "must contain {namespace} and {name} exactly once ({uid} at most once)";
    return NULL;
}

typedef struct affix {
    ts_common__strbuf pre, suf;
    bool in_var; /* a variable has been seen: fixed text goes to the suffix */
} affix;

static void emit_affix(const part *pt, void *ud)
{
    affix *a = ud;
    if (pt->var) {
        /* Everything between the first and the last variable is variable for the comparison. */
        a->in_var = true;
        free(a->suf.p);
        a->suf = (ts_common__strbuf){0};
        ts_common__strbuf_put(&a->suf, "", 0);
    } else {
        ts_common__strbuf_put(a->in_var ? &a->suf : &a->pre, pt->text, pt->len);
    }
}

ts_status ts_oidc__k8s_subject_prepare(ts_oidc__provider *p, char *msg, size_t msg_len)
{
    if (!p->subject_template && !(p->subject_template = strdup(DEFAULT_TEMPLATE))) {
        snprintf(msg, msg_len, "out of memory");
        return TS_ENOMEM;
    }
    if (strlen(p->subject_template) > TS_OIDC__TEMPLATE_MAX) {
        snprintf(msg, msg_len, "must hold at most %u bytes", TS_OIDC__TEMPLATE_MAX);
        return TS_EINVAL;
    }
    affix a = {{0}, {0}, false};
    ts_common__strbuf_put(&a.pre, "", 0);
    ts_common__strbuf_put(&a.suf, "", 0);
    const char *why = walk(p, p->subject_template, emit_affix, &a);
    if (why || a.pre.oom || a.suf.oom) {
        free(a.pre.p);
        free(a.suf.p);
        snprintf(msg, msg_len, "%s", why ? why : "out of memory");
        return why ? TS_EINVAL : TS_ENOMEM;
    }
    p->subject_prefix = a.pre.p;
    p->subject_suffix = a.suf.p;
    return TS_OK;
}

typedef struct expand {
    ts_common__strbuf out;
    const char *ns, *name, *uid;
} expand;

static void emit_expand(const part *pt, void *ud)
{
    expand *e = ud;
    if (!pt->var) {
        ts_common__strbuf_put(&e->out, pt->text, pt->len);
        return;
    }
    const char *v = strcmp(pt->var, "namespace") == 0 ? e->ns
                    : strcmp(pt->var, "name") == 0    ? e->name
                                                      : e->uid;
    ts_common__strbuf_put(&e->out, v, strlen(v));
}

char *ts_oidc__k8s_subject(const ts_oidc__provider *p, const char *ns, const char *name,
                           const char *uid)
{
    expand e = {{0}, ns, name, uid ? uid : ""};
    ts_common__strbuf_put(&e.out, "", 0);
    if (walk(p, p->subject_template, emit_expand, &e) || e.out.oom) {
        free(e.out.p);
        return NULL;
    }
    return e.out.p;
}
