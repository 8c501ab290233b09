// The cpu backend's generated code: problems the MLIR host generator serves run as
// compiled programs, split across the backend's threads stage by stage.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "backend.h"
#include "mf/reference/thread_pool.h"

namespace mf::runtime {

// Why generated code cannot run `problem` on the host (the MLIR generator is not built
// in, or does not serve it), or nullopt when it can.
std::optional<std::string> generated_unsupported(const ir::Problem& problem);
// The generator's version and its LLVM, for tuning identity; "none" without MLIR.
std::string generated_version();
std::unique_ptr<Executable> build_generated(const ir::Problem& problem, reference::ThreadPool& pool);

}  // namespace mf::runtime
