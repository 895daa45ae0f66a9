/*
 * The policy bundle document of `tokensmith policy bundle` and `tokensmith policy sync`: the
 * fragment files of a policy directory, byte for byte, and the policy_version they give, as one
 * JSON document that any static HTTP server can publish (docs/cli.md):
 *
 *   {"format": "tokensmith-policy-bundle/1", "policy_version": "<64 hex>",
 *    "model": "<model.conf text>" (optional),
 *    "files": [{"name": "10-ops.csv", "text": "..."}, ...]}
 *
 * The parser takes untrusted bytes from the network: it is bounded (document, file count, each
 * text, the model), refuses every name that is not a plain fragment name, duplicate names and
 * keys and NUL bytes, and does no I/O (fuzz/fuzz_policy_bundle.c calls it directly). Errors
 * name the member ("files[3].name: ..."), with ts_error.where "bundle".
 * Ownership: a ts_cli_bundle_doc is caller storage; ts_cli_bundle_doc_cleanup() frees what the
 * functions put in it. Thread-safety: no shared state.
 */
#ifndef TS_CLI_POLICY_BUNDLE_DOC_H
#define TS_CLI_POLICY_BUNDLE_DOC_H

#include <stdbool.h>
#include <stddef.h>

#include <tokensmith/authz_http.h>
#include <tokensmith/error.h>

#define TS_CLI_BUNDLE_FORMAT "tokensmith-policy-bundle/1"
/* The loader's own limits, so that a document holds nothing a policy directory could not. */
#define TS_CLI_BUNDLE_MAX_FILES TS_AUTHZ_MAX_FRAGMENTS
#define TS_CLI_BUNDLE_MAX_TEXT TS_AUTHZ_MAX_FRAGMENT_BYTES
#define TS_CLI_BUNDLE_MAX_MODEL (1u << 20)
/* Default bound on a whole document (--max-bytes). */
#define TS_CLI_BUNDLE_MAX_DOC (32u << 20)
/* The longest fragment name: 128 characters before ".csv". */
#define TS_CLI_BUNDLE_MAX_NAME 132u

typedef struct ts_cli_bundle_file {
    char *name; /**< a fragment name (ts_cli_bundle_name_ok()) */
    char *text; /**< the file's bytes, NUL-terminated for convenience */
    size_t len; /**< bytes of text without that NUL */
} ts_cli_bundle_file;

typedef struct ts_cli_bundle_doc {
    char policy_version[TS_AUTHZ_POLICY_VERSION_LEN + 1];
    char *model; /**< model.conf text, or NULL when the document has none */
    size_t model_len;
    ts_cli_bundle_file *files;
    size_t n_files;
} ts_cli_bundle_doc;

/** An empty document (no files, no model, no version). */
void ts_cli_bundle_doc_init(ts_cli_bundle_doc *d);
/** Free what @p d holds and make it empty again. NULL-safe. */
void ts_cli_bundle_doc_cleanup(ts_cli_bundle_doc *d);

/** Whether @p name (of @p len bytes) is a fragment name: [A-Za-z0-9][A-Za-z0-9._-]{0,127}.csv. */
bool ts_cli_bundle_name_ok(const char *name, size_t len);

/** Whether @p s (of @p n bytes) is a policy_version: 64 lowercase hex characters. */
bool ts_cli_bundle_version_ok(const char *s, size_t n);

/**
 * Add the fragments of @p dir to @p d exactly as the authz loader picks them: `*.csv` entries
 * directly in @p dir, names starting with '.' skipped, directories skipped, symbolic links only
 * when they resolve inside @p dir, regular files only, in byte order of name, each at most
 * TS_CLI_BUNDLE_MAX_TEXT bytes kept as they are (a BOM too: the loader strips it, and so the
 * policy_version is the same). A file whose name is not a fragment name, or whose bytes are not
 * UTF-8 without NUL, cannot travel in a document and is an error naming it.
 * @return TS_OK; TS_EIO, TS_ELIMIT, TS_EINVAL, TS_ENOMEM with @p err naming the file.
 */
TS_NODISCARD ts_status ts_cli_bundle_doc_read_dir(ts_cli_bundle_doc *d, const char *dir,
                                                  ts_error *err);

/** The same for a single fragment file (`--policy FILE`): its base name names it. */
TS_NODISCARD ts_status ts_cli_bundle_doc_read_file(ts_cli_bundle_doc *d, const char *path,
                                                   ts_error *err);

/** Set the document's model from the file @p path (at most TS_CLI_BUNDLE_MAX_MODEL bytes). */
TS_NODISCARD ts_status ts_cli_bundle_doc_read_model(ts_cli_bundle_doc *d, const char *path,
                                                    ts_error *err);

/**
 * The document as JSON text, members in the order above, ending with a newline.
 * @param out heap text (free with free()); @param len its length.
 * @return TS_OK; TS_EINVAL when a text is not UTF-8; TS_ENOMEM.
 */
TS_NODISCARD ts_status ts_cli_bundle_doc_dump(const ts_cli_bundle_doc *d, char **out, size_t *len,
                                              ts_error *err);

/**
 * Parse and check a document of @p len bytes (not NUL-terminated) into @p out (initialised by
 * the call; cleaned up on error). @p max_bytes bounds the document (0: TS_CLI_BUNDLE_MAX_DOC).
 * Unknown top-level members and unknown members of a file entry are ignored, so that a newer
 * publisher can add some; `format` must be exactly TS_CLI_BUNDLE_FORMAT.
 * @return TS_OK; TS_ELIMIT (a bound), TS_EPARSE (not JSON, a duplicate key), TS_ETYPE (a member
 * of the wrong type), TS_EINVAL (a bad value), TS_ENOMEM; where "bundle", the message naming
 * the member.
 */
TS_NODISCARD ts_status ts_cli_bundle_doc_parse(const char *text, size_t len, size_t max_bytes,
                                               ts_cli_bundle_doc *out, ts_error *err);

#endif
