#include "mf/compiler/compile_error.h"

namespace mf::compiler {

CompileError::~CompileError() = default;

}  // namespace mf::compiler
