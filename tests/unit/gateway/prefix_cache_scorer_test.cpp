#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "common/config_reader.h"
#include "gateway/plugin_registry.h"
#include "unit/gateway/plugin_test_util.h"

namespace kgai::gateway {
namespace {

using testing::Cycle;
using ::testing::ElementsAre;

std::shared_ptr<Plugin> make_with(const std::string& parameters_yaml, std::string* error) {
  std::vector<std::string> warnings;
  config::ConfigReader reader("test", warnings);
  reader.set_strict(true);
  YAML::Node node = YAML::Load(parameters_yaml);
  PluginArgs args{"prefix", &node, "plugins[0].parameters", &reader};
  auto plugin = make_prefix_cache_scorer(args);
  if (!reader.ok()) *error = reader.error().message;
  return plugin;
}

TEST(PrefixCacheScorer, ScoresTheShareOfLeadingBlocksAnEndpointHolds) {
  std::string error;
  auto plugin = make_with("{blockSize: 4, autoTune: false}", &error);
  ASSERT_TRUE(plugin) << error;
  auto scorer = std::dynamic_pointer_cast<Scorer>(plugin);
  auto hook = std::dynamic_pointer_cast<PostPick>(plugin);
  ASSERT_TRUE(scorer && hook);
  Cycle c(3);
  c.request.target_model = "m";
  c.request.prefix_text = "aaaabbbbccccdddd";                 // 4 blocks of 4 characters
  EXPECT_THAT(c.score(*scorer), ElementsAre(0.0, 0.0, 0.0));  // nothing learned yet
  hook->picked(c.context, c.pool.endpoints[1]);
  EXPECT_THAT(c.score(*scorer), ElementsAre(0.0, 1.0, 0.0));
  // A request sharing the first two blocks: half of it is cached on endpoint 1.
  c.request.prefix_text = "aaaabbbbxxxxyyyy";
  EXPECT_THAT(c.score(*scorer), ElementsAre(0.0, 0.5, 0.0));
  // Another model shares no cache.
  c.request.target_model = "other";
  c.request.prefix_text = "aaaabbbbccccdddd";
  EXPECT_THAT(c.score(*scorer), ElementsAre(0.0, 0.0, 0.0));
  // Shorter than one block: nothing to score.
  c.request.target_model = "m";
  c.request.prefix_text = "aaa";
  EXPECT_THAT(c.score(*scorer), ElementsAre(0.0, 0.0, 0.0));
}

TEST(PrefixCacheScorer, AutoTuneSizesEachEndpointFromItsKvCache) {
  std::string error;
  auto plugin = make_with("{blockSize: 4, lruCapacityPerServer: 1000}", &error);
  ASSERT_TRUE(plugin) << error;
  auto scorer = std::dynamic_pointer_cast<Scorer>(plugin);
  auto hook = std::dynamic_pointer_cast<PostPick>(plugin);
  Cycle c(1);
  // 2 blocks of 1 token = 2 tokens = 8 characters = 2 index blocks: a 4-block prompt keeps
  // only its first two blocks.
  c.pool.endpoints[0].metrics.block_size = 1;
  c.pool.endpoints[0].metrics.num_blocks = 2;
  c.request.target_model = "m";
  c.request.prefix_text = "aaaabbbbccccdddd";
  c.score(*scorer);  // tunes
  hook->picked(c.context, c.pool.endpoints[0]);
  EXPECT_THAT(c.score(*scorer), ElementsAre(0.5));
}

TEST(PrefixCacheScorer, BadParameters) {
  std::string error;
  EXPECT_FALSE(make_with("{blockSize: 0}", &error));
  EXPECT_NE(error.find("plugins[0].parameters.blockSize: must be at least 1"), std::string::npos)
      << error;
  error.clear();
  EXPECT_FALSE(make_with("{blocksize: 64}", &error));
  EXPECT_NE(error.find("unknown key; did you mean 'blockSize'?"), std::string::npos) << error;
  error.clear();
  EXPECT_FALSE(make_with("{autoTune: maybe}", &error));
  EXPECT_NE(error.find("autoTune"), std::string::npos) << error;
}

}  // namespace
}  // namespace kgai::gateway
