// The ptxas -v report as NVRTC 13 writes it into the program log, per entry function:
//
//   ptxas info    : Compiling entry function '_Z3shmPf' for 'sm_80'
//   ptxas info    : Function properties for _Z3shmPf
//   ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
//   ptxas info    : Used 9 registers, used 1 barriers, 1024 bytes smem, 360 bytes cmem[0]
//
// Non-inlined device functions get a "Function properties" block of their own, outside or
// between the entries' blocks, so a properties line counts only when its name is the entry
// being compiled.
#include <charconv>
#include <optional>
#include <string_view>

#include "mf/compiler/nvrtc.h"

namespace mf::compiler {
namespace {

constexpr std::string_view kEntry = "Compiling entry function '";
constexpr std::string_view kProperties = "Function properties for ";

// The decimal number just before `suffix` in `line` ("1024" for " bytes smem").
std::optional<int> number_before(std::string_view line, std::string_view suffix) {
  const std::size_t end = line.find(suffix);
  if (end == std::string_view::npos) return std::nullopt;
  std::size_t begin = end;
  while (begin > 0 && line[begin - 1] >= '0' && line[begin - 1] <= '9') --begin;
  int value = 0;
  const auto [ptr, error] = std::from_chars(line.data() + begin, line.data() + end, value);
  if (error != std::errc() || ptr != line.data() + end) return std::nullopt;
  return value;
}

void read_number(std::string_view line, std::string_view suffix, int& field) {
  if (auto value = number_before(line, suffix)) field = *value;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.back() == ' ' || text.back() == '\r' || text.back() == '\t')) text.remove_suffix(1);
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  return text;
}

// "'name' for 'sm_80'" → "name".
std::string_view quoted_name(std::string_view rest) { return rest.substr(0, rest.find('\'')); }

}  // namespace

std::vector<KernelResources> parse_ptxas_report(const std::string& log) {
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::vector<KernelResources> kernels;
  std::size_t entry = kNone;       // the entry function ptxas is compiling
  std::size_t properties = kNone;  // the entry whose stack and spill line comes next
  std::string_view rest = log;
  while (!rest.empty()) {
    const std::size_t newline = rest.find('\n');
    const std::string_view line = rest.substr(0, newline);
    rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
    if (!line.starts_with("ptxas")) continue;

    if (std::size_t at = line.find(kEntry); at != std::string_view::npos) {
      kernels.push_back({.function = std::string(quoted_name(line.substr(at + kEntry.size())))});
      entry = kernels.size() - 1;
      properties = kNone;
    } else if (std::size_t at_properties = line.find(kProperties); at_properties != std::string_view::npos) {
      const std::string_view name = trim(line.substr(at_properties + kProperties.size()));
      properties = entry != kNone && kernels[entry].function == name ? entry : kNone;
    } else if (line.find(" bytes stack frame") != std::string_view::npos) {
      if (properties == kNone) continue;
      KernelResources& kernel = kernels[properties];
      read_number(line, " bytes stack frame", kernel.stack_frame_bytes);
      read_number(line, " bytes spill stores", kernel.spill_store_bytes);
      read_number(line, " bytes spill loads", kernel.spill_load_bytes);
      properties = kNone;
    } else if (line.find("Used ") != std::string_view::npos && entry != kNone) {
      read_number(line, " registers", kernels[entry].registers);
      read_number(line, " bytes smem", kernels[entry].shared_bytes);
    }
  }
  return kernels;
}

}  // namespace mf::compiler
