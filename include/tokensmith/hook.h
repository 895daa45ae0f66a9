/**
 * @file hook.h
 * @brief The one result every tokensmith libmicrohttpd hook returns: authn's
 *        ts_authn_mhd_check(), authz's ts_authz_mhd_check(), tokensmith-mhd's
 *        ts_mhd_check_framing() and ts_mhd_gate_check().
 *
 * Every hook is called from the access handler's first call for a request (headers only), with
 * its arguments in the same order: the hook's handle, the connection, then the handler's
 * `method` and `url` (in that order, the order of the request line), then what the hook hands
 * back. What the handler does next depends only on the result:
 *
 * @code
 *   ts_hook_result r = ts_authn_mhd_check(hook, conn, method, url, &principal);
 *   if (r != TS_HOOK_CONTINUE)
 *       return r == TS_HOOK_RESPONDED ? MHD_YES : MHD_NO;
 * @endcode
 *
 * This header has no functions and needs no library: authn, authz and mhd include it without
 * depending on each other.
 * @since 0.2.0
 */
#ifndef TOKENSMITH_HOOK_H
#define TOKENSMITH_HOOK_H

#ifdef __cplusplus
extern "C" {
#endif

/** What a libmicrohttpd hook did with a request. */
typedef enum ts_hook_result {
    /** Let the request through: the handler serves it (with what the hook handed back). */
    TS_HOOK_CONTINUE = 0,
    /** The hook queued the answer itself (400, 401, 403, 500): return MHD_YES. */
    TS_HOOK_RESPONDED,
    /** Nothing could be queued (no memory, or libmicrohttpd refused): return MHD_NO, and
     *  libmicrohttpd closes the connection. Never a reason to serve the request. */
    TS_HOOK_ERROR,
} ts_hook_result;

#ifdef __cplusplus
}
#endif
#endif
