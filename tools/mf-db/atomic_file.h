// Writing a whole file or none of it (mf-db report's page).
#pragma once

#include <string>

namespace mf::tools {

// Writes `text` to `path` through a temporary file beside it (same folder, so the rename
// never crosses file systems), synced, then renamed over `path`: a reader, a crash or a
// failed write sees the old file or the new one whole, never part of a page, and a failure
// leaves an existing file as it was. The new file keeps an existing file's permissions,
// else gets 0666 less the umask, as any new file. Throws std::runtime_error "cannot write
// <path>: <what failed>: <the system's reason>"; the temporary file is removed.
void write_file_atomically(const std::string& path, const std::string& text);

}  // namespace mf::tools
