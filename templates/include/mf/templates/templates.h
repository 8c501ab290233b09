// The kernel template sources, embedded at build time (templates/embed.cmake).
#pragma once

#include <string_view>
#include <vector>

namespace mf::templates {

struct TemplateFile {
  std::string_view path;  // relative to templates/, e.g. "cuda/tile.cuh"
  std::string_view text;
};

// Every template file, in dependency order (each file needs only those before it).
const std::vector<TemplateFile>& sources();

}  // namespace mf::templates
