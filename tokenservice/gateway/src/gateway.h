/*
 * What the `tokensmith gateway` command calls (tokenservice/cli/cmd_gateway.c) beyond the
 * configuration's life cycle in gateway_config.h: reading configuration text from memory (the
 * file reader and the fuzz target share it), the settings rows for the config-file reader, and
 * running the gateway.
 *
 * Errors: as gateway_config.h says (where = the file's name, message = member path first).
 * Thread-safety: none of these share state; ts_gateway_run() owns the process's signals while
 * it runs.
 */
#ifndef TS_GATEWAY_H
#define TS_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>

#include <tokensmith/error.h>

#include "gateway_config.h"

/** Configuration files and texts larger than this are refused (TS_ELIMIT). */
#define TS_GATEWAY_CONFIG_MAX_BYTES (1u << 20)

/**
 * Read JSON configuration text @p bytes (@p len bytes, need not be NUL-terminated) over
 * @p cfg, exactly as ts_gateway_config_load_file() reads a file; @p name stands for it in
 * errors. On an error @p cfg holds what was applied before it: throw it away.
 * @return TS_OK; TS_EPARSE (not JSON, not an object, a NUL byte, a duplicate member),
 *         TS_EINVAL (a member), TS_ELIMIT (too large, too many entries), TS_ENOMEM.
 */
TS_NODISCARD ts_status ts_gateway_config_load_json(ts_gateway_config *cfg, const char *name,
                                                   const char *bytes, size_t len, ts_error *err);

/** The kinds of value a scalar setting takes in JSON (for the config-file reader). */
typedef enum ts_gateway__json_kind {
    TS_GATEWAY__JSON_TEXT = 0, /**< a string (null = "") */
    TS_GATEWAY__JSON_NUMBER,   /**< an integer, or a string ("5m" for durations) */
    TS_GATEWAY__JSON_BOOL,     /**< true or false */
} ts_gateway__json_kind;

/** Whether @p key ("translate.ttl") is a scalar setting, and which JSON values it takes. */
bool ts_gateway__setting_kind(const char *key, ts_gateway__json_kind *kind);

/** Whether some scalar setting lives in object @p name ("translate", "authz", ...). */
bool ts_gateway__setting_object(const char *name);

/**
 * `tokensmith gateway --check`: build everything a run builds except the listeners (the
 * verifiers, the policy, the keys, read without creating one) from a finished configuration,
 * and free it again.
 * @return TS_OK; the error of the piece at fault (a missing key is TS_ENOTFOUND or TS_EIO).
 */
TS_NODISCARD ts_status ts_gateway_check(const ts_gateway_config *cfg, ts_error *err);

/**
 * Run the gateway on a finished configuration until SIGTERM or SIGINT: the decision core, the
 * admin listener, the HTTP check listener and (unless grpc_listen is "") the gRPC listener, in
 * that order; one JSON log line {"msg":"listening","port":..,"grpc_port":..,"admin_port":..}
 * once all listen. SIGHUP rereads the policy and the keys, each on its own: a part that fails
 * keeps its running version while the other is reloaded, and the log line says which
 * ("reloaded", or "reload failed: the running policy is kept, the keys are reloaded", "...
 * the running keys are kept, the policy is reloaded", "... the running policy and keys are
 * kept"). The stop goes in reverse order and drains: the gRPC listener closes its socket,
 * sends GOAWAY and answers the calls it received (UNAVAILABLE past limits.request_timeout);
 * the HTTP listener refuses new connections at once and waits until the checks in flight are
 * answered (with Connection: close), for at most limits.request_timeout + 1 s.
 * With $NOTIFY_SOCKET set, it sends systemd's READY=1 once all listen, RELOADING=1/READY=1
 * around a reload, STOPPING=1 at the stop, and WATCHDOG=1 every $WATCHDOG_USEC/2
 * (common/notify.h).
 * The caller must have blocked SIGTERM, SIGINT and SIGHUP in every thread before any thread
 * was started.
 * @return TS_OK after a stop signal; the error that kept it from starting otherwise.
 */
TS_NODISCARD ts_status ts_gateway_run(const ts_gateway_config *cfg, ts_error *err);

#endif
