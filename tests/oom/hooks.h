/* The failing allocator's controls, for the driver (driver.c). */
#ifndef TS_TEST_OOM_HOOKS_H
#define TS_TEST_OOM_HOOKS_H

#include <stdbool.h>
#include <stddef.h>

#include "oom.h"

/** Hook jansson, OpenSSL and SQLite; before any of them allocates. @return false on failure. */
bool oom_hooks_install(void);

/**
 * Start numbering allocations: the @p n th fails (0: none). With @p stack, the stack of the
 * failing allocation is printed. When @p kinds is not NULL, the kind of allocation i (1-based,
 * i <= @p cap) is written to kinds[i - 1].
 */
void oom_hooks_arm(unsigned long n, bool stack, unsigned char *kinds, size_t cap);
/** Stop numbering: every allocation succeeds. */
void oom_hooks_disarm(void);
/** Allocations numbered since the last oom_hooks_arm(). */
unsigned long oom_hooks_seen(void);
/** Of those, the allocations of kind @p k. */
unsigned long oom_hooks_kind_count(oom_kind k);
/** Remember every block the hooks hand out from now on (in a child; forgets the earlier ones). */
void oom_track_start(void);
void oom_track_add(const void *p);
void oom_track_remove(const void *p);
/** Blocks handed out and not freed since oom_track_start() (an upper bound of what leaked:
 *  a block freed where the hooks cannot see it stays counted). */
size_t oom_track_live(void);

/** Streams and directories opened through the hooks and not closed (fopen, opendir). */
size_t oom_hooks_open_handles(void);
void oom_hooks_forget_handles(void);

/** "libc", "jansson", ... */
const char *oom_kind_name(oom_kind k);

#endif
