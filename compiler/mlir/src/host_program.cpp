#include "mf/compiler/mlir/host_program.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string_view>

#include <llvm/Config/llvm-config.h>
#include <llvm/ExecutionEngine/Orc/Core.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/Mangling.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <mlir/Dialect/Arith/IR/Arith.h>
#include <mlir/Dialect/ControlFlow/IR/ControlFlow.h>
#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/Dialect/GPU/IR/GPUDialect.h>
#include <mlir/Dialect/LLVMIR/LLVMDialect.h>
#include <mlir/Dialect/Math/IR/Math.h>
#include <mlir/Dialect/MemRef/IR/MemRef.h>
#include <mlir/Dialect/SCF/IR/SCF.h>
#include <mlir/ExecutionEngine/ExecutionEngine.h>
#include <mlir/ExecutionEngine/OptUtils.h>
#include <mlir/IR/Diagnostics.h>
#include <mlir/IR/MLIRContext.h>
#include <mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h>
#include <mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h>

#include "generator_sources_hash.h"
#include "gpu_emulation.h"
#include "host_lowering.h"
#include "mf/compiler/mlir/gpu_program.h"
#include "stage_modules.h"
#include "mf/compiler/compile_error.h"
#include "mf/ir/error.h"
#include "mf/ir/tensor_list.h"

namespace mf::compiler::mlir_generator {
namespace {

// What tuning results of host programs are keyed by: the generator's own sources.
constexpr std::string_view kSourcesHash = MF_MLIR_GENERATOR_SOURCES_HASH;

void initialise_native_target() {
  static std::once_flag once;
  static bool ready = false;
  std::call_once(once, [] {
    ready = !llvm::InitializeNativeTarget() && !llvm::InitializeNativeTargetAsmPrinter();
  });
  if (!ready) throw CompileError(CompileError::Kind::kToolchainUnavailable, "LLVM has no code generator for this host");
}

std::unique_ptr<mlir::MLIRContext> make_context() {
  mlir::DialectRegistry registry;
  registry.insert<mlir::arith::ArithDialect, mlir::cf::ControlFlowDialect, mlir::func::FuncDialect,
                  mlir::gpu::GPUDialect, mlir::LLVM::LLVMDialect, mlir::math::MathDialect, mlir::memref::MemRefDialect,
                  mlir::scf::SCFDialect>();
  mlir::registerBuiltinDialectTranslation(registry);
  mlir::registerLLVMDialectTranslation(registry);
  // Programs are small; a thread pool per context would cost more than it saves.
  auto context = std::make_unique<mlir::MLIRContext>(registry, mlir::MLIRContext::Threading::DISABLED);
  context->loadAllAvailableDialects();
  return context;
}

StageModule build_module(mlir::MLIRContext& context, const ir::Problem& problem) {
  if (auto reason = HostProgram::unsupported(problem)) throw ir::Error(ir::ErrorKind::kUnsupported, *reason);
  return build_stage_module(context, problem, StageTarget::kHost);
}

// The arguments of a stage call live on the caller's stack: every tensor's descriptor
// (at most 3 + 2·kMaxRank words), the workspace's, then one pointer each.
constexpr std::size_t kMaxArguments = 24;
constexpr std::size_t kMaxDescriptorWords = kMaxArguments * (3 + 2 * ir::kMaxRank);

// Appends MLIR's strided memref descriptor for rank R, as the C interface takes it:
// { T* allocated; T* aligned; int64 offset; int64 sizes[R]; int64 strides[R]; }, with the
// pointers left for run() to fill.
void append_descriptor(std::vector<std::int64_t>& words, const std::vector<std::int64_t>& shape,
                       const std::vector<std::int64_t>& strides) {
  words.insert(words.end(), {0, 0, 0});
  words.insert(words.end(), shape.begin(), shape.end());
  words.insert(words.end(), strides.begin(), strides.end());
}

}  // namespace

struct HostProgram::State {
  std::vector<HostStage> stages;
  // The tensors' descriptors and then the workspace's, one after another: sizes and
  // strides filled, pointers not.
  std::vector<std::int64_t> descriptor_words;
  std::vector<std::size_t> descriptor_offsets;  // where each begins in descriptor_words
  // Where the buffers after the tensors (the workspace; for GPU kernels also the scratch
  // arena) begin in the caller's workspace, in bytes.
  std::vector<std::size_t> workspace_parts;
  std::size_t workspace_bytes = 0;
  std::unique_ptr<mlir::MLIRContext> context;
  std::unique_ptr<mlir::ExecutionEngine> engine;
  std::vector<void (*)(void**)> entries;  // one packed C-interface entry per stage
};

HostProgram::HostProgram(std::unique_ptr<State> state) : state_(std::move(state)) {}
HostProgram::~HostProgram() = default;

// The host path serves every operator, pass, dtype and layout that ir::validate accepts.
std::optional<std::string> HostProgram::unsupported(const ir::Problem&) { return std::nullopt; }

std::string HostProgram::module_text(const ir::Problem& problem) {
  auto context = make_context();
  StageModule built = build_module(*context, problem);
  std::string text;
  llvm::raw_string_ostream out(text);
  built.module->print(out);
  return text;
}

std::string HostProgram::lowered_text(const ir::Problem& problem) {
  auto context = make_context();
  StageModule built = build_module(*context, problem);
  lower_to_llvm(*built.module);
  std::string text;
  llvm::raw_string_ostream out(text);
  built.module->print(out);
  return text;
}

std::string HostProgram::version() {
  return "mlir-host/" + std::string(kSourcesHash.substr(0, 16)) + " (LLVM " LLVM_VERSION_STRING ")";
}

namespace {

// float -> bf16, rounded to nearest even (NaN stays a quiet NaN): LLVM's libcall
// __truncsfbf2, which x86 code without AVX512-BF16 calls for every such conversion. It is
// compiler-rt's (and libgcc's from GCC 13 on), not in Debian 12's libgcc, so the JIT would
// find no definition on such CPUs. The x86-64 psABI returns a bf16 in the low 16 bits of
// xmm0: the bits of a float whose low half they are.
extern "C" float mf_truncsfbf2(float x) {
  std::uint32_t bits = 0;
  std::memcpy(&bits, &x, sizeof bits);
  const std::uint32_t rounded = (bits & 0x7fffffffu) > 0x7f800000u ? (bits >> 16) | 0x0040u
                                                                    : (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
  float result = 0.0f;
  std::memcpy(&result, &rounded, sizeof result);
  return result;
}

// Compiles the host functions of `module` (stage functions, or emulated GPU kernels) with
// the ExecutionEngine, and finds each stage's entry.
void compile_engine(HostProgram::State& state, mlir::ModuleOp module) {
  lower_to_llvm(module);
  // The host's own CPU and features: without them LLVM's cost model sees no vector unit
  // and vectorises nothing.
  auto target = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!target) throw CompileError(CompileError::Kind::kToolchainUnavailable, llvm::toString(target.takeError()));
  auto machine = target->createTargetMachine();
  if (!machine) throw CompileError(CompileError::Kind::kToolchainUnavailable, llvm::toString(machine.takeError()));
  // ExecutionEngineOptions holds the transformer by reference (a function_ref): it must
  // outlive create().
  std::function<llvm::Error(llvm::Module*)> optimise =
      mlir::makeOptimizingTransformer(/*optLevel=*/3, /*sizeLevel=*/0, machine->get());
  mlir::ExecutionEngineOptions options;
  options.transformer = optimise;
  options.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Aggressive;
  // The profiler and debugger listeners are opt-in (MFJIT_JIT_PROFILING=1): on by default,
  // perf's left a jit-PID.dump file per process under $JITDUMPDIR/.debug/jit, never removed.
  const char* profiling = std::getenv("MFJIT_JIT_PROFILING");
  const bool listeners = profiling != nullptr && std::string_view(profiling) == "1";
  options.enablePerfNotificationListener = listeners;
  options.enableGDBNotificationListener = listeners;
  auto engine = mlir::ExecutionEngine::create(module, options, std::move(*machine));
  if (!engine) {
    throw CompileError(CompileError::Kind::kRejected,
                       "the MLIR host generator's module did not compile: " + llvm::toString(engine.takeError()));
  }
  state.engine = std::move(*engine);
  state.engine->registerSymbols([](llvm::orc::MangleAndInterner interner) {
    llvm::orc::SymbolMap symbols;
    symbols[interner("__truncsfbf2")] = {llvm::orc::ExecutorAddr::fromPtr(&mf_truncsfbf2),
                                         llvm::JITSymbolFlags::Exported};
    return symbols;
  });
  for (const HostStage& stage : state.stages) {
    auto entry = state.engine->lookupPacked("_mlir_ciface_" + stage.function);
    if (!entry) {
      throw CompileError(CompileError::Kind::kRejected,
                         "the compiled host program lacks " + stage.function + ": " + llvm::toString(entry.takeError()));
    }
    state.entries.push_back(*entry);
  }
}

// The descriptors of the problem's tensors, then of the buffers `parts` gives as
// (elements, byte offset in the workspace).
void describe_arguments(HostProgram::State& state, const ir::Problem& problem,
                        const std::vector<std::pair<std::int64_t, std::size_t>>& parts) {
  for (const auto& named : ir::tensor_list(problem)) {
    state.descriptor_offsets.push_back(state.descriptor_words.size());
    append_descriptor(state.descriptor_words, named.desc->shape, named.desc->strides);
  }
  for (const auto& [elements, offset] : parts) {
    state.descriptor_offsets.push_back(state.descriptor_words.size());
    append_descriptor(state.descriptor_words, {elements}, {1});
    state.workspace_parts.push_back(offset);
  }
  if (state.descriptor_offsets.size() + 2 > kMaxArguments || state.descriptor_words.size() > kMaxDescriptorWords)
    throw std::logic_error("a host program with more arguments than HostProgram::run passes");
}

}  // namespace

std::unique_ptr<HostProgram> HostProgram::compile(const ir::Problem& problem) {
  initialise_native_target();
  auto state = std::make_unique<State>();
  state->context = make_context();
  StageModule built = build_module(*state->context, problem);
  state->stages = built.stages;
  compile_engine(*state, *built.module);
  const std::size_t element_bytes = built.compute.getWidth() / 8;
  describe_arguments(*state, problem, {{built.workspace_elements, 0}});
  state->workspace_bytes = static_cast<std::size_t>(built.workspace_elements) * element_bytes;
  return std::unique_ptr<HostProgram>(new HostProgram(std::move(state)));
}

std::unique_ptr<HostProgram> HostProgram::compile_gpu_kernels(const ir::Problem& problem) {
  if (auto reason = gpu_unsupported(problem)) throw ir::Error(ir::ErrorKind::kUnsupported, *reason);
  initialise_native_target();
  auto state = std::make_unique<State>();
  state->context = make_context();
  StageModule built = build_stage_module(*state->context, problem, StageTarget::kGpu);
  const GpuProgram layout = gpu_layout(built, "host");
  // Stage i runs kernel i's launched threads (grid × block).
  for (const GpuKernel& kernel : layout.kernels) state->stages.push_back({kernel.name, kernel.grid * kernel.block});
  emulate_gpu_kernels(*built.module);
  compile_engine(*state, *built.module);
  // The kernels take the workspace as memref<max(W, 1)>, then the arena.
  describe_arguments(*state, problem,
                     {{std::max<std::int64_t>(layout.workspace_elements, 1), 0}, {1, layout.arena_offset()}});
  state->workspace_bytes = layout.workspace_bytes();
  return std::unique_ptr<HostProgram>(new HostProgram(std::move(state)));
}

const std::vector<HostStage>& HostProgram::stages() const { return state_->stages; }

std::size_t HostProgram::workspace_bytes() const { return state_->workspace_bytes; }

void HostProgram::run(std::size_t stage, std::span<void* const> tensors, void* workspace, std::int64_t begin,
                      std::int64_t end) const {
  const auto& offsets = state_->descriptor_offsets;
  if (stage >= state_->entries.size() || tensors.size() + state_->workspace_parts.size() != offsets.size())
    throw std::logic_error("HostProgram::run: no such stage, or not one pointer per tensor");
  // Threads run stages at once: each call fills its own copy of the descriptors.
  std::array<std::int64_t, kMaxDescriptorWords> words;
  std::copy(state_->descriptor_words.begin(), state_->descriptor_words.end(), words.begin());
  std::array<void*, kMaxArguments> descriptors;
  std::array<void*, kMaxArguments> arguments;
  for (std::size_t a = 0; a < offsets.size(); ++a) {
    void* data = a < tensors.size() ? tensors[a]
                                    : static_cast<char*>(workspace) + state_->workspace_parts[a - tensors.size()];
    std::memcpy(&words[offsets[a]], &data, sizeof(void*));      // allocated
    std::memcpy(&words[offsets[a] + 1], &data, sizeof(void*));  // aligned
    descriptors[a] = &words[offsets[a]];
    arguments[a] = &descriptors[a];
  }
  arguments[offsets.size()] = &begin;
  arguments[offsets.size() + 1] = &end;
  state_->entries[stage](arguments.data());
}

}  // namespace mf::compiler::mlir_generator
