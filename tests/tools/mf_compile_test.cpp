// mf-compile in process: the template generator's source and ptxas report, the MLIR
// generator's modules before and after lowering, its PTX and AMDGCN, and what bad input
// gets.
#include "mf_compile.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "mf/ir/json.h"
#include "mf/ir/layer_norm_linear.h"
#include "mf/ir/transition.h"

namespace mf::tools {
namespace {

using ::testing::HasSubstr;

struct Outcome {
  int status;
  std::string out, err;
};

Outcome compile(std::vector<std::string> args) {
  std::ostringstream out, err;
  const int status = mf_compile(args, out, err);
  return {status, out.str(), err.str()};
}

// A problem file holding `problems`, removed with the test's temporary directory.
std::string problem_file(const std::vector<ir::Problem>& problems, const std::string& name) {
  const auto path = std::filesystem::path(::testing::TempDir()) / name;
  std::ofstream(path) << nlohmann::json(problems).dump();
  return path.string();
}

TEST(MfCompile, TemplateSourceAndItsResourceReport) {
  const std::string file =
      problem_file({{ir::layer_norm_linear(1000, 128, 640), ir::Direction::forward()}}, "linear_bf16.json");
  const Outcome instantiation = compile({"--problems", file});
  ASSERT_EQ(instantiation.status, 0) << instantiation.err;
  EXPECT_THAT(instantiation.out, HasSubstr("op=layer_norm_linear;pass=fwd"));
  EXPECT_THAT(instantiation.out, HasSubstr("// configuration: "));
  EXPECT_THAT(instantiation.out, HasSubstr("extern \"C\""));

  const Outcome report = compile({"--problems", file, "--emit", "report", "--arch", "sm_80"});
  ASSERT_EQ(report.status, 0) << report.err;
  EXPECT_THAT(report.out, HasSubstr(" registers, 0 bytes spill stores"));
}

TEST(MfCompile, MlirModuleBeforeAndAfterLowering) {
  const std::string file = problem_file({{ir::transition(9, 8, 2), ir::Direction::forward()}}, "transition.json");
  const Outcome built = compile({"--problems", file, "--generator", "mlir"});
  ASSERT_EQ(built.status, 0) << built.err;
  EXPECT_THAT(built.out, HasSubstr("func.func @transition_rows("));
  EXPECT_THAT(built.out, HasSubstr("scf.for"));
  const Outcome lowered = compile({"--problems", file, "--generator", "mlir", "--emit", "llvm"});
  ASSERT_EQ(lowered.status, 0) << lowered.err;
  EXPECT_THAT(lowered.out, HasSubstr("llvm.func @_mlir_ciface_transition_rows"));
  EXPECT_THAT(lowered.out, ::testing::Not(HasSubstr("scf.for")));
}

TEST(MfCompile, MlirGpuKernelsForNvidiaAndAmd) {
  const std::string file = problem_file({{ir::transition(9, 8, 2), ir::Direction::forward()}}, "transition_gpu.json");
  const Outcome built = compile({"--problems", file, "--generator", "mlir", "--emit", "gpu-mlir"});
  ASSERT_EQ(built.status, 0) << built.err;
  EXPECT_THAT(built.out, HasSubstr("gpu.func @transition_rows("));
  const Outcome lowered = compile({"--problems", file, "--generator", "mlir", "--emit", "gpu-llvm", "--arch", "gfx90a"});
  ASSERT_EQ(lowered.status, 0) << lowered.err;
  EXPECT_THAT(lowered.out, HasSubstr("rocdl.kernel"));
  const Outcome amdgcn = compile({"--problems", file, "--generator", "mlir", "--emit", "isa", "--arch", "gfx942"});
  ASSERT_EQ(amdgcn.status, 0) << amdgcn.err;
  EXPECT_THAT(amdgcn.out, HasSubstr(".amdhsa_kernel transition_rows"));
  const Outcome ptx = compile({"--problems", file, "--generator", "mlir", "--emit", "isa"});
  ASSERT_EQ(ptx.status, 0) << ptx.err;
  EXPECT_THAT(ptx.out, HasSubstr(".entry transition_rows("));
  const Outcome kernels = compile({"--problems", file, "--generator", "mlir", "--emit", "kernels", "--arch", "sm_80"});
  ASSERT_EQ(kernels.status, 0) << kernels.err;
  EXPECT_THAT(kernels.out, HasSubstr("transition_rows: 9 iterations on 9 threads (1 blocks of 128)"));
  EXPECT_THAT(kernels.out, HasSubstr(" registers, 0 bytes spill stores"));
  const Outcome unknown = compile({"--problems", file, "--generator", "mlir", "--emit", "isa", "--arch", "x86"});
  EXPECT_EQ(unknown.status, 1);
  EXPECT_THAT(unknown.err, HasSubstr("arch x86 is neither"));
}

TEST(MfCompile, BadInputIsNamed) {
  EXPECT_EQ(compile({"--help"}).status, 0);
  const Outcome missing = compile({});
  EXPECT_EQ(missing.status, 2);
  EXPECT_THAT(missing.err, HasSubstr("--problems is required"));
  const std::string file = problem_file({{ir::layer_norm_linear(4, 8, 4), ir::Direction::forward()}}, "small.json");
  const Outcome config = compile({"--problems", file, "--config", "warps=four"});
  EXPECT_EQ(config.status, 2);
  EXPECT_THAT(config.err, HasSubstr("--config: 'warps=four' is not NAME=INTEGER"));
  EXPECT_EQ(compile({"--problems", file, "--generator", "mlir", "--emit", "report"}).status, 2);
  EXPECT_THAT(compile({"--problems", "/no/such/file.json"}).err, HasSubstr("--problems: cannot read /no/such/file.json"));

  ir::LinearOptions f64;
  f64.dtype = ir::DType::kF64;
  const std::string wide = problem_file({{ir::layer_norm_linear(4, 8, 4, f64), ir::Direction::forward()}}, "f64.json");
  const Outcome refused = compile({"--problems", wide});
  EXPECT_EQ(refused.status, 1);
  EXPECT_THAT(refused.err, HasSubstr("f64.json[0]: "));
}

}  // namespace
}  // namespace mf::tools
