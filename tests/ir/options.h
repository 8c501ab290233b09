// Layout options with some fields changed: with<EvoLayoutOptions>([](auto& o) { ... }).
// (Designated initializers such as {.mask_kind = ...} trip GCC's
// -Wmissing-field-initializers, because the std::optional members of the option structs
// have no default member initializer.)
#pragma once

#include <functional>

namespace mf::ir::testing {

template <class Options>
Options with(const std::function<void(Options&)>& edit) {
  Options options;
  edit(options);
  return options;
}

}  // namespace mf::ir::testing
