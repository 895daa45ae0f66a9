/* PostgreSQL connection strings: telling one from a file path, and printing one without its
 * password. Private to tokensmith. */
#ifndef TS_COMMON_CONNINFO_H
#define TS_COMMON_CONNINFO_H

#include <stdbool.h>
#include <stddef.h>

/** True when @p s is a libpq connection string: a URI (`postgres://` or `postgresql://`, any
 *  case) or a `key=value` conninfo whose first keyword is one libpq knows (`host=`, `dbname=`,
 *  `user=`, `service=`, ...). False for NULL, "" and file paths, including a path that holds
 *  an '=' (`/var/lib/a=b.db`, `data=1.db`). */
bool ts_common__conninfo_is_postgres(const char *s);

/**
 * Copy @p in into @p out (@p cap bytes, always NUL-terminated when cap > 0, cut if needed) with
 * every password replaced by `***`: the password of a URI's userinfo (`user:***@host`), the
 * value of a `password` query parameter (`?password=***`, also when its name is
 * percent-encoded), and the value of a `password` key of a key=value conninfo (quoted or not).
 * Anything that is not a connection string is copied unchanged. When in doubt it hides more,
 * never less. NULL @p in gives "".
 * @return the length of the whole redacted string (as snprintf: >= cap means it was cut).
 */
size_t ts_common__conninfo_redact(const char *in, char *out, size_t cap);

#endif
