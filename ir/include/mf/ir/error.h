// The exception that IR validation throws; the C API turns it into a status code.
#pragma once

#include <stdexcept>
#include <string>

namespace mf::ir {

enum class ErrorKind {
  kInvalidArgument,  // a value outside its allowed set (scale, eps, enum, rank)
  kShapeMismatch,    // shapes disagree or a tensor is not broadcastable
  kUnsupported,      // dtype, head dim or combination the IR does not support
  kOverflow,         // element count or offset that does not fit the index type
  kMisaligned,       // a stride or pointer breaks a required alignment
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  // Out of line (error.cpp), so that the vtable and type info are emitted once, with RTTI:
  // the MLIR generator's files are built without RTTI and throw this type too.
  ~Error() override;
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

[[noreturn]] inline void fail(ErrorKind kind, const std::string& message) { throw Error(kind, message); }

}  // namespace mf::ir
