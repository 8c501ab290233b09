#include "mf/compiler/mlir/gpu_program.h"

#include <llvm/Config/llvm-config.h>
#include <llvm/Support/raw_ostream.h>
#include <mlir/Conversion/ArithToLLVM/ArithToLLVM.h>
#include <mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h>
#include <mlir/Conversion/FuncToLLVM/ConvertFuncToLLVM.h>
#include <mlir/Conversion/GPUToNVVM/GPUToNVVM.h>
#include <mlir/Conversion/IndexToLLVM/IndexToLLVM.h>
#include <mlir/Conversion/MathToLLVM/MathToLLVM.h>
#include <mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h>
#include <mlir/Conversion/NVVMToLLVM/NVVMToLLVM.h>
#include <mlir/Conversion/UBToLLVM/UBToLLVM.h>
#include <mlir/Dialect/Arith/IR/Arith.h>
#include <mlir/Dialect/ControlFlow/IR/ControlFlow.h>
#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/Dialect/GPU/IR/GPUDialect.h>
#include <mlir/Dialect/LLVMIR/LLVMDialect.h>
#include <mlir/Dialect/LLVMIR/NVVMDialect.h>
#include <mlir/Dialect/LLVMIR/ROCDLDialect.h>
#include <mlir/Dialect/Math/IR/Math.h>
#include <mlir/Dialect/MemRef/IR/MemRef.h>
#include <mlir/Dialect/SCF/IR/SCF.h>
#include <mlir/IR/MLIRContext.h>
#include <mlir/Target/LLVM/NVVM/Target.h>
#include <mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h>
#include <mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h>
#include <mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h>
#include <mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h>
#include <mlir/Target/LLVMIR/Dialect/ROCDL/ROCDLToLLVMIRTranslation.h>

#include "generator_sources_hash.h"
#include "gpu_lowering.h"
#include "mf/compiler/nvjitlink.h"
#include "mf/ir/error.h"
#include "stage_modules.h"

namespace mf::compiler::mlir_generator {
namespace {

// What tuning results of GPU programs are keyed by: the generator's own sources.
constexpr std::string_view kSourcesHash = MF_MLIR_GENERATOR_SOURCES_HASH;

std::unique_ptr<mlir::MLIRContext> make_gpu_context() {
  mlir::DialectRegistry registry;
  registry.insert<mlir::arith::ArithDialect, mlir::cf::ControlFlowDialect, mlir::func::FuncDialect,
                  mlir::gpu::GPUDialect, mlir::LLVM::LLVMDialect, mlir::math::MathDialect, mlir::memref::MemRefDialect,
                  mlir::NVVM::NVVMDialect, mlir::ROCDL::ROCDLDialect, mlir::scf::SCFDialect>();
  // The GPU conversions lower the other dialects through these interfaces.
  mlir::arith::registerConvertArithToLLVMInterface(registry);
  mlir::cf::registerConvertControlFlowToLLVMInterface(registry);
  mlir::registerConvertFuncToLLVMInterface(registry);
  mlir::NVVM::registerConvertGpuToNVVMInterface(registry);
  mlir::index::registerConvertIndexToLLVMInterface(registry);
  mlir::registerConvertMathToLLVMInterface(registry);
  mlir::registerConvertMemRefToLLVMInterface(registry);
  mlir::registerConvertNVVMToLLVMInterface(registry);
  mlir::ub::registerConvertUBToLLVMInterface(registry);
  mlir::registerBuiltinDialectTranslation(registry);
  mlir::registerGPUDialectTranslation(registry);
  mlir::registerLLVMDialectTranslation(registry);
  mlir::registerNVVMDialectTranslation(registry);
  mlir::registerROCDLDialectTranslation(registry);
  mlir::NVVM::registerNVVMTargetInterfaceExternalModels(registry);
  auto context = std::make_unique<mlir::MLIRContext>(registry, mlir::MLIRContext::Threading::DISABLED);
  context->loadAllAvailableDialects();
  return context;
}

StageModule build_gpu_module(mlir::MLIRContext& context, const ir::Problem& problem) {
  if (auto reason = gpu_unsupported(problem)) throw ir::Error(ir::ErrorKind::kUnsupported, *reason);
  return build_stage_module(context, problem, StageTarget::kGpu);
}

GpuVendor vendor_of(const std::string& arch) {
  auto vendor = gpu_vendor(arch);
  if (!vendor) {
    throw ir::Error(ir::ErrorKind::kUnsupported,
                    "arch " + arch + " is neither an NVIDIA (sm_80, sm_90a) nor an AMD (gfx90a, gfx942) target");
  }
  return *vendor;
}

std::int64_t attribute(mlir::gpu::GPUFuncOp kernel, const char* name) {
  return mlir::cast<mlir::IntegerAttr>(kernel->getAttr(name)).getInt();
}

// The launch contract the kernels carry, read before lowering drops their attributes.
std::vector<GpuKernel> kernels_of(StageModule& built) {
  std::vector<GpuKernel> kernels;
  built.module->walk([&](mlir::gpu::GPUFuncOp function) {
    GpuKernel kernel;
    kernel.name = function.getName().str();
    kernel.iterations = attribute(function, kIterationsAttr);
    kernel.threads = attribute(function, kThreadsAttr);
    kernel.block = kGpuBlockThreads;
    kernel.grid = (kernel.threads + kernel.block - 1) / kernel.block;
    kernel.scratch_elements_per_thread = attribute(function, kScratchAttr);
    kernels.push_back(kernel);
  });
  return kernels;
}

std::string print(mlir::ModuleOp module) {
  std::string text;
  llvm::raw_string_ostream out(text);
  module.print(out);
  return text;
}

}  // namespace

GpuProgram gpu_layout(StageModule& built, const std::string& arch) {
  GpuProgram program;
  program.arch = arch;
  program.kernels = kernels_of(built);
  program.workspace_elements = built.workspace_elements;
  program.element_bytes = built.compute.getWidth() / 8;
  for (const GpuKernel& kernel : program.kernels)
    program.scratch_elements = std::max(program.scratch_elements, kernel.threads * kernel.scratch_elements_per_thread);
  return program;
}

std::size_t GpuProgram::arena_offset() const {
  constexpr std::size_t kAlignment = 256;
  const std::size_t workspace = static_cast<std::size_t>(std::max<std::int64_t>(workspace_elements, 1)) * element_bytes;
  return (workspace + kAlignment - 1) / kAlignment * kAlignment;
}

std::size_t GpuProgram::workspace_bytes() const {
  return arena_offset() + static_cast<std::size_t>(scratch_elements) * element_bytes;
}

std::optional<std::string> gpu_unsupported(const ir::Problem& problem) {
  const ir::DType dtype = std::visit(
      [](const auto& op) {
        using Op = std::decay_t<decltype(op)>;
        if constexpr (std::is_same_v<Op, ir::EvoAttention>) return op.q.dtype;
        else return op.x.dtype;
      },
      problem.op);
  if (dtype == ir::DType::kF64) return "the MLIR generator's GPU kernels compute in f32; f64 problems run on the host";
  return std::nullopt;
}

std::string gpu_module_text(const ir::Problem& problem) {
  auto context = make_gpu_context();
  return print(*build_gpu_module(*context, problem).module);
}

std::string gpu_lowered_text(const ir::Problem& problem, const std::string& arch) {
  const GpuVendor vendor = vendor_of(arch);
  auto context = make_gpu_context();
  StageModule built = build_gpu_module(*context, problem);
  lower_gpu_module(*built.module, vendor, arch);
  return print(*built.module);
}

GpuProgram gpu_program_layout(const ir::Problem& problem, const std::string& arch) {
  vendor_of(arch);
  auto context = make_gpu_context();
  StageModule built = build_gpu_module(*context, problem);
  return gpu_layout(built, arch);
}

std::string gpu_program_version() {
  return "mlir-gpu/" + std::string(kSourcesHash.substr(0, 16)) + " (LLVM " LLVM_VERSION_STRING ")";
}

GpuProgram compile_gpu_program(const ir::Problem& problem, const std::string& arch) {
  const GpuVendor vendor = vendor_of(arch);
  auto context = make_gpu_context();
  StageModule built = build_gpu_module(*context, problem);
  GpuProgram program = gpu_layout(built, arch);
  lower_gpu_module(*built.module, vendor, arch);
  if (vendor == GpuVendor::kNvidia) {
    program.assembly = emit_ptx(*built.module, kGpuModuleName, arch);
    CompiledBinary cubin = NvJitLink::instance().link_ptx(program.assembly, kGpuModuleName, arch);
    program.binary = std::move(cubin.cubin);
    program.link_log = std::move(cubin.log);
  } else {
    AmdgcnCode code = emit_amdgcn(*built.module, kGpuModuleName, arch);
    program.assembly = std::move(code.assembly);
    program.binary = link_hsaco(code.object, kGpuModuleName);
  }
  return program;
}

}  // namespace mf::compiler::mlir_generator
