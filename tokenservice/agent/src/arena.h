/*
 * The agent configuration's memory: one arena per configuration (and one for the YAML tree it
 * is read from), so that a configuration of a few hundred strings is freed in one call and a
 * parse that fails half-way leaves nothing behind. Everything is wiped when the arena is freed:
 * a configuration may hold a bootstrap token, a client secret or a static header value.
 * Private to the agent library.
 */
#ifndef TS_AGENT_ARENA_H
#define TS_AGENT_ARENA_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ts_agent__arena ts_agent__arena;

/** A new empty arena, or NULL when out of memory. */
ts_agent__arena *ts_agent__arena_new(void);
/** Wipe and free every block, then the arena. NULL-safe. */
void ts_agent__arena_free(ts_agent__arena *a);
/** @p n zeroed bytes aligned for any type, valid until the arena is freed; NULL when out of
 *  memory or @p n overflows. */
void *ts_agent__arena_alloc(ts_agent__arena *a, size_t n);
/** @p n elements of @p size bytes (zeroed); NULL on overflow or out of memory. */
void *ts_agent__arena_array(ts_agent__arena *a, size_t n, size_t size);
/** A NUL-terminated copy of @p n bytes at @p s; NULL when out of memory. */
char *ts_agent__arena_strndup(ts_agent__arena *a, const char *s, size_t n);
/** Call @p fn(@p p) when the arena is freed, before its memory is wiped (for objects the
 *  arena's memory points to but does not hold, such as parsed templates); later registrations
 *  run first. @return false when out of memory (then @p fn has not been registered). */
bool ts_agent__arena_on_free(ts_agent__arena *a, void (*fn)(void *), void *p);
/** The bytes allocated so far (blocks included), for the tests of the bounds. */
size_t ts_agent__arena_size(const ts_agent__arena *a);

#endif
