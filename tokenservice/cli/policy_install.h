/*
 * Installing a policy bundle document into a policy directory, the way a Kubernetes ConfigMap
 * volume is updated, so that every service watching the directory sees the old policy or the
 * new one and never a mix (docs/cli.md, `tokensmith policy sync`):
 *
 *   DIR/..2026_12_07_14_51_46.Ab12Cd/   the files of one document (0755; files 0644)
 *   DIR/..data -> ..2026_12_07_14_51_46.Ab12Cd   swapped with one rename
 *   DIR/10-ops.csv -> ..data/10-ops.csv        one link per file (model.conf too)
 *   DIR/..sync.lock                            held by the one `policy sync` of DIR
 *
 * A document is staged, loaded back with the authz loader and checked (its policy_version,
 * every rule against the model, --expect) before anything a service reads changes.
 * Thread-safety: none needed (one sync per directory, held by the lock).
 */
#ifndef TS_CLI_POLICY_INSTALL_H
#define TS_CLI_POLICY_INSTALL_H

#include <stdbool.h>
#include <stddef.h>

#include "policy_bundle_doc.h"

/** What ts_cli_install() did. */
typedef enum ts_cli_install_outcome {
    TS_CLI_INSTALL_DONE = 0,  /**< the document is the new policy of the directory */
    TS_CLI_INSTALL_UNCHANGED, /**< the directory already held that policy_version: nothing written
                               */
    TS_CLI_INSTALL_REFUSED,   /**< the document was refused; the directory is as it was */
    TS_CLI_INSTALL_FAILED     /**< a local error (disk, memory); the directory is as it was */
} ts_cli_install_outcome;

/**
 * Take the directory's sync lock (flock on DIR/..sync.lock, without waiting).
 * @return the lock's descriptor (keep it open while syncing), or -1 with @p err set: TS_EINVAL
 * "another policy sync holds DIR", or TS_EIO.
 */
int ts_cli_install_lock(const char *dir, ts_error *err);

/**
 * The policy_version of what is installed in @p dir (its files, with DIR/model.conf as the
 * model when present), written into @p version; "" when nothing is installed (no DIR/..data)
 * or it does not load.
 */
void ts_cli_install_current(const char *dir, char version[TS_AUTHZ_POLICY_VERSION_LEN + 1]);

/**
 * Stage, verify and install @p doc in @p dir (which must exist). @p current is the version
 * installed now ("" for none): a verified document of that version writes nothing. @p expect,
 * when not NULL, is the only policy_version accepted.
 * @return the outcome; for TS_CLI_INSTALL_REFUSED and TS_CLI_INSTALL_FAILED, @p err says why (a bad
 * rule as file:line, the version mismatch, the entry in the way).
 */
ts_cli_install_outcome ts_cli_install(const char *dir, const ts_cli_bundle_doc *doc,
                                      const char *current, const char *expect, ts_error *err);

/**
 * Load the files of @p doc as the services would, from a fresh temporary directory under
 * @p tmp_parent (removed again), and check its policy_version and rules: what `policy bundle`
 * does before it publishes. @return TS_OK or the refusal in @p err.
 */
TS_NODISCARD ts_status ts_cli_install_check(const char *tmp_parent, const ts_cli_bundle_doc *doc,
                                            ts_error *err);

#endif
