// The MLIR generator's GPU path, compile-verified: every operator forward and backward
// lowers to PTX that nvJitLink's ptxas links into a cubin for sm_80 and sm_90a, and to
// AMDGCN that LLVM's AMDGPU back end and ld.lld turn into an HSACO for gfx90a and gfx942.
// Running the kernels needs a GPU (the gpu-labelled tests).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "mf/compiler/compile_error.h"
#include "mf/compiler/mlir/gpu_program.h"
#include "mf/compiler/nvjitlink.h"
#include "mf/compiler/nvrtc.h"
#include "mf/ir/error.h"
#include "mf/ir/evo_attention.h"
#include "mf/ir/layer_norm_linear.h"
#include "mf/ir/transition.h"

namespace mf::compiler::mlir_generator {
namespace {

using ir::DType;
using ::testing::HasSubstr;

struct GpuCase {
  std::string name;
  ir::Problem problem;
};

void PrintTo(const GpuCase& c, std::ostream* out) { *out << c.name; }

ir::EvoLayoutOptions attention(DType dtype, bool bias, ir::MaskKind mask) {
  ir::EvoLayoutOptions options;
  options.dtype = dtype;
  options.with_bias = bias;
  options.mask_kind = mask;
  return options;
}

template <typename Op>
ir::Problem backward(const Op& forward) {
  const std::uint32_t gradients = forward.all_gradients();
  return {ir::with_gradients(forward, gradients), ir::Direction::backward(gradients)};
}

std::vector<GpuCase> gpu_cases() {
  using ir::MaskKind;
  const auto triangle = ir::triangle_attention_starting(1, 17, 2, 32, attention(DType::kBF16, true, MaskKind::kBoolean));
  const auto msa_row = ir::msa_row_attention(1, 3, 11, 2, 16, attention(DType::kF16, false, MaskKind::kAdditive));
  const auto column = ir::msa_column_attention(1, 6, 4, 2, 16, attention(DType::kF32, false, MaskKind::kNone));
  ir::LinearOptions linear_options;
  linear_options.dtype = DType::kBF16;
  linear_options.torch_weight = true;
  const auto linear = ir::layer_norm_linear(33, 24, 19, linear_options);
  ir::TransitionOptions transition_options;
  transition_options.dtype = DType::kF16;
  const auto transition = ir::transition(100, 16, 4, transition_options);
  return {
      {"triangle_start_forward", {triangle, ir::Direction::forward()}},
      {"triangle_start_backward", backward(triangle)},
      {"msa_row_forward", {msa_row, ir::Direction::forward()}},
      {"msa_row_backward", backward(msa_row)},
      {"msa_column_backward", backward(column)},
      {"layer_norm_linear_forward", {linear, ir::Direction::forward()}},
      {"layer_norm_linear_backward", backward(linear)},
      {"transition_forward", {transition, ir::Direction::forward()}},
      {"transition_backward", backward(transition)},
  };
}

bool is_elf(const std::vector<char>& binary) {
  return binary.size() >= 20 && std::memcmp(binary.data(), "\x7f" "ELF", 4) == 0;
}

std::uint16_t elf_half(const std::vector<char>& binary, std::size_t offset) {
  std::uint16_t value = 0;
  std::memcpy(&value, binary.data() + offset, sizeof(value));
  return value;
}

// Every kernel is launched with enough threads for the ones that run its iterations, and
// no whole block more.
void expect_launches(const GpuProgram& program) {
  ASSERT_FALSE(program.kernels.empty());
  for (const GpuKernel& kernel : program.kernels) {
    SCOPED_TRACE(kernel.name);
    EXPECT_GE(kernel.iterations, 1);
    EXPECT_EQ(kernel.threads, std::min<std::int64_t>(kernel.iterations, 16384));
    EXPECT_EQ(kernel.block, 128);
    EXPECT_GE(kernel.grid * kernel.block, kernel.threads);
    EXPECT_LT((kernel.grid - 1) * kernel.block, kernel.threads);
  }
}

class GpuProgramCompiles : public ::testing::TestWithParam<GpuCase> {};

TEST_P(GpuProgramCompiles, ToCubinsForAmpereAndHopper) {
  if (!NvJitLink::instance().available()) GTEST_SKIP() << NvJitLink::instance().unavailable_reason();
  const ir::Problem& problem = GetParam().problem;
  for (const char* arch : {"sm_80", "sm_90a"}) {
    SCOPED_TRACE(arch);
    const GpuProgram program = compile_gpu_program(problem, arch);
    expect_launches(program);
    EXPECT_THAT(program.assembly, HasSubstr(std::string(".target ") + arch));
    if (std::string(arch) == "sm_90a") {
      EXPECT_THAT(program.assembly, HasSubstr(".version 8.0"));
    }
    EXPECT_TRUE(is_elf(program.binary));
    // ptxas compiled every kernel, without spilling.
    const auto report = parse_ptxas_report(program.link_log);
    ASSERT_EQ(report.size(), program.kernels.size()) << program.link_log;
    for (const GpuKernel& kernel : program.kernels) {
      EXPECT_THAT(program.assembly, HasSubstr(".entry " + kernel.name + "("));
      bool reported = false;
      for (const auto& entry : report)
        if (entry.function == kernel.name) {
          reported = true;
          EXPECT_EQ(entry.spill_store_bytes, 0) << kernel.name;
        }
      EXPECT_TRUE(reported) << kernel.name << " is missing from\n" << program.link_log;
    }
  }
}

TEST_P(GpuProgramCompiles, ToHsacosForMi250AndMi300) {
  const ir::Problem& problem = GetParam().problem;
  for (const char* arch : {"gfx90a", "gfx942"}) {
    SCOPED_TRACE(arch);
    const GpuProgram program = compile_gpu_program(problem, arch);
    expect_launches(program);
    EXPECT_THAT(program.assembly, HasSubstr(std::string("amdgcn-amd-amdhsa--") + arch));
    for (const GpuKernel& kernel : program.kernels)
      EXPECT_THAT(program.assembly, HasSubstr(".amdhsa_kernel " + kernel.name + "\n"));
    // A shared object (ET_DYN) for the AMDGPU machine (EM_AMDGPU = 224): what the HIP
    // runtime loads.
    ASSERT_TRUE(is_elf(program.binary));
    EXPECT_EQ(elf_half(program.binary, 16), 3);
    EXPECT_EQ(elf_half(program.binary, 18), 224);
    EXPECT_TRUE(program.link_log.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(EveryOperator, GpuProgramCompiles, ::testing::ValuesIn(gpu_cases()),
                         [](const ::testing::TestParamInfo<GpuCase>& test) { return test.param.name; });

TEST(GpuProgram, ScratchRowsInterleaveTheThreads) {
  // The EvoAttention forward keeps a row of N logits and D outputs per thread.
  const auto op = ir::single_attention(1, 40, 2, 32, attention(DType::kBF16, true, ir::MaskKind::kNone));
  const GpuProgram program = compile_gpu_program({op, ir::Direction::forward()}, "gfx942");
  ASSERT_EQ(program.kernels.size(), 1u);
  EXPECT_EQ(program.kernels[0].scratch_elements_per_thread, 40 + 32);
  EXPECT_EQ(program.scratch_elements, program.kernels[0].threads * (40 + 32));
  EXPECT_THAT(gpu_module_text({op, ir::Direction::forward()}), HasSubstr("strided<[80]"));
}

// The EvoAttention backward on a GPU: one thread per row, key or d_bias element, with each
// row's lse and Δ in the workspace, instead of the host's slice groups.
TEST(GpuProgram, EvoAttentionBackwardRunsOneThreadPerRowKeyAndBiasElement) {
  const auto forward = ir::triangle_attention_ending(2, 12, 3, 16, attention(DType::kBF16, true, ir::MaskKind::kBoolean));
  const GpuProgram program = compile_gpu_program(backward(forward), "gfx942");
  const std::int64_t rows = 2 * 12 * 3 * 12;
  ASSERT_EQ(program.kernels.size(), 4u);
  EXPECT_EQ(program.kernels[0].name, "evo_attention_row_statistics");
  EXPECT_EQ(program.kernels[1].name, "evo_attention_d_q");
  EXPECT_EQ(program.kernels[2].name, "evo_attention_d_kv");
  EXPECT_EQ(program.kernels[3].name, "evo_attention_d_bias");
  for (int k = 0; k < 3; ++k) EXPECT_EQ(program.kernels[k].iterations, rows);
  EXPECT_EQ(program.kernels[3].iterations, 2 * 3 * 12 * 12);  // d_bias [B, 1, H, N, N]
  EXPECT_EQ(program.workspace_elements, 2 * rows);
}

// The LayerNormLinear dW on a GPU: one thread per element, not per input feature.
TEST(GpuProgram, LayerNormLinearWeightGradientRunsOneThreadPerElement) {
  const auto forward = ir::layer_norm_linear(50, 24, 40);
  const GpuProgram program = compile_gpu_program(backward(forward), "sm_90a");
  std::vector<std::string> names;
  for (const GpuKernel& kernel : program.kernels) names.push_back(kernel.name);
  EXPECT_THAT(names, ::testing::ElementsAre("layer_norm_linear_d_x", "layer_norm_linear_d_params",
                                            "layer_norm_linear_d_weight", "layer_norm_linear_d_bias"));
  EXPECT_EQ(program.kernels[2].iterations, 24 * 40);
}

TEST(GpuProgram, WorkspaceOfTheTransitionBackward) {
  ir::TransitionOptions options;
  options.dtype = DType::kF32;
  const auto forward = ir::transition(300, 8, 2, options);
  const GpuProgram program = compile_gpu_program(backward(forward), "gfx90a");
  // dγ and dβ partial sums per row block; a GPU takes up to 1024 blocks, here one per row.
  EXPECT_EQ(program.workspace_elements, 300 * 2 * 8);
}

TEST(GpuProgram, F64AndUnknownArchsAreUnsupported) {
  const auto op = ir::single_attention(1, 8, 1, 16, attention(DType::kF64, false, ir::MaskKind::kNone));
  const ir::Problem f64{op, ir::Direction::forward()};
  EXPECT_THAT(gpu_unsupported(f64).value_or(""), HasSubstr("f64"));
  try {
    compile_gpu_program(f64, "sm_90a");
    ADD_FAILURE() << "an f64 problem compiled for the GPU";
  } catch (const ir::Error& error) {
    EXPECT_EQ(error.kind(), ir::ErrorKind::kUnsupported);
  }
  const auto f32 = ir::single_attention(1, 8, 1, 16, attention(DType::kF32, false, ir::MaskKind::kNone));
  for (const char* arch : {"sm80", "gfx", "x86_64", ""}) {
    try {
      compile_gpu_program({f32, ir::Direction::forward()}, arch);
      ADD_FAILURE() << "arch '" << arch << "' was accepted";
    } catch (const ir::Error& error) {
      EXPECT_EQ(error.kind(), ir::ErrorKind::kUnsupported);
      EXPECT_THAT(error.what(), HasSubstr("arch " + std::string(arch)));
    }
  }
}

TEST(GpuProgram, LoweredTextIsTheTargetsDialect) {
  const auto op = ir::single_attention(1, 8, 1, 16, attention(DType::kF32, true, ir::MaskKind::kBoolean));
  const ir::Problem problem{op, ir::Direction::forward()};
  EXPECT_THAT(gpu_module_text(problem), HasSubstr("gpu.func @evo_attention_rows"));
  EXPECT_THAT(gpu_lowered_text(problem, "sm_90a"), HasSubstr("nvvm.read.ptx.sreg.tid.x"));
  EXPECT_THAT(gpu_lowered_text(problem, "gfx942"), HasSubstr("rocdl.workitem.id.x"));
}

}  // namespace
}  // namespace mf::compiler::mlir_generator
