#include "mf/ir/tensor_list.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ir/options.h"

namespace mf::ir {
namespace {

// "name:r" or "name:w" per tensor, in list order.
std::vector<std::string> describe(const Problem& problem) {
  std::vector<std::string> entries;
  for (const NamedTensor& tensor : tensor_list(problem))
    entries.push_back(std::string(tensor.name) + (tensor.access == Access::kRead ? ":r" : ":w"));
  return entries;
}

TEST(TensorList, EvoForwardWritesOutputAndLse) {
  const Problem problem{single_attention(1, 5, 2, 8), Direction::forward()};
  EXPECT_EQ(describe(problem), (std::vector<std::string>{"q:r", "k:r", "v:r", "bias:r", "mask:r", "o:w", "lse:w"}));
  const auto list = tensor_list(problem);
  EXPECT_EQ(list[0].desc, &std::get<EvoAttention>(problem.op).q);  // points into the problem
}

TEST(TensorList, EvoBackwardReadsSavedTensorsAndWritesGradients) {
  const std::uint32_t gradients = EvoAttention::kGradQ | EvoAttention::kGradBias;
  const Problem problem{with_gradients(single_attention(1, 5, 2, 8, testing::with<EvoLayoutOptions>([&](auto& o) {
                                                          o.mask_kind = MaskKind::kNone;
                                                        })),
                                       gradients),
                        Direction::backward(gradients)};
  EXPECT_EQ(describe(problem),
            (std::vector<std::string>{"q:r", "k:r", "v:r", "bias:r", "o:r", "lse:r", "d_o:r", "d_q:w", "d_bias:w"}));
}

TEST(TensorList, ForwardSkipsGradientTensors) {
  Problem problem{
      with_gradients(layer_norm_linear(4, 8, 2, testing::with<LinearOptions>([&](auto& o) { o.with_beta = false; })),
                     LayerNormLinear::kGradX),
      Direction::forward()};
  EXPECT_EQ(describe(problem),
            (std::vector<std::string>{"x:r", "gamma:r", "weight:r", "bias:r", "y:w", "mean:w", "rstd:w"}));
}

TEST(TensorList, TransitionBackward) {
  const Problem problem{with_gradients(transition(4, 8, 2), Transition::kGradW1),
                        Direction::backward(Transition::kGradW1)};
  EXPECT_EQ(describe(problem), (std::vector<std::string>{"x:r", "gamma:r", "beta:r", "w1:r", "w2:r", "y:r", "mean:r",
                                                         "rstd:r", "d_y:r", "d_w1:w"}));
}

}  // namespace
}  // namespace mf::ir
