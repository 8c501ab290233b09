#include "mf/compiler/layer_norm_linear_config.h"

#include "config_fields.h"

namespace mf::compiler {
namespace {

using Forward = LinearForwardConfig;
using Backward = LinearBackwardConfig;
constexpr std::array<ConfigField<Forward>, 5> kForwardFields{{{"version", &Forward::version},
                                                              {"warps", &Forward::warps},
                                                              {"block_n", &Forward::block_n},
                                                              {"stages", &Forward::stages},
                                                              {"min_blocks", &Forward::min_blocks}}};
constexpr std::array<ConfigField<Backward>, 4> kBackwardFields{{{"version", &Backward::version},
                                                                {"warps", &Backward::warps},
                                                                {"block_n", &Backward::block_n},
                                                                {"weight_block_n", &Backward::weight_block_n}}};

}  // namespace

LinearForwardConfig LinearForwardConfig::from(const ir::TileConfig& config) { return read_fields(config, kForwardFields); }
ir::TileConfig LinearForwardConfig::tile() const { return write_fields(*this, kForwardFields); }
LinearBackwardConfig LinearBackwardConfig::from(const ir::TileConfig& config) {
  return read_fields(config, kBackwardFields);
}
ir::TileConfig LinearBackwardConfig::tile() const { return write_fields(*this, kBackwardFields); }

}  // namespace mf::compiler
