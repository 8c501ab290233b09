// The pass pipeline that takes a host module (func, scf, arith, math, memref) to the LLVM
// dialect, ready for MLIR's ExecutionEngine.
#pragma once

#include <mlir/IR/BuiltinOps.h>

namespace mf::compiler::mlir_generator {

// Throws CompileError (kRejected) with MLIR's diagnostics when a pass fails.
void lower_to_llvm(mlir::ModuleOp module);

}  // namespace mf::compiler::mlir_generator
