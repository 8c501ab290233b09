#include "mf/compiler/evo_attention_config.h"

#include "config_fields.h"

namespace mf::compiler {
namespace {

using Forward = EvoForwardConfig;
using Backward = EvoBackwardConfig;
constexpr std::array<ConfigField<Forward>, 6> kForwardFields{{{"version", &Forward::version},
                                                              {"warps", &Forward::warps},
                                                              {"block_k", &Forward::block_k},
                                                              {"stages", &Forward::stages},
                                                              {"occupancy", &Forward::occupancy},
                                                              {"rows_per_block", &Forward::rows_per_block}}};
constexpr std::array<ConfigField<Backward>, 8> kBackwardFields{
    {{"key_warps", &Backward::key_warps},
     {"key_block_q", &Backward::key_block_q},
     {"key_groups", &Backward::key_groups},
     {"query_warps", &Backward::query_warps},
     {"query_block_k", &Backward::query_block_k},
     {"query_occupancy", &Backward::query_occupancy},
     {"query_rows_per_block", &Backward::query_rows_per_block},
     {"stages", &Backward::stages}}};

}  // namespace

EvoForwardConfig EvoForwardConfig::from(const ir::TileConfig& config) { return read_fields(config, kForwardFields); }
ir::TileConfig EvoForwardConfig::tile() const { return write_fields(*this, kForwardFields); }
EvoBackwardConfig EvoBackwardConfig::from(const ir::TileConfig& config) { return read_fields(config, kBackwardFields); }
ir::TileConfig EvoBackwardConfig::tile() const { return write_fields(*this, kBackwardFields); }

}  // namespace mf::compiler
