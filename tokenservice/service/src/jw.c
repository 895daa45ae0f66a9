/* The token service's names for the common JSON writer (see jw.h). */
#include "jw.h"

void ts_svc_jw_init(ts_svc_jw *w)
{
    ts_common__json_init(w, TS_COMMON__JSON_UTF8);
}

void ts_svc_jw_init_ascii(ts_svc_jw *w)
{
    ts_common__json_init(w, TS_COMMON__JSON_ASCII);
}

void ts_svc_jw_free(ts_svc_jw *w)
{
    ts_common__json_cleanup(w);
}

void ts_svc_jw_raw(ts_svc_jw *w, const char *s, size_t n)
{
    ts_common__json_embed(w, s, n);
}

void ts_svc_jw_str(ts_svc_jw *w, const char *s)
{
    ts_common__json_str(w, s);
}

void ts_svc_jw_open(ts_svc_jw *w)
{
    ts_common__json_open(w);
}

void ts_svc_jw_close(ts_svc_jw *w)
{
    ts_common__json_close(w);
}

void ts_svc_jw_kstr(ts_svc_jw *w, const char *key, const char *value)
{
    ts_common__json_kstr(w, key, value);
}

void ts_svc_jw_kint(ts_svc_jw *w, const char *key, int64_t value)
{
    ts_common__json_kint(w, key, value);
}

void ts_svc_jw_kbool(ts_svc_jw *w, const char *key, bool value)
{
    ts_common__json_kbool(w, key, value);
}

void ts_svc_jw_kreal(ts_svc_jw *w, const char *key, double value)
{
    ts_common__json_kreal(w, key, value);
}

void ts_svc_jw_kstrs(ts_svc_jw *w, const char *key, const char *const *values, size_t n)
{
    ts_common__json_kstrs(w, key, values, n);
}

void ts_svc_jw_kraw(ts_svc_jw *w, const char *key, const char *json, size_t n)
{
    ts_common__json_kembed(w, key, json, n);
}

char *ts_svc_jw_take(ts_svc_jw *w, size_t *len)
{
    return ts_common__json_take(w, len);
}
