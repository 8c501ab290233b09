#include "template_text.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "mf/templates/templates.h"

namespace mf::compiler {

std::string template_text(std::initializer_list<std::string_view> files) {
  for (std::string_view file : files) {
    const auto& all = templates::sources();
    if (std::none_of(all.begin(), all.end(), [&](const auto& f) { return f.path == file; }))
      throw std::logic_error(fmt::format("template {} is not embedded (templates/CMakeLists.txt)", file));
  }
  std::string text;
  for (const auto& file : templates::sources()) {
    if (std::find(files.begin(), files.end(), file.path) == files.end()) continue;
    text += fmt::format("// ---- templates/{} ----\n", file.path);
    text += file.text;
    text += '\n';
  }
  return text;
}

}  // namespace mf::compiler
