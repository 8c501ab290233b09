// What the host and GPU lowerings share: the passes that take a stage module's loops and
// strided memrefs down to control flow and plain pointer arithmetic, and running a pass
// manager with MLIR's diagnostics in the error.
#pragma once

#include <string>

#include <mlir/IR/BuiltinOps.h>
#include <mlir/Pass/PassManager.h>

namespace mf::compiler::mlir_generator {

// canonicalize, LICM, arith-expand (bf16 conversions as integer operations, which every
// target has), SCF → CF, strided-metadata expansion, affine lowering.
void add_loop_lowering(mlir::OpPassManager& pm);

// Runs `pm` on `module`; a failure throws CompileError (kRejected): "<what> failed: " and
// MLIR's diagnostics.
void run_passes(mlir::PassManager& pm, mlir::ModuleOp module, const std::string& what);

}  // namespace mf::compiler::mlir_generator
