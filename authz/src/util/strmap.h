/* Open-addressing hash map from byte strings to uint32 values. Keys are not copied: the
 * caller keeps them alive (normally in an arena) for the map's lifetime. Read-only use from
 * many threads is safe; insertion is not.
 *
 * Layout: a dense array of 32-bit hashes (0 = empty) probed first, and a parallel array of
 * (key, length, value). A probe walks 16 hashes per cache line and touches a key only when the
 * hashes agree; growing rehashes from the stored hashes without reading any key. 20 bytes a
 * slot: a million role names take 40 MiB instead of 48. */
#ifndef TS_AUTHZ_UTIL_STRMAP_H
#define TS_AUTHZ_UTIL_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ts_strmap_slot {
    const char *key;
    uint32_t len;
    uint32_t value;
} ts_strmap_slot;

typedef struct ts_strmap {
    uint32_t *hashes;      /* cap entries; 0 marks an empty slot */
    ts_strmap_slot *slots; /* cap entries, parallel to hashes */
    size_t cap;            /* power of two, or 0 */
    size_t count;
} ts_strmap;

void ts_authz__strmap_init(ts_strmap *m);
void ts_authz__strmap_cleanup(ts_strmap *m);
/** Look up @p key. @return true and *value when present. */
bool ts_authz__strmap_get(const ts_strmap *m, const char *key, size_t len, uint32_t *value);
/**
 * Insert @p key with @p value unless present. @return 1 inserted, 0 already present (*existing
 * set when non-NULL), -1 out of memory.
 */
int ts_authz__strmap_put(ts_strmap *m, const char *key, size_t len, uint32_t value,
                         uint32_t *existing);

#endif
