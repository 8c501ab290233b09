// Compiling many generated modules with NVRTC on every core, for the generator tests.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "mf/compiler/generated_source.h"
#include "mf/compiler/nvrtc.h"

namespace mf::compiler {

struct Compiled {
  std::string label;
  std::vector<KernelResources> resources;
  bool serialized_products = false;  // ptxas's C7513/C7515: wgmma products run one at a time
};

// Compiles each distinct module once per architecture, on all cores.
inline std::vector<std::string> compile_all(const std::vector<std::pair<std::string, GeneratedSource>>& modules,
                                     const std::vector<std::string>& archs, std::vector<Compiled>* out) {
  std::vector<std::string> failures;
  std::mutex mutex;
  std::atomic<std::size_t> next{0};
  const std::size_t jobs = modules.size() * archs.size();
  if (out) out->assign(jobs, {});
  auto worker = [&] {
    for (std::size_t i = next++; i < jobs; i = next++) {
      const auto& [label, module] = modules[i / archs.size()];
      const std::string& arch = archs[i % archs.size()];
      try {
        const auto binary = Nvrtc::instance().compile(module.text, module.name, arch);
        if (out)
          (*out)[i] = {label, parse_ptxas_report(binary.log),
                       binary.log.find("wgmma.mma_async instructions are serialized") != std::string::npos};
      } catch (const std::exception& error) {
        const std::lock_guard lock(mutex);
        failures.push_back(fmt::format("{} {} {}: {}", label, module.instantiation.substr(0, 120), arch, error.what()));
      }
    }
  };
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < std::max(1u, std::thread::hardware_concurrency()); ++t) threads.emplace_back(worker);
  for (auto& thread : threads) thread.join();
  return failures;
}

}  // namespace mf::compiler
