#include "cuda_source.h"

#include <fmt/format.h>

#include <algorithm>

#include "mf/ir/error.h"

namespace mf::compiler {

int round_up(std::int64_t value, std::int64_t multiple) {
  return static_cast<int>((value + multiple - 1) / multiple * multiple);
}

const char* element_type(ir::DType dtype) {
  switch (dtype) {
    case ir::DType::kBF16: return "mf::bf16";
    case ir::DType::kF16: return "mf::f16";
    case ir::DType::kF32: return "float";
    case ir::DType::kBool: return "mf::u8";
    case ir::DType::kF64: break;
  }
  ir::fail(ir::ErrorKind::kUnsupported, "the template generator has no kernels for f64 tensors");
}

int element_bytes(ir::DType dtype) { return static_cast<int>(ir::size_of(dtype)); }

int register_cap(int threads, int min_blocks) { return std::min(255, 65536 / (threads * min_blocks)); }

GeneratedSource generated_module(std::string name, const ir::TileConfig& params, const std::string& code,
                                 const std::string& templates, std::vector<std::string> entries) {
  GeneratedSource module;
  module.instantiation = fmt::format("// {} [{}]\n", name, ir::to_string(params)) + code;
  module.text = templates + "// ---- generated ----\n" + module.instantiation;
  module.name = std::move(name);
  module.entries = std::move(entries);
  return module;
}

std::string entry(const char* name, const char* params_type, int threads, const char* body, int min_blocks) {
  return fmt::format(
      "extern \"C\" __global__ void __launch_bounds__({}, {}) {}(const __grid_constant__ {} p) {{\n"
      "  {}\n}}\n",
      threads, min_blocks, name, params_type, body);
}

std::string shared_bytes_assert(const char* layout, const char* config_name, int bytes) {
  return fmt::format("static_assert(mf::{}<{}>::kBytes == {}, \"the host's shared memory\");\n", layout, config_name,
                     bytes);
}

}  // namespace mf::compiler
