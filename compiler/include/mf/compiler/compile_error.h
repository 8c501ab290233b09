// The exception that toolchains throw; the runtime turns its kind into a status
// (kToolchainUnavailable: backend unavailable, kRejected: compile error).
#pragma once

#include <stdexcept>
#include <string>

namespace mf::compiler {

class CompileError : public std::runtime_error {
 public:
  enum class Kind {
    kToolchainUnavailable,  // the compiler library is missing or unusable on this machine
    kRejected,              // the compiler refused the source, the options or the target
    kCorruptBinary,         // the compiler's output is not a binary the device can load
  };

  CompileError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  // Out of line (compile_error.cpp), so that the vtable and type info are emitted once,
  // with RTTI: the MLIR generator's files are built without RTTI and throw this type too.
  ~CompileError() override;
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

}  // namespace mf::compiler
