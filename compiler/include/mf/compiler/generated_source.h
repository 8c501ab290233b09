// One translation unit a template generator writes: what the runtime compiles (NVRTC,
// hipRTC) and caches, mf-compile prints and the golden tests compare.
#pragma once

#include <string>
#include <vector>

namespace mf::compiler {

// One module (translation unit) of generated kernels.
struct GeneratedSource {
  std::string name;           // a name for logs: "evo_attention_forward_bf16_d32"
  std::string instantiation;  // what the generator writes: configuration and entry points
  std::string text;           // the translation unit: templates + instantiation
  std::vector<std::string> entries;  // the extern "C" kernels it defines
};

}  // namespace mf::compiler
