/* The token mappings model: the strict reader and the per-kind checks (mappings.h). Input is
 * untrusted (a management API body, a document another replica wrote): every size, count and
 * depth is bounded before it costs memory or time, and every refusal names the field. */
#include "mappings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_load.h"
#include "common/sha256.h"

static const char *const KIND_NAMES[TS_SVC_MAP_KINDS] = {"identity_rules", "resource_mappings",
                                                         "scope_mappings"};

/* Claims a mapping may never set: the token service sets these itself, and a mapping that
 * could would let an operator's typo forge an identity, a lifetime or a proof of possession. */
static const char *const RESERVED_CLAIMS[] = {"iss", "sub", "aud",     "exp",   "nbf", "iat",
                                              "jti", "act", "may_act", "scope", "cnf"};

const char *ts_svc_map_kind_name(ts_svc_map_kind k)
{
    return k < TS_SVC_MAP_KINDS ? KIND_NAMES[k] : "?";
}

bool ts_svc_map_kind_parse(const char *s, size_t n, ts_svc_map_kind *out)
{
    for (unsigned k = 0; k < TS_SVC_MAP_KINDS; k++)
        if (s && strlen(KIND_NAMES[k]) == n && memcmp(s, KIND_NAMES[k], n) == 0) {
            *out = (ts_svc_map_kind)k;
            return true;
        }
    return false;
}

const char *ts_svc_map_key_member(ts_svc_map_kind k)
{
    return k == TS_SVC_MAP_SCOPE ? "scope" : "name";
}

/* ---- the reader ------------------------------------------------------------------------- */

/* jansson recurses once per nesting level (up to 2048 levels): a hostile body is refused by
 * this linear scan first, so that parsing it costs neither deep stacks nor large trees. */
static bool depth_ok(const char *t, size_t len, size_t *at)
{
    unsigned depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char c = t[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (++depth > TS_SVC_MAP_DEPTH_MAX) {
                *at = i;
                return false;
            }
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        }
    }
    return true;
}

json_t *ts_svc_map_parse(const char *text, size_t len, size_t max, const char *what, ts_error *err)
{
    if (!text || len == 0) {
        ts_error_set(err, TS_EINVAL, what, "%s is empty: a JSON object is required", what);
        return NULL;
    }
    if (len > max) {
        ts_error_set(err, TS_ELIMIT, what, "%s is larger than %zu bytes", what, max);
        return NULL;
    }
    size_t at = 0;
    if (!depth_ok(text, len, &at)) {
        ts_error_set(err, TS_EINVAL, what, "%s nests deeper than %u levels (at byte %zu)", what,
                     TS_SVC_MAP_DEPTH_MAX, at);
        return NULL;
    }
    json_error_t je;
    json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!v) {
        if (ts_common__json_load_oom(&je))
            ts_error_set(err, TS_ENOMEM, what, "out of memory reading %s", what);
        else /* jansson's text names a duplicate key ("duplicate object key near '"x"'") */
            ts_error_set(err, TS_EINVAL, what, "%s is not valid JSON: %s (line %d, column %d)",
                         what, je.text, je.line, je.column);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        ts_error_set(err, TS_EINVAL, what, "%s must be a JSON object", what);
        return NULL;
    }
    return v;
}

/* ---- field checks ----------------------------------------------------------------------- */

/* "path.member" or "member" alone for a request body's top level. */
static void field_name(char *out, size_t cap, const char *path, const char *member)
{
    if (path && path[0])
        snprintf(out, cap, "%s.%s", path, member);
    else
        snprintf(out, cap, "%s", member);
}

static ts_status refuse(ts_error *err, const char *path, const char *member, const char *why)
{
    char f[160];
    field_name(f, sizeof f, path, member);
    return ts_error_set(err, TS_EINVAL, f, "%s: %s", f, why);
}

typedef enum chars { NAME, GLOB, SCOPE, PRINTABLE } chars;

static bool char_ok(chars c, unsigned char ch)
{
    switch (c) {
    case NAME:
        return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
               ch == '.' || ch == '_' || ch == '-';
    case GLOB: /* a Kubernetes namespace or service account name, with '*' and '?' */
        return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' ||
               ch == '*' || ch == '?';
    case SCOPE: /* RFC 6749 §3.3 scope-token */
        return ch == 0x21 || (ch >= 0x23 && ch <= 0x5b) || (ch >= 0x5d && ch <= 0x7e);
    case PRINTABLE:
        return ch > 0x20 && ch < 0x7f;
    }
    return false;
}

/* A string member of 1..max characters of class @p c; *@p out borrowed. Absent: *out NULL. */
static ts_status str_member(const json_t *item, const char *path, const char *member, bool required,
                            chars c, size_t max, const char **out, ts_error *err)
{
    *out = NULL;
    const json_t *v = json_object_get(item, member);
    if (!v)
        return required ? refuse(err, path, member, "is required") : TS_OK;
    if (!json_is_string(v))
        return refuse(err, path, member, "must be a string");
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0 || n > max || strlen(s) != n) {
        char why[64];
        snprintf(why, sizeof why, "must be 1..%zu characters", max);
        return refuse(err, path, member, why);
    }
    for (size_t i = 0; i < n; i++)
        if (!char_ok(c, (unsigned char)s[i]))
            return refuse(err, path, member,
                          c == NAME    ? "may only use A-Z a-z 0-9 . _ -"
                          : c == GLOB  ? "may only use a-z 0-9 . - and the wildcards * ?"
                          : c == SCOPE ? "is not an RFC 6749 scope-token"
                                       : "must be printable ASCII without spaces");
    *out = s;
    return TS_OK;
}

/* An array of distinct strings (at most TS_SVC_MAP_LIST_MAX); absent becomes []. */
static ts_status list_member(json_t *item, const char *path, const char *member, chars c,
                             size_t max, ts_error *err)
{
    json_t *v = json_object_get(item, member);
    if (!v) {
        json_t *empty = json_array();
        if (!empty || json_object_set_new(item, member, empty) != 0)
            return ts_error_set(err, TS_ENOMEM, member, "out of memory");
        return TS_OK;
    }
    if (!json_is_array(v))
        return refuse(err, path, member, "must be an array of strings");
    if (json_array_size(v) > TS_SVC_MAP_LIST_MAX) {
        char why[64];
        snprintf(why, sizeof why, "holds more than %u entries", TS_SVC_MAP_LIST_MAX);
        return refuse(err, path, member, why);
    }
    for (size_t i = 0; i < json_array_size(v); i++) {
        char f[160], m[96];
        snprintf(m, sizeof m, "%s[%zu]", member, i);
        field_name(f, sizeof f, path, m);
        const json_t *e = json_array_get(v, i);
        if (!json_is_string(e))
            return refuse(err, path, m, "must be a string");
        const char *s = json_string_value(e);
        size_t n = json_string_length(e);
        bool ok = n > 0 && n <= max && strlen(s) == n && !strchr(s, ',');
        for (size_t j = 0; ok && j < n; j++)
            ok = char_ok(c, (unsigned char)s[j]);
        if (!ok)
            return ts_error_set(err, TS_EINVAL, f,
                                "%s: must be 1..%zu printable characters "
                                "without spaces or commas",
                                f, max);
        for (size_t j = 0; j < i; j++)
            if (strcmp(json_string_value(json_array_get(v, j)), s) == 0)
                return ts_error_set(err, TS_EINVAL, f, "%s: \"%s\" is listed twice", f, s);
    }
    return TS_OK;
}

/* The extra claims of a mapping: at most TS_SVC_MAP_CLAIMS_MAX, no reserved name, each value
 * at most TS_SVC_MAP_CLAIM_VALUE_MAX bytes of compact JSON. Absent becomes {}. */
static ts_status claims_member(json_t *item, const char *path, ts_error *err)
{
    json_t *v = json_object_get(item, "claims");
    if (!v) {
        json_t *empty = json_object();
        if (!empty || json_object_set_new(item, "claims", empty) != 0)
            return ts_error_set(err, TS_ENOMEM, "claims", "out of memory");
        return TS_OK;
    }
    if (!json_is_object(v))
        return refuse(err, path, "claims", "must be an object");
    if (json_object_size(v) > TS_SVC_MAP_CLAIMS_MAX) {
        char why[64];
        snprintf(why, sizeof why, "holds more than %u claims", TS_SVC_MAP_CLAIMS_MAX);
        return refuse(err, path, "claims", why);
    }
    const char *name;
    json_t *val;
    json_object_foreach(v, name, val)
    {
        char m[96];
        snprintf(m, sizeof m, "claims.%.64s", name);
        size_t n = strlen(name);
        bool ok = n > 0 && n <= TS_SVC_MAP_NAME_MAX;
        for (size_t i = 0; ok && i < n; i++)
            ok = char_ok(PRINTABLE, (unsigned char)name[i]);
        if (!ok)
            return refuse(err, path, "claims", "a claim name must be 1..64 printable characters");
        for (size_t i = 0; i < sizeof RESERVED_CLAIMS / sizeof RESERVED_CLAIMS[0]; i++)
            if (strcmp(name, RESERVED_CLAIMS[i]) == 0)
                return refuse(err, path, m,
                              "is set by the token service itself and cannot be mapped");
        size_t need = json_dumpb(val, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
        if (need == 0 || need > TS_SVC_MAP_CLAIM_VALUE_MAX) {
            char why[64];
            snprintf(why, sizeof why, "value is larger than %u bytes of JSON",
                     TS_SVC_MAP_CLAIM_VALUE_MAX);
            return refuse(err, path, m, why);
        }
    }
    return TS_OK;
}

static ts_status only_members(json_t *item, const char *path, const char *const *allowed,
                              ts_error *err)
{
    const char *key;
    const json_t *val;
    json_object_foreach(item, key, val)
    {
        (void)val;
        bool known = false;
        for (size_t i = 0; allowed[i] && !known; i++)
            known = strcmp(key, allowed[i]) == 0;
        if (!known) {
            char m[96];
            snprintf(m, sizeof m, "%.80s", key);
            return refuse(err, path, m, "is not a member of this kind");
        }
    }
    return TS_OK;
}

static ts_status check_identity(json_t *item, const char *path, ts_error *err)
{
    static const char *const allowed[] = {"name",   "issuer", "namespace", "service_account",
                                          "scopes", "roles",  "priority",  NULL};
    const char *s;
    ts_status st = only_members(item, path, allowed, err);
    if (st == TS_OK)
        st = str_member(item, path, "name", true, NAME, TS_SVC_MAP_NAME_MAX, &s, err);
    if (st == TS_OK)
        st = str_member(item, path, "issuer", false, PRINTABLE, 512, &s, err);
    if (st == TS_OK)
        st = str_member(item, path, "namespace", true, GLOB, 253, &s, err);
    if (st == TS_OK)
        st = str_member(item, path, "service_account", true, GLOB, 253, &s, err);
    if (st == TS_OK)
        st = list_member(item, path, "scopes", SCOPE, 128, err);
    if (st == TS_OK)
        st = list_member(item, path, "roles", PRINTABLE, 128, err);
    if (st != TS_OK)
        return st;
    json_t *p = json_object_get(item, "priority");
    if (!p) {
        if (json_object_set_new(item, "priority", json_integer(0)) != 0)
            return ts_error_set(err, TS_ENOMEM, "priority", "out of memory");
    } else if (!json_is_integer(p) || json_integer_value(p) < 0 ||
               json_integer_value(p) > 1000000) {
        return refuse(err, path, "priority", "must be an integer 0..1000000");
    }
    return TS_OK;
}

/* RFC 8707: an absolute URI without a fragment. */
static bool absolute_uri(const char *s)
{
    const char *colon = strchr(s, ':');
    if (!colon || colon == s || strchr(s, '#'))
        return false;
    for (const char *p = s; p < colon; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (p > s && ((*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.'))))
            return false;
    return colon[1] != '\0';
}

static ts_status check_resource(json_t *item, const char *path, ts_error *err)
{
    static const char *const allowed[] = {"name",   "resource", "audience", "issued_audience",
                                          "claims", NULL};
    const char *s, *resource, *audience;
    ts_status st = only_members(item, path, allowed, err);
    if (st == TS_OK)
        st = str_member(item, path, "name", true, NAME, TS_SVC_MAP_NAME_MAX, &s, err);
    if (st == TS_OK)
        st = str_member(item, path, "resource", false, PRINTABLE, 512, &resource, err);
    if (st == TS_OK)
        st = str_member(item, path, "audience", false, PRINTABLE, 512, &audience, err);
    if (st != TS_OK)
        return st;
    if (!resource == !audience)
        return refuse(err, path, "resource", "exactly one of resource and audience is required");
    if (resource && !absolute_uri(resource))
        return refuse(err, path, "resource", "must be an absolute URI without a fragment");
    const char *issued;
    st = str_member(item, path, "issued_audience", true, PRINTABLE, 512, &issued, err);
    if (st == TS_OK)
        st = claims_member(item, path, err);
    return st;
}

static ts_status check_scope(json_t *item, const char *path, ts_error *err)
{
    static const char *const allowed[] = {"scope", "claims", NULL};
    const char *s;
    ts_status st = only_members(item, path, allowed, err);
    if (st == TS_OK)
        st = str_member(item, path, "scope", true, SCOPE, 128, &s, err);
    if (st == TS_OK)
        st = claims_member(item, path, err);
    return st;
}

ts_status ts_svc_map_item_check(ts_svc_map_kind k, json_t *item, const char *path, ts_error *err)
{
    if (!json_is_object(item))
        return ts_error_set(err, TS_EINVAL, path && path[0] ? path : "body",
                            "%s: must be a JSON object", path && path[0] ? path : "body");
    switch (k) {
    case TS_SVC_MAP_IDENTITY:
        return check_identity(item, path, err);
    case TS_SVC_MAP_RESOURCE:
        return check_resource(item, path, err);
    case TS_SVC_MAP_SCOPE:
        return check_scope(item, path, err);
    default:
        return ts_error_set(err, TS_EINVAL, "kind", "unknown kind");
    }
}

/* ---- canonical text and ETags ----------------------------------------------------------- */

char *ts_svc_map_dump(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

bool ts_svc_map_etag(const json_t *item, char out[TS_SVC_MAP_ETAG_LEN + 1])
{
    char *text = ts_svc_map_dump(item);
    if (!text)
        return false;
    unsigned char md[32];
    ts_common__sha256(text, strlen(text), md);
    free(text);
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < TS_SVC_MAP_ETAG_LEN / 2; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[TS_SVC_MAP_ETAG_LEN] = '\0';
    return true;
}
