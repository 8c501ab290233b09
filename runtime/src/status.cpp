#include "status.h"

#include <new>
#include <string_view>

#include "mf/compiler/compile_error.h"
#include "mf/ir/error.h"

namespace mf::runtime {
namespace {

thread_local std::string t_last_error;

mf_status status_of(ir::ErrorKind kind) {
  switch (kind) {
    case ir::ErrorKind::kInvalidArgument: return MF_ERROR_INVALID_ARGUMENT;
    case ir::ErrorKind::kShapeMismatch: return MF_ERROR_SHAPE_MISMATCH;
    case ir::ErrorKind::kUnsupported: return MF_ERROR_UNSUPPORTED;
    case ir::ErrorKind::kOverflow: return MF_ERROR_OVERFLOW;
    case ir::ErrorKind::kMisaligned: return MF_ERROR_MISALIGNED;
  }
  return MF_ERROR_INTERNAL;
}

// Never throws: runs inside catch handlers of noexcept functions.
mf_status record(mf_status status, std::string_view prefix, std::string_view message) noexcept {
  try {
    t_last_error.assign(prefix);
    t_last_error.append(message);
  } catch (...) {
    t_last_error.clear();  // out of memory while reporting: the status still tells
  }
  return status;
}

}  // namespace

void fail(mf_status status, const std::string& message) { throw Error(status, message); }

mf_status set_last_error(mf_status status, std::string_view message) noexcept { return record(status, "", message); }

void clear_last_error() { t_last_error.clear(); }

const char* last_error() { return t_last_error.c_str(); }

mf_status status_from_current_exception() {
  try {
    throw;
  } catch (const Error& error) {
    return set_last_error(error.status(), error.what());
  } catch (const ir::Error& error) {
    return set_last_error(status_of(error.kind()), error.what());
  } catch (const compiler::CompileError& error) {
    const bool missing = error.kind() == compiler::CompileError::Kind::kToolchainUnavailable;
    return set_last_error(missing ? MF_ERROR_BACKEND_UNAVAILABLE : MF_ERROR_COMPILE, error.what());
  } catch (const std::bad_alloc&) {
    return set_last_error(MF_ERROR_OUT_OF_MEMORY, "out of host memory");
  } catch (const std::exception& error) {
    return record(MF_ERROR_INTERNAL, "internal error: ", error.what());
  } catch (...) {
    return set_last_error(MF_ERROR_INTERNAL, "internal error: unknown exception");
  }
}

}  // namespace mf::runtime
