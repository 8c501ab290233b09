#include "mf/ir/tile_config.h"

#include <gtest/gtest.h>

#include "ir/expect_error.h"

namespace mf::ir {
namespace {

TEST(TileConfig, GetSetAndPrintInNameOrder) {
  TileConfig config;
  config.set("block_q", 128).set("block_k", 64);
  EXPECT_EQ(config.get("block_q"), 128);
  EXPECT_EQ(config.get("stages"), std::nullopt);
  EXPECT_EQ(config.at("block_k"), 64);
  EXPECT_EQ(to_string(config), "block_k=64,block_q=128");
  config.generator = "mlir";
  EXPECT_EQ(to_string(config), "generator=mlir,block_k=64,block_q=128");
  EXPECT_EQ(to_string(TileConfig{"reference", {}}), "generator=reference");
  EXPECT_NE(config, (TileConfig{"", config.params}));  // the generator is part of the configuration
}

TEST(TileConfig, AtNamesTheMissingParameter) {
  testing::expect_error([] { (void)TileConfig{}.at("warps"); }, ErrorKind::kInvalidArgument,
                        "tile config has no parameter 'warps'");
}

}  // namespace
}  // namespace mf::ir
