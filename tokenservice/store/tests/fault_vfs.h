/* A SQLite VFS for tests that forwards to the platform's default VFS and can make writes to
 * WAL files fail with "disk full", the way a full disk or a failing device shows up at COMMIT,
 * and counts fsyncs.
 * Header-only; include it in one test executable and call fault_vfs_install() before opening
 * any store. */
#ifndef STORE_FAULT_VFS_H
#define STORE_FAULT_VFS_H

#include <sqlite3.h>
#include <stdatomic.h>
#include <string.h>

/* WAL writes still allowed before they start failing; negative: never fail. */
static atomic_int fault_wal_writes_left = -1;
/* WAL writes refused so far. */
static atomic_int fault_wal_writes_failed = 0;
/* fsyncs of any file (database, WAL) so far: what a durable commit costs. */
static atomic_int fault_syncs = 0;

typedef struct fault_file {
    sqlite3_file base;
    sqlite3_file *real; /* the wrapped file, stored right after this struct */
    int is_wal;
} fault_file;

static sqlite3_vfs *fault_real_vfs;

#define FAULT_REAL(f) (((fault_file *)(f))->real)

static int fault_close(sqlite3_file *f)
{
    return FAULT_REAL(f)->pMethods->xClose(FAULT_REAL(f));
}
static int fault_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
    return FAULT_REAL(f)->pMethods->xRead(FAULT_REAL(f), buf, n, off);
}
static int fault_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
    if (((fault_file *)f)->is_wal) {
        int left = atomic_load(&fault_wal_writes_left);
        while (left >= 0) {
            if (left == 0) {
                atomic_fetch_add(&fault_wal_writes_failed, 1);
                return SQLITE_FULL;
            }
            if (atomic_compare_exchange_weak(&fault_wal_writes_left, &left, left - 1))
                break;
        }
    }
    return FAULT_REAL(f)->pMethods->xWrite(FAULT_REAL(f), buf, n, off);
}
static int fault_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return FAULT_REAL(f)->pMethods->xTruncate(FAULT_REAL(f), size);
}
static int fault_sync(sqlite3_file *f, int flags)
{
    atomic_fetch_add(&fault_syncs, 1);
    return FAULT_REAL(f)->pMethods->xSync(FAULT_REAL(f), flags);
}
static int fault_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return FAULT_REAL(f)->pMethods->xFileSize(FAULT_REAL(f), size);
}
static int fault_lock(sqlite3_file *f, int lock)
{
    return FAULT_REAL(f)->pMethods->xLock(FAULT_REAL(f), lock);
}
static int fault_unlock(sqlite3_file *f, int lock)
{
    return FAULT_REAL(f)->pMethods->xUnlock(FAULT_REAL(f), lock);
}
static int fault_reserved(sqlite3_file *f, int *out)
{
    return FAULT_REAL(f)->pMethods->xCheckReservedLock(FAULT_REAL(f), out);
}
static int fault_fcntl(sqlite3_file *f, int op, void *arg)
{
    return FAULT_REAL(f)->pMethods->xFileControl(FAULT_REAL(f), op, arg);
}
static int fault_sector(sqlite3_file *f)
{
    return FAULT_REAL(f)->pMethods->xSectorSize(FAULT_REAL(f));
}
static int fault_devchar(sqlite3_file *f)
{
    return FAULT_REAL(f)->pMethods->xDeviceCharacteristics(FAULT_REAL(f));
}
static int fault_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    return FAULT_REAL(f)->pMethods->xShmMap(FAULT_REAL(f), pg, pgsz, extend, pp);
}
static int fault_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return FAULT_REAL(f)->pMethods->xShmLock(FAULT_REAL(f), off, n, flags);
}
static void fault_shm_barrier(sqlite3_file *f)
{
    FAULT_REAL(f)->pMethods->xShmBarrier(FAULT_REAL(f));
}
static int fault_shm_unmap(sqlite3_file *f, int del)
{
    return FAULT_REAL(f)->pMethods->xShmUnmap(FAULT_REAL(f), del);
}

/* Version 2 methods: memory-mapped I/O (version 3) is not offered, so SQLite reads through
 * xRead and never bypasses the wrapper. */
static const sqlite3_io_methods fault_methods = {2,
                                                 fault_close,
                                                 fault_read,
                                                 fault_write,
                                                 fault_truncate,
                                                 fault_sync,
                                                 fault_size,
                                                 fault_lock,
                                                 fault_unlock,
                                                 fault_reserved,
                                                 fault_fcntl,
                                                 fault_sector,
                                                 fault_devchar,
                                                 fault_shm_map,
                                                 fault_shm_lock,
                                                 fault_shm_barrier,
                                                 fault_shm_unmap,
                                                 NULL,
                                                 NULL};

static int fault_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                      int *out_flags)
{
    (void)vfs;
    fault_file *f = (fault_file *)file;
    f->real = (sqlite3_file *)(f + 1);
    f->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
    int rc = fault_real_vfs->xOpen(fault_real_vfs, name, f->real, flags, out_flags);
    /* SQLite calls xClose only when pMethods is set, so leave it NULL when the open failed. */
    f->base.pMethods = f->real->pMethods ? &fault_methods : NULL;
    return rc;
}
static int fault_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    (void)vfs;
    return fault_real_vfs->xDelete(fault_real_vfs, name, sync_dir);
}
static int fault_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return fault_real_vfs->xAccess(fault_real_vfs, name, flags, out);
}
static int fault_fullpath(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    return fault_real_vfs->xFullPathname(fault_real_vfs, name, n, out);
}
static int fault_random(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return fault_real_vfs->xRandomness(fault_real_vfs, n, out);
}
static int fault_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return fault_real_vfs->xSleep(fault_real_vfs, us);
}
static int fault_time(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    return fault_real_vfs->xCurrentTime(fault_real_vfs, out);
}
static int fault_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return fault_real_vfs->xGetLastError(fault_real_vfs, n, out);
}
static int fault_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    return fault_real_vfs->xCurrentTimeInt64(fault_real_vfs, out);
}

static sqlite3_vfs fault_vfs;

/* Make the fault VFS SQLite's default for the rest of the process. @return SQLITE_OK. */
static inline int fault_vfs_install(void)
{
    fault_real_vfs = sqlite3_vfs_find(NULL);
    if (!fault_real_vfs)
        return SQLITE_ERROR;
    memset(&fault_vfs, 0, sizeof fault_vfs);
    fault_vfs.iVersion = 2;
    fault_vfs.szOsFile = (int)sizeof(fault_file) + fault_real_vfs->szOsFile;
    fault_vfs.mxPathname = fault_real_vfs->mxPathname;
    fault_vfs.zName = "ts-fault";
    fault_vfs.xOpen = fault_open;
    fault_vfs.xDelete = fault_delete;
    fault_vfs.xAccess = fault_access;
    fault_vfs.xFullPathname = fault_fullpath;
    fault_vfs.xRandomness = fault_random;
    fault_vfs.xSleep = fault_sleep;
    fault_vfs.xCurrentTime = fault_time;
    fault_vfs.xGetLastError = fault_last_error;
    fault_vfs.xCurrentTimeInt64 = fault_time64;
    return sqlite3_vfs_register(&fault_vfs, 1);
}

#endif
