// AMDGCN code generation through LLVM's AMDGPU back end, and the HSACO link by ld.lld.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>

#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Transforms/Utils/Cloning.h>
#include <mlir/Dialect/GPU/IR/GPUDialect.h>
#include <mlir/ExecutionEngine/OptUtils.h>
#include <mlir/Target/LLVMIR/Export.h>

#include "gpu_lowering.h"
#include "mf/compiler/compile_error.h"

extern "C" {
void LLVMInitializeAMDGPUTargetInfo();
void LLVMInitializeAMDGPUTarget();
void LLVMInitializeAMDGPUTargetMC();
void LLVMInitializeAMDGPUAsmPrinter();
}

namespace mf::compiler::mlir_generator {
namespace {

constexpr const char* kTriple = "amdgcn-amd-amdhsa";

std::unique_ptr<llvm::TargetMachine> amdgpu_machine(const std::string& arch) {
  static std::once_flag once;
  std::call_once(once, [] {
    LLVMInitializeAMDGPUTargetInfo();
    LLVMInitializeAMDGPUTarget();
    LLVMInitializeAMDGPUTargetMC();
    LLVMInitializeAMDGPUAsmPrinter();
  });
  std::string error;
  const llvm::Triple triple(kTriple);
  const llvm::Target* target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (target == nullptr) throw CompileError(CompileError::Kind::kToolchainUnavailable, "LLVM lacks AMDGPU: " + error);
  std::unique_ptr<llvm::TargetMachine> machine(target->createTargetMachine(
      triple, arch, "", llvm::TargetOptions(), llvm::Reloc::PIC_, std::nullopt, llvm::CodeGenOptLevel::Aggressive));
  if (!machine) throw CompileError(CompileError::Kind::kRejected, "LLVM's AMDGPU back end refused " + arch);
  return machine;
}

std::string emit(llvm::Module& module, llvm::TargetMachine& machine, llvm::CodeGenFileType type) {
  std::string out;
  llvm::raw_string_ostream stream(out);
  llvm::buffer_ostream buffer(stream);
  llvm::legacy::PassManager pm;
  if (machine.addPassesToEmitFile(pm, buffer, nullptr, type))
    throw CompileError(CompileError::Kind::kRejected, "LLVM's AMDGPU back end cannot emit this file type");
  pm.run(module);
  return std::string(buffer.str());
}

std::string find_lld() {
  if (const char* path = std::getenv("MFJIT_LLD"); path != nullptr && *path != '\0') return path;
  const char* search = std::getenv("PATH");
  std::string paths = search != nullptr ? search : "";
  for (const char* name : {"ld.lld-22", "ld.lld"}) {
    std::size_t start = 0;
    while (start <= paths.size()) {
      std::size_t end = paths.find(':', start);
      if (end == std::string::npos) end = paths.size();
      auto candidate = std::filesystem::path(paths.substr(start, end - start)) / name;
      if (end > start && ::access(candidate.c_str(), X_OK) == 0) return candidate.string();
      start = end + 1;
    }
  }
  return "/usr/lib/llvm-22/bin/ld.lld";
}

// A temporary folder, removed with everything in it.
class TemporaryFolder {
 public:
  TemporaryFolder() {
    std::string pattern = (std::filesystem::temp_directory_path() / "mfjit-lld.XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw CompileError(CompileError::Kind::kToolchainUnavailable, "cannot create a temporary folder for ld.lld");
    path_ = pattern;
  }
  ~TemporaryFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TemporaryFolder(const TemporaryFolder&) = delete;
  TemporaryFolder& operator=(const TemporaryFolder&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace

AmdgcnCode emit_amdgcn(mlir::ModuleOp lowered, const std::string& name, const std::string& arch) {
  auto kernels = lowered.lookupSymbol<mlir::gpu::GPUModuleOp>(name);
  if (!kernels) throw std::logic_error("emit_amdgcn: no gpu.module " + name);
  llvm::LLVMContext context;
  std::unique_ptr<llvm::Module> module = mlir::translateModuleToLLVMIR(kernels, context, name);
  if (!module) throw CompileError(CompileError::Kind::kRejected, "translating the ROCDL module to LLVM IR failed");
  auto machine = amdgpu_machine(arch);
  module->setTargetTriple(llvm::Triple(kTriple));
  module->setDataLayout(machine->createDataLayout());
  // Code object version 5, what ROCm 6 loads.
  module->addModuleFlag(llvm::Module::Error, "amdhsa_code_object_version", 500);
  if (llvm::Error error = mlir::makeOptimizingTransformer(3, 0, machine.get())(module.get()))
    throw CompileError(CompileError::Kind::kRejected, "optimising the AMDGCN module failed: " +
                                                          llvm::toString(std::move(error)));
  std::unique_ptr<llvm::Module> copy = llvm::CloneModule(*module);
  AmdgcnCode code;
  code.assembly = emit(*copy, *machine, llvm::CodeGenFileType::AssemblyFile);
  std::string object = emit(*module, *machine, llvm::CodeGenFileType::ObjectFile);
  code.object.assign(object.begin(), object.end());
  return code;
}

std::vector<char> link_hsaco(const std::vector<char>& object, const std::string& name) {
  const std::string lld = find_lld();
  if (::access(lld.c_str(), X_OK) != 0)
    throw CompileError(CompileError::Kind::kToolchainUnavailable, "ld.lld not found (tried " + lld + "; set MFJIT_LLD)");
  TemporaryFolder folder;
  const std::string input = (folder.path() / "kernels.o").string(), output = (folder.path() / "kernels.hsaco").string(),
                    log = (folder.path() / "lld.log").string();
  std::ofstream(input, std::ios::binary).write(object.data(), static_cast<std::streamsize>(object.size()));

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  std::vector<std::string> arguments = {lld, "-shared", input, "-o", output};
  std::vector<char*> argv;
  for (std::string& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);
  pid_t child = 0;
  const int spawned = ::posix_spawn(&child, lld.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  if (spawned != 0 || ::waitpid(child, &status, 0) != child)
    throw CompileError(CompileError::Kind::kToolchainUnavailable, "cannot run " + lld);
  std::ifstream log_file(log);
  const std::string messages((std::istreambuf_iterator<char>(log_file)), std::istreambuf_iterator<char>());
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw CompileError(CompileError::Kind::kRejected, "ld.lld rejected " + name + ": " + messages);
  std::ifstream result(output, std::ios::binary);
  return {std::istreambuf_iterator<char>(result), std::istreambuf_iterator<char>()};
}

}  // namespace mf::compiler::mlir_generator
