// An SQLite VFS over the default one that counts every write point of every file SQLite
// writes — the database, its WAL and journals: xWrite, xTruncate, xSync, and xDelete — and
// kills the process with SIGKILL at the Nth, before that write happens: a process killed
// at every possible moment of its writes, one run per moment (issue 27).
#pragma once

#include <cstdint>

namespace mf::reliability {

// Registers the VFS as SQLite's default, before any connection is opened. kill_at: the
// 1-based write point to die at; 0 never.
void install_faulty_vfs(std::int64_t kill_at);

// The write points seen so far.
std::int64_t write_points();

}  // namespace mf::reliability
