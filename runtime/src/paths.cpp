#include "paths.h"

#include <cstdlib>

namespace mf::runtime {
namespace {

const char* non_empty_env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

}  // namespace

std::string default_cache_dir() {
  if (const char* dir = non_empty_env("MFJIT_CACHE_DIR")) return dir;
  if (const char* xdg = non_empty_env("XDG_CACHE_HOME")) return std::string(xdg) + "/mfjit";
  if (const char* home = non_empty_env("HOME")) return std::string(home) + "/.cache/mfjit";
  return "/tmp/mfjit-cache";
}

std::string default_db_path(const std::string& cache_dir) {
  if (const char* db = non_empty_env("MFJIT_DB")) return db;
  return cache_dir + "/tuning.db";
}

}  // namespace mf::runtime
