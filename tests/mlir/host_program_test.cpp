// The MLIR generator's programs against the reference backend: the host programs, and the
// GPU path's kernels run thread by thread on the host (HostProgram::compile_gpu_kernels).
// Every pass and gradient, every dtype, optional parameters, both weight layouts, odd
// sizes and strided views; results independent of how a stage is split across threads.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <unistd.h>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "mf/compiler/mlir/gpu_program.h"
#include "mf/compiler/mlir/host_program.h"
#include "mf/ir/error.h"
#include "mf/ir/layer_norm_linear.h"
#include "mf/ir/evo_attention.h"
#include "mf/ir/transition.h"
#include "reference/reference_testing.h"

namespace mf::compiler::mlir_generator {
namespace {

using ir::DType;
using ir::LayerNormLinear;
using reference::testing::ProblemTensors;
using ::testing::HasSubstr;

// Runs every stage of `program` over its iterations cut into `pieces` ranges, one thread
// per range.
void run(const HostProgram& program, const ir::Problem& problem, ProblemTensors& tensors, int pieces) {
  std::vector<void*> pointers;
  for (const auto& named : ir::tensor_list(problem)) pointers.push_back(tensors.ptr(named.name));
  std::vector<float> workspace(program.workspace_bytes() / sizeof(float));
  for (std::size_t s = 0; s < program.stages().size(); ++s) {
    const std::int64_t iterations = program.stages()[s].iterations;
    std::vector<std::thread> threads;
    for (int piece = 0; piece < pieces; ++piece) {
      const std::int64_t begin = iterations * piece / pieces, end = iterations * (piece + 1) / pieces;
      threads.emplace_back([&, s, begin, end] { program.run(s, pointers, workspace.data(), begin, end); });
    }
    for (auto& thread : threads) thread.join();
  }
}

// What a problem's results are checked for: the host program, and the GPU path's kernels
// run on the host (gpu_program.h; for the problems the GPU path serves).
std::vector<std::pair<std::string, std::unique_ptr<HostProgram>>> programs(const ir::Problem& problem) {
  std::vector<std::pair<std::string, std::unique_ptr<HostProgram>>> all;
  all.emplace_back("host program", HostProgram::compile(problem));
  if (!gpu_unsupported(problem)) all.emplace_back("GPU kernels run on the host", HostProgram::compile_gpu_kernels(problem));
  return all;
}

struct LinearCase {
  std::string name;
  std::int64_t rows, in_features, out_features;
  ir::LinearOptions options;
};

void PrintTo(const LinearCase& c, std::ostream* out) { *out << c.name; }

ir::LinearOptions linear(DType dtype, bool beta, bool bias, bool torch_weight,
                         std::optional<DType> param_dtype = std::nullopt) {
  ir::LinearOptions options;
  options.dtype = dtype;
  options.param_dtype = param_dtype;
  options.with_beta = beta;
  options.with_bias = bias;
  options.torch_weight = torch_weight;
  return options;
}

std::vector<LinearCase> linear_cases() {
  return {
      {"f32_one_row", 1, 8, 4, linear(DType::kF32, true, true, false)},
      {"f32_odd_torch_weight", 7, 17, 5, linear(DType::kF32, true, true, true)},
      {"bf16_f32_params_plain", 33, 24, 19, linear(DType::kBF16, false, false, false, DType::kF32)},
      {"bf16_torch_weight", 1000, 20, 12, linear(DType::kBF16, true, true, true)},
      {"f16_no_beta", 7, 16, 9, linear(DType::kF16, false, true, false)},
      {"f16_torch_weight_f32_params", 45, 13, 30, linear(DType::kF16, true, false, true, DType::kF32)},
      {"f64", 11, 9, 7, linear(DType::kF64, true, true, false)},
  };
}

// x as every other column of a wider buffer and y with padded rows: strides, not copies.
LayerNormLinear strided_views(LayerNormLinear op) {
  op.x.strides = {2 * op.in_features(), 2};
  op.y.strides = {op.out_features() + 3, 1};
  return op;
}

void expect_close(ProblemTensors& got, ProblemTensors& expected, const std::string& name) {
  SCOPED_TRACE(name);
  const reference::HostTensor& tensor = got[name];
  const double error = reference::relative_error(tensor, expected[name]);
  EXPECT_LT(error, reference::tolerance(tensor.desc().dtype));
}

class HostLayerNormLinear : public ::testing::TestWithParam<LinearCase> {
 protected:
  LayerNormLinear op(bool strided) const {
    const LinearCase& c = GetParam();
    LayerNormLinear made = ir::layer_norm_linear(c.rows, c.in_features, c.out_features, c.options);
    return strided ? strided_views(made) : made;
  }
  reference::ThreadPool pool_{2};
};

TEST_P(HostLayerNormLinear, ForwardMatchesTheReference) {
  for (bool strided : {false, true}) {
    SCOPED_TRACE(strided ? "strided views" : "contiguous");
    const LayerNormLinear forward = op(strided);
    const ir::Problem problem{forward, ir::Direction::forward()};
    ProblemTensors expected(forward, 3);
    reference::testing::run_pass(forward, ir::Direction::forward(), expected, pool_);
    for (const auto& [path, program] : programs(problem)) {
      SCOPED_TRACE(path);
      ProblemTensors got(forward, 3);
      run(*program, problem, got, 3);
      for (const char* name : {"y", "mean", "rstd"}) expect_close(got, expected, name);
    }
  }
}

TEST_P(HostLayerNormLinear, EveryGradientMatchesTheReference) {
  for (bool strided : {false, true}) {
    SCOPED_TRACE(strided ? "strided views" : "contiguous");
    const LayerNormLinear forward = op(strided);
    const std::uint32_t gradients = forward.all_gradients();
    const LayerNormLinear backward = ir::with_gradients(forward, gradients);
    const ir::Problem problem{backward, ir::Direction::backward(gradients)};
    ProblemTensors expected(backward, 5);
    reference::testing::run_pass(backward, ir::Direction::forward(), expected, pool_);
    reference::testing::run_pass(backward, problem.direction, expected, pool_);
    for (const auto& [path, program] : programs(problem)) {
      SCOPED_TRACE(path);
      ProblemTensors got(backward, 5);
      // The backward reads the statistics the forward saved.
      reference::testing::run_pass(backward, ir::Direction::forward(), got, pool_);
      run(*program, problem, got, 2);
      for (const auto& named : ir::tensor_list(problem))
        if (named.access == ir::Access::kWrite) expect_close(got, expected, std::string(named.name));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, HostLayerNormLinear, ::testing::ValuesIn(linear_cases()),
                         [](const ::testing::TestParamInfo<LinearCase>& param) { return param.param.name; });

// Compiling a host program leaves no profiler file behind unless asked (issue 27: perf's
// listener wrote a jitdump file per process under $JITDUMPDIR/.debug/jit).
TEST(HostProgramFiles, NoJitdumpUnlessProfilingIsAsked) {
  const std::filesystem::path dump_dir =
      std::filesystem::temp_directory_path() / ("mf_jitdump_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dump_dir);
  ::setenv("JITDUMPDIR", dump_dir.c_str(), 1);
  ::unsetenv("MFJIT_JIT_PROFILING");
  const LayerNormLinear op = ir::layer_norm_linear(3, 8, 5, linear(DType::kF32, true, true, false));
  auto program = HostProgram::compile({op, ir::Direction::forward()});
  ASSERT_NE(program, nullptr);
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::recursive_directory_iterator(dump_dir)) ++files;
  ::unsetenv("JITDUMPDIR");
  std::filesystem::remove_all(dump_dir);
  EXPECT_EQ(files, 0u) << "a profiler listener wrote under JITDUMPDIR";
}

// A pass asked for some gradients writes those and leaves the others' memory alone.
TEST(HostLayerNormLinearGradients, OnlyTheRequestedOnes) {
  reference::ThreadPool pool(1);
  const LayerNormLinear forward = ir::layer_norm_linear(9, 8, 6, linear(DType::kF32, true, true, false));
  for (std::uint32_t gradients : {LayerNormLinear::kGradX, LayerNormLinear::kGradBias,
                                  LayerNormLinear::kGradGamma | LayerNormLinear::kGradWeight,
                                  LayerNormLinear::kGradBeta}) {
    SCOPED_TRACE(gradients);
    const LayerNormLinear backward = ir::with_gradients(forward, gradients);
    const ir::Problem problem{backward, ir::Direction::backward(gradients)};
    ProblemTensors got(backward, 8), expected(backward, 8);
    reference::testing::run_pass(backward, ir::Direction::forward(), got, pool);
    reference::testing::run_pass(backward, ir::Direction::forward(), expected, pool);
    run(*HostProgram::compile(problem), problem, got, 1);
    reference::testing::run_pass(backward, problem.direction, expected, pool);
    for (const auto& named : ir::tensor_list(problem))
      if (named.access == ir::Access::kWrite) expect_close(got, expected, std::string(named.name));
  }
}

// Each output element is summed by one iteration in a fixed order: a different split of
// the stages across threads gives the same bits.
TEST(HostLayerNormLinearGradients, BitwiseIndependentOfTheThreadSplit) {
  reference::ThreadPool pool(1);
  const LayerNormLinear forward = ir::layer_norm_linear(101, 16, 9, linear(DType::kBF16, true, true, false));
  const LayerNormLinear backward = ir::with_gradients(forward, forward.all_gradients());
  const ir::Problem problem{backward, ir::Direction::backward(forward.all_gradients())};
  auto program = HostProgram::compile(problem);
  ProblemTensors one(backward, 9), seven(backward, 9);
  reference::testing::run_pass(backward, ir::Direction::forward(), one, pool);
  reference::testing::run_pass(backward, ir::Direction::forward(), seven, pool);
  run(*program, problem, one, 1);
  run(*program, problem, seven, 7);
  for (const auto& named : ir::tensor_list(problem)) {
    if (named.access != ir::Access::kWrite) continue;
    const std::string name(named.name);
    ASSERT_EQ(one[name].bytes(), seven[name].bytes());
    EXPECT_EQ(std::memcmp(one[name].data(), seven[name].data(), one[name].bytes()), 0) << name;
  }
}

// ---- Transition ---------------------------------------------------------------------------

struct TransitionCase {
  std::string name;
  std::int64_t rows, dim, expansion;
  ir::TransitionOptions options;
};

void PrintTo(const TransitionCase& c, std::ostream* out) { *out << c.name; }

ir::TransitionOptions mlp(DType dtype, bool layer_norm, bool beta, bool torch_weights,
                          std::optional<DType> param_dtype = std::nullopt) {
  ir::TransitionOptions options;
  options.dtype = dtype;
  options.param_dtype = param_dtype;
  options.layer_norm = layer_norm;
  options.with_beta = beta;
  options.torch_weights = torch_weights;
  return options;
}

std::vector<TransitionCase> transition_cases() {
  return {
      {"f32_one_row", 1, 8, 2, mlp(DType::kF32, true, true, false)},
      {"f32_odd_torch_weights", 7, 13, 4, mlp(DType::kF32, true, true, true)},
      {"f32_no_layer_norm", 9, 8, 2, mlp(DType::kF32, false, false, false)},
      {"bf16_many_rows", 1000, 16, 2, mlp(DType::kBF16, true, true, false)},
      {"bf16_no_beta_f32_params", 77, 12, 4, mlp(DType::kBF16, true, false, true, DType::kF32)},
      {"f16", 65, 8, 4, mlp(DType::kF16, true, true, false)},
      {"f64", 10, 6, 2, mlp(DType::kF64, true, true, true)},
  };
}

class HostTransition : public ::testing::TestWithParam<TransitionCase> {
 protected:
  ir::Transition op(bool strided) const {
    const TransitionCase& c = GetParam();
    ir::Transition made = ir::transition(c.rows, c.dim, c.expansion, c.options);
    if (strided) {  // x and y as every other column of wider buffers
      made.x.strides = {2 * made.dim(), 2};
      made.y.strides = {2 * made.dim(), 2};
    }
    return made;
  }
  reference::ThreadPool pool_{2};
};

TEST_P(HostTransition, ForwardMatchesTheReference) {
  for (bool strided : {false, true}) {
    SCOPED_TRACE(strided ? "strided views" : "contiguous");
    const ir::Transition forward = op(strided);
    const ir::Problem problem{forward, ir::Direction::forward()};
    ProblemTensors expected(forward, 3);
    reference::testing::run_pass(forward, ir::Direction::forward(), expected, pool_);
    for (const auto& [path, program] : programs(problem)) {
      SCOPED_TRACE(path);
      ProblemTensors got(forward, 3);
      run(*program, problem, got, 3);
      for (const auto& named : ir::tensor_list(problem))
        if (named.access == ir::Access::kWrite) expect_close(got, expected, std::string(named.name));
    }
  }
}

TEST_P(HostTransition, EveryGradientMatchesTheReference) {
  for (bool strided : {false, true}) {
    SCOPED_TRACE(strided ? "strided views" : "contiguous");
    const ir::Transition forward = op(strided);
    const ir::Transition backward = ir::with_gradients(forward, forward.all_gradients());
    const ir::Problem problem{backward, ir::Direction::backward(forward.all_gradients())};
    ProblemTensors expected(backward, 5);
    reference::testing::run_pass(backward, ir::Direction::forward(), expected, pool_);
    reference::testing::run_pass(backward, problem.direction, expected, pool_);
    for (const auto& [path, program] : programs(problem)) {
      SCOPED_TRACE(path);
      ProblemTensors got(backward, 5);
      reference::testing::run_pass(backward, ir::Direction::forward(), got, pool_);
      run(*program, problem, got, 3);
      for (const auto& named : ir::tensor_list(problem))
        if (named.access == ir::Access::kWrite) expect_close(got, expected, std::string(named.name));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, HostTransition, ::testing::ValuesIn(transition_cases()),
                         [](const ::testing::TestParamInfo<TransitionCase>& param) { return param.param.name; });

TEST(HostTransitionGradients, OnlyTheRequestedOnesAndBitwiseIndependentOfTheSplit) {
  reference::ThreadPool pool(1);
  const ir::Transition forward = ir::transition(70, 8, 2, mlp(DType::kBF16, true, true, false));
  for (std::uint32_t gradients : {ir::Transition::kGradX, ir::Transition::kGradGamma | ir::Transition::kGradW2,
                                  ir::Transition::kGradBeta | ir::Transition::kGradW1, forward.all_gradients()}) {
    SCOPED_TRACE(gradients);
    const ir::Transition backward = ir::with_gradients(forward, gradients);
    const ir::Problem problem{backward, ir::Direction::backward(gradients)};
    auto program = HostProgram::compile(problem);
    ProblemTensors one(backward, 8), five(backward, 8), expected(backward, 8);
    for (ProblemTensors* t : {&one, &five, &expected})
      reference::testing::run_pass(backward, ir::Direction::forward(), *t, pool);
    run(*program, problem, one, 1);
    run(*program, problem, five, 5);
    reference::testing::run_pass(backward, problem.direction, expected, pool);
    for (const auto& named : ir::tensor_list(problem)) {
      if (named.access != ir::Access::kWrite) continue;
      const std::string name(named.name);
      expect_close(one, expected, name);
      EXPECT_EQ(std::memcmp(one[name].data(), five[name].data(), one[name].bytes()), 0) << name;
    }
  }
}

// ---- EvoAttention ---------------------------------------------------------------------------

struct AttentionCase {
  std::string name;
  ir::EvoAttention op;
};

void PrintTo(const AttentionCase& c, std::ostream* out) { *out << c.name; }

ir::EvoLayoutOptions layout(DType dtype, bool bias, std::optional<DType> bias_dtype, ir::MaskKind mask,
                            std::optional<DType> mask_dtype = std::nullopt) {
  ir::EvoLayoutOptions options;
  options.dtype = dtype;
  options.with_bias = bias;
  options.bias_dtype = bias_dtype;
  options.mask_kind = mask;
  options.additive_mask_dtype = mask_dtype;
  return options;
}

// The bias as [1, 1, H, 1, N]: shared by the queries as well, so that d_bias sums them.
ir::EvoAttention bias_shared_by_queries(ir::EvoAttention op) {
  op.bias->shape[3] = 1;
  op.bias->strides = {0, 0, op.seq_len(), 0, 1};
  return op;
}

std::vector<AttentionCase> attention_cases() {
  using ir::MaskKind;
  return {
      {"single_bf16_one_token", ir::single_attention(1, 1, 2, 16, layout(DType::kBF16, true, {}, MaskKind::kBoolean))},
      {"single_f32_odd", ir::single_attention(2, 17, 2, 24, layout(DType::kF32, true, DType::kF32, MaskKind::kAdditive))},
      {"triangle_start_bf16_f32_bias",
       ir::triangle_attention_starting(1, 9, 2, 16, layout(DType::kBF16, true, DType::kF32, MaskKind::kBoolean))},
      {"triangle_end_f16", ir::triangle_attention_ending(1, 8, 2, 32, layout(DType::kF16, true, {}, MaskKind::kBoolean))},
      {"triangle_end_f32_no_mask",
       ir::triangle_attention_ending(2, 5, 1, 16, layout(DType::kF32, true, {}, MaskKind::kNone))},
      {"msa_row_f32_additive_f32",
       ir::msa_row_attention(1, 3, 11, 2, 16, layout(DType::kF32, true, {}, MaskKind::kAdditive, DType::kF32))},
      {"msa_row_bf16_no_bias", ir::msa_row_attention(2, 2, 7, 1, 64, layout(DType::kBF16, false, {}, MaskKind::kBoolean))},
      {"msa_column_f16_no_mask",
       ir::msa_column_attention(1, 6, 4, 2, 16, layout(DType::kF16, false, {}, MaskKind::kNone))},
      {"msa_column_f32_boolean", ir::msa_column_attention(1, 9, 3, 2, 48, layout(DType::kF32, false, {}, MaskKind::kBoolean))},
      {"f64_single", ir::single_attention(1, 13, 2, 16, layout(DType::kF64, true, {}, MaskKind::kAdditive))},
      {"f64_triangle_bias_shared_by_queries",
       bias_shared_by_queries(ir::triangle_attention_starting(1, 6, 2, 16, layout(DType::kF64, true, {}, MaskKind::kBoolean)))},
      {"bf16_bias_shared_by_queries",
       bias_shared_by_queries(ir::msa_row_attention(1, 4, 10, 2, 16, layout(DType::kBF16, true, DType::kF32, MaskKind::kNone)))},
  };
}

class HostEvoAttention : public ::testing::TestWithParam<AttentionCase> {
 protected:
  reference::ThreadPool pool_{2};
};

TEST_P(HostEvoAttention, ForwardMatchesTheReference) {
  const ir::EvoAttention& forward = GetParam().op;
  const ir::Problem problem{forward, ir::Direction::forward()};
  ProblemTensors expected(forward, 3);
  reference::testing::run_pass(forward, ir::Direction::forward(), expected, pool_);
  for (const auto& [path, program] : programs(problem)) {
    SCOPED_TRACE(path);
    ProblemTensors got(forward, 3);
    run(*program, problem, got, 3);
    for (const char* name : {"o", "lse"}) expect_close(got, expected, name);
  }
}

TEST_P(HostEvoAttention, EveryGradientMatchesTheReference) {
  const ir::EvoAttention& forward = GetParam().op;
  const ir::EvoAttention backward = ir::with_gradients(forward, forward.all_gradients());
  const ir::Problem problem{backward, ir::Direction::backward(forward.all_gradients())};
  ProblemTensors expected(backward, 5);
  reference::testing::run_pass(backward, problem.direction, expected, pool_);
  for (const auto& [path, program] : programs(problem)) {
    SCOPED_TRACE(path);
    // The generated backward recomputes the forward's statistics: o and lse stay random.
    ProblemTensors got(backward, 5);
    run(*program, problem, got, 3);
    for (const auto& named : ir::tensor_list(problem))
      if (named.access == ir::Access::kWrite) expect_close(got, expected, std::string(named.name));
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, HostEvoAttention, ::testing::ValuesIn(attention_cases()),
                         [](const ::testing::TestParamInfo<AttentionCase>& param) { return param.param.name; });

// Rows whose keys are all dropped: O = 0, lse = +∞, zero gradients, never NaN.
TEST(HostEvoAttentionMasks, FullyMaskedRowsGiveZeros) {
  reference::ThreadPool pool(1);
  const ir::EvoAttention forward =
      ir::msa_row_attention(1, 3, 6, 2, 16, layout(DType::kF32, true, {}, ir::MaskKind::kBoolean));
  const ir::EvoAttention backward = ir::with_gradients(forward, forward.all_gradients());
  for (ir::Pass pass : {ir::Pass::kForward, ir::Pass::kBackward}) {
    const bool is_forward = pass == ir::Pass::kForward;
    const ir::Problem problem{is_forward ? forward : backward,
                              is_forward ? ir::Direction::forward() : ir::Direction::backward(forward.all_gradients())};
    auto masked_tensors = [&] {
      ProblemTensors tensors(backward, 4);
      reference::HostTensor& mask = tensors["mask"];
      for (std::int64_t key = 0; key < 6; ++key) {  // row s = 1 drops every key
        const std::int64_t index[5] = {0, 1, 0, 0, key};
        mask.set(index, 0.0);
      }
      return tensors;
    };
    ProblemTensors expected = masked_tensors();
    reference::testing::run_pass(backward, problem.direction, expected, pool);
    for (const auto& [path, program] : programs(problem)) {
      SCOPED_TRACE(path);
      ProblemTensors got = masked_tensors();
      run(*program, problem, got, 2);
      for (const auto& named : ir::tensor_list(problem)) {
        if (named.access != ir::Access::kWrite) continue;
        const std::string name(named.name);
        if (name == "lse") {
          const std::int64_t index[4] = {0, 1, 0, 3};
          EXPECT_EQ(got[name].get(index), std::numeric_limits<double>::infinity());
        }
        expect_close(got, expected, name);
      }
    }
  }
}

// A bias shared by all keys of a row does not change the softmax: its gradient, dS summed
// over the keys, is zero (Σ_k P·(dP − Δ) = Δ − Δ).
TEST(HostEvoAttentionGradients, ABiasSharedByTheKeysHasZeroGradient) {
  ir::EvoAttention forward =
      ir::msa_row_attention(1, 3, 9, 2, 16, layout(DType::kF32, true, {}, ir::MaskKind::kBoolean));
  forward.bias->shape[4] = 1;
  forward.bias->strides = {0, 0, 9, 1, 0};
  const ir::EvoAttention backward = ir::with_gradients(forward, ir::EvoAttention::kGradBias);
  const ir::Problem problem{backward, ir::Direction::backward(ir::EvoAttention::kGradBias)};
  ProblemTensors got(backward, 6);
  run(*HostProgram::compile(problem), problem, got, 2);
  for (double value : got["d_bias"].values()) EXPECT_LT(std::abs(value), 1e-5);
}

TEST(HostEvoAttentionGradients, OnlyTheRequestedOnesAndBitwiseIndependentOfTheSplit) {
  reference::ThreadPool pool(1);
  const ir::EvoAttention forward =
      ir::triangle_attention_starting(1, 7, 2, 16, layout(DType::kBF16, true, DType::kF32, ir::MaskKind::kBoolean));
  for (std::uint32_t gradients : {ir::EvoAttention::kGradQ, ir::EvoAttention::kGradK | ir::EvoAttention::kGradBias,
                                  ir::EvoAttention::kGradV, forward.all_gradients()}) {
    SCOPED_TRACE(gradients);
    const ir::EvoAttention backward = ir::with_gradients(forward, gradients);
    const ir::Problem problem{backward, ir::Direction::backward(gradients)};
    ProblemTensors expected(backward, 8);
    reference::testing::run_pass(backward, problem.direction, expected, pool);
    for (const auto& [path, program] : programs(problem)) {
      SCOPED_TRACE(path);
      ProblemTensors one(backward, 8), four(backward, 8);
      run(*program, problem, one, 1);
      run(*program, problem, four, 4);
      for (const auto& named : ir::tensor_list(problem)) {
        if (named.access != ir::Access::kWrite) continue;
        const std::string name(named.name);
        expect_close(one, expected, name);
        EXPECT_EQ(std::memcmp(one[name].data(), four[name].data(), one[name].bytes()), 0) << name;
      }
    }
  }
}

// ---- modules -------------------------------------------------------------------------------

TEST(HostProgramModule, OneStridedFunctionPerStageWithACInterface) {
  const LayerNormLinear forward = ir::layer_norm_linear(5, 8, 4, linear(DType::kBF16, true, true, true));
  const std::string text = HostProgram::module_text({forward, ir::Direction::forward()});
  // x is row-major: its unit stride is static; the torch-layout weight [N, K] viewed as
  // [K, N] has its unit stride first.
  EXPECT_THAT(text, HasSubstr("func.func @layer_norm_linear_rows(%arg0: memref<?x?xbf16, strided<[?, 1]>>"));
  EXPECT_THAT(text, HasSubstr("memref<?x?xbf16, strided<[1, ?]>>"));
  EXPECT_THAT(text, HasSubstr("llvm.emit_c_interface"));
  EXPECT_THAT(text, HasSubstr("math.rsqrt"));
  const auto backward = ir::with_gradients(forward, forward.all_gradients());
  const std::string gradients = HostProgram::module_text({backward, ir::Direction::backward(forward.all_gradients())});
  for (const char* stage : {"@layer_norm_linear_d_x", "@layer_norm_linear_d_params", "@layer_norm_linear_d_bias"})
    EXPECT_THAT(gradients, HasSubstr(stage));
}

TEST(HostProgramModule, ServesEveryOperatorAndNamesItsLLVM) {
  const ir::Problem attention{ir::single_attention(1, 8, 2, 16, ir::EvoLayoutOptions{}), ir::Direction::forward()};
  const ir::Problem linear{ir::layer_norm_linear(4, 8, 4), ir::Direction::forward()};
  const ir::Problem mlp{ir::transition(4, 8, 2), ir::Direction::forward()};
  for (const ir::Problem* problem : {&attention, &linear, &mlp}) EXPECT_FALSE(HostProgram::unsupported(*problem));
  EXPECT_THAT(HostProgram::module_text(attention), HasSubstr("func.func @evo_attention_rows"));
  EXPECT_THAT(HostProgram::version(), HasSubstr("LLVM 22"));
}

}  // namespace
}  // namespace mf::compiler::mlir_generator
