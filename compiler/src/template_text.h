// The embedded template files a generator's translation units start with, concatenated
// in dependency order (templates::sources()), so that each generator's source hash and
// binaries depend on its own templates only.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

namespace mf::compiler {

// Throws std::logic_error naming a file that is not embedded (a build mistake).
std::string template_text(std::initializer_list<std::string_view> files);

}  // namespace mf::compiler
