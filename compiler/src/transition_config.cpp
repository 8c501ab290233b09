#include "mf/compiler/transition_config.h"

#include "config_fields.h"

namespace mf::compiler {
namespace {

using Forward = TransitionForwardConfig;
using Backward = TransitionBackwardConfig;
constexpr std::array<ConfigField<Forward>, 5> kForwardFields{{{"warps", &Forward::warps},
                                                              {"block_f", &Forward::block_f},
                                                              {"block_d", &Forward::block_d},
                                                              {"stages", &Forward::stages},
                                                              {"occupancy", &Forward::occupancy}}};
constexpr std::array<ConfigField<Backward>, 5> kBackwardFields{{{"warps", &Backward::warps},
                                                                {"block_f", &Backward::block_f},
                                                                {"occupancy", &Backward::occupancy},
                                                                {"weight_warps", &Backward::weight_warps},
                                                                {"weight_block_f", &Backward::weight_block_f}}};

}  // namespace

TransitionForwardConfig TransitionForwardConfig::from(const ir::TileConfig& config) {
  return read_fields(config, kForwardFields);
}
ir::TileConfig TransitionForwardConfig::tile() const { return write_fields(*this, kForwardFields); }
TransitionBackwardConfig TransitionBackwardConfig::from(const ir::TileConfig& config) {
  return read_fields(config, kBackwardFields);
}
ir::TileConfig TransitionBackwardConfig::tile() const { return write_fields(*this, kBackwardFields); }

}  // namespace mf::compiler
