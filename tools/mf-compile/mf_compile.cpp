#include "mf_compile.h"

#include <fmt/format.h>

#include <charconv>
#include <stdexcept>
#include <string_view>

#include "mf/compiler/nvrtc.h"
#include "mf/compiler/template_generator.h"
#include "mf/ir/problem_key.h"
#include "mf/ir/validate.h"
#include "problem_file.h"

#if MF_HAVE_MLIR
#include "mf/compiler/mlir/gpu_program.h"
#include "mf/compiler/mlir/host_program.h"
#endif

namespace mf::tools {
namespace {

constexpr const char* kUsage = R"(usage: mf-compile --problems FILE [options]

Prints what a generator makes of each problem of FILE (a JSON array of problems, as
mf-tune --problems reads).

  --generator NAME   template (default): the CUDA C++ of the template generator;
                     mlir: the MLIR generator's modules
  --emit WHAT        template: source (the whole translation unit), instantiation
                     (default: the configuration and entry points it adds to the
                     templates), report (ptxas registers, spills and shared memory of
                     every kernel, compiled with NVRTC);
                     mlir: mlir (default: the host module as built), llvm (lowered to
                     the LLVM dialect, what the ExecutionEngine compiles), gpu-mlir (the
                     GPU kernels' module as built), gpu-llvm (lowered for --arch), isa
                     (the PTX or AMDGCN for --arch), kernels (each kernel's launch and,
                     for NVIDIA, its ptxas registers and spills)
  --arch ARCH        the GPU architecture (default sm_90a; mlir also takes gfx90a,
                     gfx942)
  --config K=V,...   template: the tile configuration (default: the generator's default)
  -h, --help         this text
)";

struct Usage : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

struct Options {
  std::string problems;
  std::string generator = "template";
  std::string emit;
  std::string arch = "sm_90a";
  std::optional<ir::TileConfig> config;
};

ir::TileConfig parse_config(std::string_view text) {
  ir::TileConfig config;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    const auto equals = item.find('=');
    std::int64_t value = 0;
    const auto number = equals == std::string_view::npos ? std::string_view{} : item.substr(equals + 1);
    const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (equals == 0 || equals == std::string_view::npos || error != std::errc{} || end != number.data() + number.size())
      throw Usage(fmt::format("--config: '{}' is not NAME=INTEGER", item));
    config.set(std::string(item.substr(0, equals)), value);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
  }
  return config;
}

Options parse(const std::vector<std::string>& args) {
  Options o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) throw Usage(a + " needs a value");
      return args[++i];
    };
    if (a == "--problems") o.problems = value();
    else if (a == "--generator") o.generator = value();
    else if (a == "--emit") o.emit = value();
    else if (a == "--arch") o.arch = value();
    else if (a == "--config") o.config = parse_config(value());
    else throw Usage("unknown argument " + a);
  }
  if (o.problems.empty()) throw Usage("--problems is required");
  if (o.generator != "template" && o.generator != "mlir")
    throw Usage(fmt::format("--generator: '{}' is not template or mlir", o.generator));
  if (o.emit.empty()) o.emit = o.generator == "template" ? "instantiation" : "mlir";
  const bool known = o.generator == "template" ? (o.emit == "source" || o.emit == "instantiation" || o.emit == "report")
                                               : (o.emit == "mlir" || o.emit == "llvm" || o.emit == "gpu-mlir" ||
                                                  o.emit == "gpu-llvm" || o.emit == "isa" || o.emit == "kernels");
  if (!known) throw Usage(fmt::format("--emit: '{}' is not something the {} generator emits", o.emit, o.generator));
  if (o.generator == "mlir" && o.config) throw Usage("--config: the mlir generator takes no tile parameters");
  return o;
}

void emit_template(const Options& o, const ir::Problem& problem, std::ostream& out) {
  const compiler::Target target{o.arch};
  compiler::with_template_generator(problem, [&](auto generator, const auto& op) {
    using Generator = decltype(generator);
    Generator::check_supported(op, problem.direction);
    const ir::TileConfig config = o.config ? *o.config : Generator::default_config(op, problem.direction, target);
    out << fmt::format("// configuration: {}\n", config.params.empty() ? "(none)" : ir::to_string(config));
    for (const compiler::GeneratedSource& module : Generator::generate(op, problem.direction, config)) {
      out << fmt::format("// ---- module {} ({} entries)\n", module.name, module.entries.size());
      if (o.emit == "source") out << module.text << "\n";
      if (o.emit == "instantiation") out << module.instantiation << "\n";
      if (o.emit != "report") continue;
      const auto binary = compiler::Nvrtc::instance().compile(module.text, module.name, o.arch);
      for (const auto& kernel : compiler::parse_ptxas_report(binary.log))
        out << fmt::format("{}: {} registers, {} bytes spill stores, {} bytes spill loads, {} bytes stack, {} bytes "
                           "static shared\n",
                           kernel.function, kernel.registers, kernel.spill_store_bytes, kernel.spill_load_bytes,
                           kernel.stack_frame_bytes, kernel.shared_bytes);
    }
    return 0;
  });
}

void emit_mlir(const Options& o, const ir::Problem& problem, std::ostream& out) {
#if MF_HAVE_MLIR
  namespace generator = compiler::mlir_generator;
  if (o.emit == "mlir") out << generator::HostProgram::module_text(problem);
  if (o.emit == "llvm") out << generator::HostProgram::lowered_text(problem);
  if (o.emit == "gpu-mlir") out << generator::gpu_module_text(problem);
  if (o.emit == "gpu-llvm") out << generator::gpu_lowered_text(problem, o.arch);
  if (o.emit != "isa" && o.emit != "kernels") return;
  const generator::GpuProgram program = generator::compile_gpu_program(problem, o.arch);
  if (o.emit == "isa") {
    out << program.assembly;
    return;
  }
  const auto report = compiler::parse_ptxas_report(program.link_log);
  for (const generator::GpuKernel& kernel : program.kernels) {
    out << fmt::format("{}: {} iterations on {} threads ({} blocks of {}), {} scratch values a thread", kernel.name,
                       kernel.iterations, kernel.threads, kernel.grid, kernel.block, kernel.scratch_elements_per_thread);
    for (const auto& entry : report)
      if (entry.function == kernel.name)
        out << fmt::format(", {} registers, {} bytes spill stores", entry.registers, entry.spill_store_bytes);
    out << "\n";
  }
#else
  (void)o, (void)problem, (void)out;
  throw std::runtime_error("--generator mlir: this mfjit was built without the MLIR generator (MF_MLIR=OFF)");
#endif
}

}  // namespace

int mf_compile(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  try {
    for (const auto& a : args)
      if (a == "-h" || a == "--help") {
        out << kUsage;
        return 0;
      }
    const Options o = parse(args);
    const std::vector<ir::Problem> problems = read_problem_file(o.problems, "--problems");
    for (std::size_t i = 0; i < problems.size(); ++i) {
      const ir::Problem& problem = problems[i];
      try {
        ir::validate(problem);
        out << fmt::format("// ==== {}[{}]: {}\n", o.problems, i, ir::problem_key(problem));
        if (o.generator == "template") emit_template(o, problem, out);
        else emit_mlir(o, problem, out);
      } catch (const std::exception& e) {
        throw std::runtime_error(fmt::format("{}[{}]: {}", o.problems, i, e.what()));
      }
    }
    return 0;
  } catch (const Usage& e) {
    err << "mf-compile: " << e.what() << "\n" << kUsage;
    return 2;
  } catch (const std::exception& e) {
    err << "mf-compile: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace mf::tools
