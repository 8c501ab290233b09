#include "faulty_vfs.h"

#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace mf::reliability {
namespace {

sqlite3_vfs* g_real = nullptr;  // the default VFS this one wraps
sqlite3_vfs g_faulty{};
sqlite3_io_methods g_methods[4]{};  // by the real file's methods' version (1 to 3)
std::atomic<std::int64_t> g_count{0};
std::int64_t g_kill_at = 0;

// One write point: dies before the kill_at-th happens.
void write_point() {
  const std::int64_t n = ++g_count;
  if (g_kill_at > 0 && n >= g_kill_at) {
    ::kill(::getpid(), SIGKILL);
    ::_exit(137);  // not reached
  }
}

// A file of this VFS: the real file's state follows it in the same allocation.
struct FaultyFile {
  sqlite3_file base;
  sqlite3_file* real;
};

sqlite3_file* real_of(sqlite3_file* file) { return reinterpret_cast<FaultyFile*>(file)->real; }
const sqlite3_io_methods& real_methods(sqlite3_file* file) { return *real_of(file)->pMethods; }

int faulty_close(sqlite3_file* file) { return real_methods(file).xClose(real_of(file)); }
int faulty_read(sqlite3_file* file, void* buffer, int amount, sqlite3_int64 offset) {
  return real_methods(file).xRead(real_of(file), buffer, amount, offset);
}
int faulty_write(sqlite3_file* file, const void* buffer, int amount, sqlite3_int64 offset) {
  write_point();
  return real_methods(file).xWrite(real_of(file), buffer, amount, offset);
}
int faulty_truncate(sqlite3_file* file, sqlite3_int64 size) {
  write_point();
  return real_methods(file).xTruncate(real_of(file), size);
}
int faulty_sync(sqlite3_file* file, int flags) {
  write_point();
  return real_methods(file).xSync(real_of(file), flags);
}
int faulty_file_size(sqlite3_file* file, sqlite3_int64* size) {
  return real_methods(file).xFileSize(real_of(file), size);
}
int faulty_lock(sqlite3_file* file, int level) { return real_methods(file).xLock(real_of(file), level); }
int faulty_unlock(sqlite3_file* file, int level) { return real_methods(file).xUnlock(real_of(file), level); }
int faulty_check_reserved_lock(sqlite3_file* file, int* out) {
  return real_methods(file).xCheckReservedLock(real_of(file), out);
}
int faulty_file_control(sqlite3_file* file, int op, void* argument) {
  return real_methods(file).xFileControl(real_of(file), op, argument);
}
int faulty_sector_size(sqlite3_file* file) { return real_methods(file).xSectorSize(real_of(file)); }
int faulty_device_characteristics(sqlite3_file* file) {
  return real_methods(file).xDeviceCharacteristics(real_of(file));
}
int faulty_shm_map(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  return real_methods(file).xShmMap(real_of(file), region, size, extend, out);
}
int faulty_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
  return real_methods(file).xShmLock(real_of(file), offset, n, flags);
}
void faulty_shm_barrier(sqlite3_file* file) { real_methods(file).xShmBarrier(real_of(file)); }
int faulty_shm_unmap(sqlite3_file* file, int delete_flag) {
  return real_methods(file).xShmUnmap(real_of(file), delete_flag);
}
int faulty_fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  return real_methods(file).xFetch(real_of(file), offset, amount, out);
}
int faulty_unfetch(sqlite3_file* file, sqlite3_int64 offset, void* pointer) {
  return real_methods(file).xUnfetch(real_of(file), offset, pointer);
}

int faulty_open(sqlite3_vfs*, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  auto* faulty = reinterpret_cast<FaultyFile*>(file);
  faulty->real = reinterpret_cast<sqlite3_file*>(faulty + 1);
  faulty->real->pMethods = nullptr;
  const int code = g_real->xOpen(g_real, name, faulty->real, flags, out_flags);
  // SQLite calls xClose exactly when pMethods is set, even after a failed open.
  const sqlite3_io_methods* real = faulty->real->pMethods;
  file->pMethods = real != nullptr ? &g_methods[real->iVersion >= 3 ? 3 : real->iVersion <= 1 ? 1 : 2] : nullptr;
  return code;
}
int faulty_delete(sqlite3_vfs*, const char* name, int sync_dir) {
  write_point();
  return g_real->xDelete(g_real, name, sync_dir);
}
int faulty_access(sqlite3_vfs*, const char* name, int flags, int* out) { return g_real->xAccess(g_real, name, flags, out); }
int faulty_full_pathname(sqlite3_vfs*, const char* name, int size, char* out) {
  return g_real->xFullPathname(g_real, name, size, out);
}
void* faulty_dl_open(sqlite3_vfs*, const char* name) { return g_real->xDlOpen(g_real, name); }
void faulty_dl_error(sqlite3_vfs*, int size, char* out) { g_real->xDlError(g_real, size, out); }
void (*faulty_dl_sym(sqlite3_vfs*, void* library, const char* symbol))(void) {
  return g_real->xDlSym(g_real, library, symbol);
}
void faulty_dl_close(sqlite3_vfs*, void* library) { g_real->xDlClose(g_real, library); }
int faulty_randomness(sqlite3_vfs*, int size, char* out) { return g_real->xRandomness(g_real, size, out); }
int faulty_sleep(sqlite3_vfs*, int microseconds) { return g_real->xSleep(g_real, microseconds); }
int faulty_current_time(sqlite3_vfs*, double* out) { return g_real->xCurrentTime(g_real, out); }
int faulty_get_last_error(sqlite3_vfs*, int size, char* out) { return g_real->xGetLastError(g_real, size, out); }
int faulty_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) { return g_real->xCurrentTimeInt64(g_real, out); }

}  // namespace

void install_faulty_vfs(std::int64_t kill_at) {
  g_kill_at = kill_at;
  if (sqlite3_initialize() != SQLITE_OK || (g_real = sqlite3_vfs_find(nullptr)) == nullptr) {
    std::fprintf(stderr, "faulty VFS: SQLite has no default VFS\n");
    std::abort();
  }
  g_faulty.iVersion = 2;  // xCurrentTimeInt64; no system-call overrides
  g_faulty.szOsFile = static_cast<int>(sizeof(FaultyFile)) + g_real->szOsFile;
  g_faulty.mxPathname = g_real->mxPathname;
  g_faulty.zName = "mf_faulty";
  g_faulty.xOpen = faulty_open;
  g_faulty.xDelete = faulty_delete;
  g_faulty.xAccess = faulty_access;
  g_faulty.xFullPathname = faulty_full_pathname;
  g_faulty.xDlOpen = faulty_dl_open;
  g_faulty.xDlError = faulty_dl_error;
  g_faulty.xDlSym = faulty_dl_sym;
  g_faulty.xDlClose = faulty_dl_close;
  g_faulty.xRandomness = faulty_randomness;
  g_faulty.xSleep = faulty_sleep;
  g_faulty.xCurrentTime = faulty_current_time;
  g_faulty.xGetLastError = faulty_get_last_error;
  g_faulty.xCurrentTimeInt64 = g_real->iVersion >= 2 && g_real->xCurrentTimeInt64 != nullptr ? faulty_current_time_int64
                                                                                             : nullptr;

  // Each real file's methods are wrapped by methods of the same version: version 2 adds
  // WAL's shared memory, version 3 memory-mapped reads.
  for (int version = 1; version <= 3; ++version) {
    sqlite3_io_methods& m = g_methods[version];
    m.iVersion = version;
    m.xClose = faulty_close;
    m.xRead = faulty_read;
    m.xWrite = faulty_write;
    m.xTruncate = faulty_truncate;
    m.xSync = faulty_sync;
    m.xFileSize = faulty_file_size;
    m.xLock = faulty_lock;
    m.xUnlock = faulty_unlock;
    m.xCheckReservedLock = faulty_check_reserved_lock;
    m.xFileControl = faulty_file_control;
    m.xSectorSize = faulty_sector_size;
    m.xDeviceCharacteristics = faulty_device_characteristics;
    if (version >= 2) {
      m.xShmMap = faulty_shm_map;
      m.xShmLock = faulty_shm_lock;
      m.xShmBarrier = faulty_shm_barrier;
      m.xShmUnmap = faulty_shm_unmap;
    }
    if (version >= 3) {
      m.xFetch = faulty_fetch;
      m.xUnfetch = faulty_unfetch;
    }
  }

  if (sqlite3_vfs_register(&g_faulty, 1) != SQLITE_OK) {
    std::fprintf(stderr, "faulty VFS: cannot register\n");
    std::abort();
  }
}

std::int64_t write_points() { return g_count.load(); }

}  // namespace mf::reliability
