// mf-hiprtc-worker: compiles one translation unit with hipRTC for the library
// (compiler/src/hiprtc.cpp), in a process of its own. The library starts it with
// posix_spawn, its stdin and stdout one end of a socket; it reads a Request until the
// library shuts down its side, and answers one Outcome (hiprtc_wire.h).
//
// Why a program and not a fork of the caller: a child forked from a process with other
// threads may only call async-signal-safe functions, and hipRTC allocates, takes locks and
// loads libraries; a lock another thread held at the fork (the allocator's, the loader's)
// stays held in the child for ever. A fresh process also holds no LLVM but hipRTC's own,
// so mfjit's LLVM (the MLIR generator's) cannot capture comgr's symbols, and a crash on an
// arch hipRTC does not know (HIP 5.2 aborts on gfx940+) kills only this process.
#include <dlfcn.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "hiprtc_api.h"
#include "hiprtc_wire.h"
#include "socket_io.h"

namespace {

using mf::compiler::hiprtc::Outcome;

Outcome compile(const mf::compiler::hiprtc::Request& request) {
  Outcome outcome;
  void* library = dlopen(request.library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    const char* error = dlerror();
    outcome.failure = fmt::format("the worker cannot load {}: {}", request.library, error != nullptr ? error : "?");
    return outcome;
  }
  mf::compiler::hiprtc::Api api;
  if (!mf::compiler::hiprtc::resolve(library, request.library, api, outcome.failure)) return outcome;
  return mf::compiler::hiprtc::compile(api, request);
}

}  // namespace

int main() {
  std::string message;
  if (!mf::compiler::read_to_end(STDIN_FILENO, message)) {
    std::perror("mf-hiprtc-worker: reading the request");
    return 2;
  }
  const auto request = mf::compiler::hiprtc::decode_request(message);
  if (!request) {
    std::fprintf(stderr, "mf-hiprtc-worker: the request (%zu bytes) does not decode; the library starts this program\n",
                 message.size());
    return 2;
  }
  const bool sent = mf::compiler::send_all(STDOUT_FILENO, mf::compiler::hiprtc::encode(compile(*request)));
  // No exit-time work: comgr's and LLVM's destructors, or a sanitizer's exit-time checks,
  // have nothing to add to an answer already sent (and the library reads the answer, not
  // the status).
  std::_Exit(sent ? 0 : 3);
}
