#include "mf/compiler/nvjitlink.h"

#include <fmt/format.h>
#include <nvJitLink.h>

#include <cstdlib>
#include <cstring>
#include <string_view>

#include "dynamic_library.h"
#include "mf/compiler/compile_error.h"
#include "toolkit_error.h"

namespace mf::compiler {
namespace {

// nvJitLink.h maps each name to a versioned symbol through inline functions; the library
// exports the plain names as well, and those are what dlsym finds in every 13.x release.
using Create = nvJitLinkResult (*)(nvJitLinkHandle*, std::uint32_t, const char**);
using Destroy = nvJitLinkResult (*)(nvJitLinkHandle*);
using AddData = nvJitLinkResult (*)(nvJitLinkHandle, nvJitLinkInputType, const void*, std::size_t, const char*);
using Complete = nvJitLinkResult (*)(nvJitLinkHandle);
using GetSize = nvJitLinkResult (*)(nvJitLinkHandle, std::size_t*);
using GetBytes = nvJitLinkResult (*)(nvJitLinkHandle, void*);
using GetText = nvJitLinkResult (*)(nvJitLinkHandle, char*);

struct Functions {
  Create create = nullptr;
  Destroy destroy = nullptr;
  AddData add_data = nullptr;
  Complete complete = nullptr;
  GetSize cubin_size = nullptr, error_log_size = nullptr, info_log_size = nullptr;
  GetBytes cubin = nullptr;
  GetText error_log = nullptr, info_log = nullptr;
};

std::vector<std::string> candidate_paths() {
  const char* override_path = std::getenv("MFJIT_NVJITLINK");
  if (override_path != nullptr && *override_path != '\0') return {override_path};
  return {"libnvJitLink.so.13", "libnvJitLink.so", "/usr/local/cuda/lib64/libnvJitLink.so.13"};
}

bool resolve_all(void* library, const std::string& path, Functions& f, std::string& missing) {
  return resolve_symbol(library, path, "nvJitLinkCreate", f.create, missing) &&
         resolve_symbol(library, path, "nvJitLinkDestroy", f.destroy, missing) &&
         resolve_symbol(library, path, "nvJitLinkAddData", f.add_data, missing) &&
         resolve_symbol(library, path, "nvJitLinkComplete", f.complete, missing) &&
         resolve_symbol(library, path, "nvJitLinkGetLinkedCubinSize", f.cubin_size, missing) &&
         resolve_symbol(library, path, "nvJitLinkGetLinkedCubin", f.cubin, missing) &&
         resolve_symbol(library, path, "nvJitLinkGetErrorLogSize", f.error_log_size, missing) &&
         resolve_symbol(library, path, "nvJitLinkGetErrorLog", f.error_log, missing) &&
         resolve_symbol(library, path, "nvJitLinkGetInfoLogSize", f.info_log_size, missing) &&
         resolve_symbol(library, path, "nvJitLinkGetInfoLog", f.info_log, missing);
}

// Destroys the link on every path out of link_ptx(), exceptions included.
class Link {
 public:
  Link(const Functions& f, nvJitLinkHandle handle) : f_(f), handle_(handle) {}
  ~Link() { f_.destroy(&handle_); }
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;
  nvJitLinkHandle get() const { return handle_; }

 private:
  const Functions& f_;
  nvJitLinkHandle handle_;
};

std::string read_log(nvJitLinkHandle handle, GetSize size_of, GetText text_of) {
  std::size_t size = 0;
  if (size_of(handle, &size) != NVJITLINK_SUCCESS || size == 0) return {};
  std::string log(size, '\0');
  if (text_of(handle, log.data()) != NVJITLINK_SUCCESS) return {};
  while (!log.empty() && log.back() == '\0') log.pop_back();
  return log;
}

[[noreturn]] void reject(const std::string& what, const std::string& name, const std::string& arch,
                         const std::string& log) {
  throw_rejected("nvJitLink", what, name, arch, log);
}

}  // namespace

struct NvJitLink::Api : Functions {};

NvJitLink::NvJitLink() {
  auto [library, path] = open_first_library(candidate_paths(), unavailable_reason_);
  if (library == nullptr) return;
  unavailable_reason_.clear();
  auto api = std::make_unique<Api>();
  if (!resolve_all(library, path, *api, unavailable_reason_)) return;
  api_ = std::move(api);
}

NvJitLink::~NvJitLink() = default;

const NvJitLink& NvJitLink::instance() {
  static const NvJitLink link;
  return link;
}

CompiledBinary NvJitLink::link_ptx(const std::string& ptx, const std::string& name, const std::string& arch) const {
  if (!available())
    throw CompileError(CompileError::Kind::kToolchainUnavailable, "nvJitLink is not available: " + unavailable_reason_);
  const Functions& f = *api_;
  const std::string arch_option = "-arch=" + arch;
  const char* options[] = {arch_option.c_str(), "-verbose"};
  nvJitLinkHandle raw = nullptr;
  if (nvJitLinkResult result = f.create(&raw, 2, options); result != NVJITLINK_SUCCESS)
    reject(fmt::format("nvJitLinkCreate failed ({})", static_cast<int>(result)), name, arch, {});
  const Link link(f, raw);

  const bool added = f.add_data(link.get(), NVJITLINK_INPUT_PTX, ptx.data(), ptx.size(), name.c_str()) ==
                     NVJITLINK_SUCCESS;
  const bool linked = added && f.complete(link.get()) == NVJITLINK_SUCCESS;
  CompiledBinary binary{{}, read_log(link.get(), f.info_log_size, f.info_log)};
  if (!linked) reject("the PTX did not link", name, arch, read_log(link.get(), f.error_log_size, f.error_log));

  std::size_t size = 0;
  if (f.cubin_size(link.get(), &size) != NVJITLINK_SUCCESS || size == 0) reject("no cubin", name, arch, binary.log);
  binary.cubin.resize(size);
  if (f.cubin(link.get(), binary.cubin.data()) != NVJITLINK_SUCCESS) reject("no cubin", name, arch, binary.log);
  if (size < 4 || std::memcmp(binary.cubin.data(), "\x7f" "ELF", 4) != 0)
    throw CompileError(CompileError::Kind::kCorruptBinary,
                       fmt::format("nvJitLink returned {} bytes for {} ({}) that are not an ELF cubin", size, name, arch));
  return binary;
}

}  // namespace mf::compiler
