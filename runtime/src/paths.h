// Default locations of the kernel cache and the tuning database.
#pragma once

#include <string>

namespace mf::runtime {

// $MFJIT_CACHE_DIR, else $XDG_CACHE_HOME/mfjit, else $HOME/.cache/mfjit, else
// /tmp/mfjit-cache. Nothing is created here.
std::string default_cache_dir();
// $MFJIT_DB, else <cache_dir>/tuning.db.
std::string default_db_path(const std::string& cache_dir);

}  // namespace mf::runtime
