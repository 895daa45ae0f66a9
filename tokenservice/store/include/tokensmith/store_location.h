/**
 * @file store_location.h
 * @brief Where a store lives: whether a location (ts_store_options.path) selects the
 *        PostgreSQL backend or a SQLite file, and how to show it in a message or a log
 *        without its password. These need no ::ts_store, so a program can check or print a
 *        configured location before it opens anything; store.h includes this header.
 *
 * Thread-safety: no shared state; any thread.
 * @since 0.2.0
 */
#ifndef TOKENSMITH_STORE_LOCATION_H
#define TOKENSMITH_STORE_LOCATION_H

#include <stdbool.h>
#include <stddef.h>

#include <tokensmith/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @return true when @p path selects the PostgreSQL backend (a libpq URI or key=value
 *  connection string, see ts_store_options.path). @since 0.2.0 */
TS_API bool ts_store_path_is_postgres(const char *path);

/**
 * Write @p path into @p out (@p cap bytes, always terminated when cap > 0) with any password
 * of a PostgreSQL connection string replaced by `***`; a SQLite path is copied as it is. Use
 * it wherever a store location is printed or logged.
 * @return the length of the whole redacted text (>= cap: it was cut).
 * @since 0.2.0
 */
TS_API size_t ts_store_path_redact(const char *path, char *out, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
