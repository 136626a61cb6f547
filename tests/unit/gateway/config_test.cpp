#include "gateway/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kgai::gateway {
namespace {

using ::testing::HasSubstr;

TEST(GatewayConfig, ReadsAnEndpointPickerConfig) {
  auto c = parse_gateway_config(R"(
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: queue-scorer
- {name: kv, type: kv-cache-utilization-scorer}
- type: session-affinity-scorer
  parameters: {maxSessions: 10}
- type: weighted-random-picker
schedulingProfiles:
- name: default
  plugins:
  - {pluginRef: queue-scorer, weight: 2}
  - {pluginRef: kv, weight: 1.5}
  - {pluginRef: session-affinity-scorer, weight: 5}
  - {pluginRef: weighted-random-picker}
saturationDetector: {queueDepthThreshold: 8, kvCacheUtilThreshold: 0.9, metricsStalenessThreshold: 200ms}
flowControl: {enabled: true, ttl: 1m, maxBytes: 64Mi, maxBytesPerBand: 1G, fairness: global-strict, ordering: edf}
objectives: [{name: batch, priority: -1}, {name: chat, priority: 10}]
modelRewrites:
- match: [llama]
  targets: [{model: llama-v2, weight: 90}, {model: llama-v3, weight: 10}]
sessionHeader: x-conversation
)",
                                "epp.yaml");
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->profile.scorers.size(), 3u);
  EXPECT_EQ(c->profile.scorers[1].name, "kv");
  EXPECT_EQ(c->profile.scorers[1].weight, 1.5);
  EXPECT_EQ(c->profile.picker.first, "weighted-random-picker");
  EXPECT_EQ(c->profile.post_picks.size(), 1u);  // the session scorer learns picks
  EXPECT_EQ(c->saturation.queue_depth_threshold, 8);
  EXPECT_DOUBLE_EQ(c->saturation.metrics_staleness_threshold, 0.2);
  EXPECT_TRUE(c->flow_control.enabled);
  EXPECT_EQ(c->flow_control.ttl, 60);
  EXPECT_EQ(c->flow_control.max_bytes, 64 << 20);
  EXPECT_EQ(c->flow_control.max_bytes_per_band, 1'000'000'000);
  EXPECT_EQ(c->flow_control.fairness, "global-strict");
  EXPECT_EQ(c->flow_control.ordering, "edf");
  ASSERT_EQ(c->objectives.size(), 2u);
  EXPECT_EQ(c->objectives[0].priority, -1);
  ASSERT_EQ(c->rewrites.size(), 1u);
  EXPECT_EQ(c->rewrites[0].targets[1].model, "llama-v3");
  EXPECT_EQ(c->session_header, "x-conversation");
  EXPECT_EQ(c->describe(),
            "queue-scorer x2, kv x1.5, session-affinity-scorer x5, weighted-random-picker");
}

// yaml-cpp 0.7 writes the escape "\N" (U+0085) as one byte that is not UTF-8: a rewrite target
// written so must reach the wire as UTF-8 (found by tests/fuzz).
TEST(GatewayConfig, EscapedScalarsComeOutAsUtf8) {
  auto c = parse_gateway_config("modelRewrites:\n- match: [a]\n  targets: [{model: \"b\\Nc\"}]\n",
                                "epp.yaml");
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->rewrites.size(), 1u);
  EXPECT_EQ(c->rewrites[0].targets[0].model,
            "b\xC2\x85"
            "c");
}

TEST(GatewayConfig, PickerDefaultsToMaxScore) {
  auto c = parse_gateway_config(
      "plugins: [{type: queue-scorer}]\n"
      "schedulingProfiles: [{name: p, plugins: [{pluginRef: queue-scorer}]}]\n",
      "x.yaml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->profile.picker.first, "max-score-picker");
  EXPECT_EQ(c->profile.scorers[0].weight, 1);
}

TEST(GatewayConfig, ErrorsNameTheKeyAndLine) {
  struct Case {
    std::string yaml;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"plugins: [{type: queue-scorer}]\nschedulingProfilez: []\n",
       "schedulingProfilez: unknown key; did you mean 'schedulingProfiles'? (line 2)"},
      {"plugins: [{type: queue-scorr}]\nschedulingProfiles: []\n",
       "plugins[0].type: unknown plugin type 'queue-scorr' (known: queue-scorer,"},
      {"plugins: [{type: queue-scorer}]\n"
       "schedulingProfiles: [{plugins: [{pluginRef: kv}]}]\n",
       "schedulingProfiles[0].plugins[0].pluginRef: no plugin named 'kv' in plugins (line 2)"},
      {"plugins: [{type: queue-scorer}]\n"
       "schedulingProfiles: [{plugins: [{pluginRef: queue-scorer, weight: heavy}]}]\n",
       "schedulingProfiles[0].plugins[0].weight: expected a number, got 'heavy'"},
      {"plugins: [{type: max-score-picker}]\n"
       "schedulingProfiles: [{plugins: [{pluginRef: max-score-picker, weight: 2}]}]\n",
       "weight: 'max-score-picker' is not a scorer"},
      {"plugins: [{type: random-picker}, {type: max-score-picker}]\n"
       "schedulingProfiles: [{plugins: [{pluginRef: random-picker}, {pluginRef: "
       "max-score-picker}]}]\n",
       "a profile has one picker; 'random-picker' is already it"},
      {"plugins: [{type: queue-scorer}, {type: queue-scorer}]\nschedulingProfiles: []\n",
       "plugins[1].name: plugin name 'queue-scorer' used twice"},
      {"plugins: [{type: queue-scorer, parameters: {depth: 3}}]\nschedulingProfiles: []\n",
       "plugins[0].parameters.depth: unknown key"},
      {"plugins: [{type: queue-scorer}]\n", "schedulingProfiles: required"},
      {"plugins: [{type: queue-scorer}]\nschedulingProfiles: [{}, {}]\n",
       "kgai runs one scheduling profile"},
      {"plugins: [{type: session-affinity-scorer, parameters: {maxSessions: 0}}]\n"
       "schedulingProfiles: []\n",
       "plugins[0].parameters.maxSessions: must be at least 1"},
      {"saturationDetector: {metricsStalenessThreshold: soon}\n",
       "saturationDetector.metricsStalenessThreshold: expected a positive duration"},
      {"saturationDetector: {kvCacheUtilThreshold: 0}\n",
       "saturationDetector.kvCacheUtilThreshold: expected a positive number, got '0'"},
      {"flowControl: {maxBytes: lots}\n", "flowControl.maxBytes: expected a byte count"},
      {"flowControl: {fairness: lottery}\n", "flowControl.fairness: 'lottery' is not supported"},
      {"objectives: [{name: a, priority: high}]\n",
       "objectives[0].priority: expected an integer, got 'high'"},
      {"objectives: [{priority: 1}]\n", "objectives[0].name: required"},
      {"objectives: [{name: a}, {name: a}]\n", "objectives[1].name: 'a' defined twice"},
      {"modelRewrites: [{match: [a], targets: []}]\n", "modelRewrites[0].targets: needs"},
      {"modelRewrites: [{match: [a], targets: [{model: b, weight: 0}]}]\n",
       "weights must not all be 0"},
      {"modelRewrites: [{targets: [{model: b}]}]\n", "modelRewrites[0].match: needs"},
      {"- a\n- b\n", "expected a map (plugins, schedulingProfiles, ...) at the top level"},
      {"plugins: [unclosed\n", "invalid YAML"},
      {"sessionHeader: [a]\n", "sessionHeader: expected a string"},
      {"sessionHeader: a\n---\nsessionHeader: b\n", "expected one YAML document, found 2"},
      {"sessionHeader: \"bad \xff byte\"\n", "invalid YAML"},
  };
  for (const auto& c : cases) {
    auto r = parse_gateway_config(c.yaml, "epp.yaml");
    ASSERT_FALSE(r) << c.yaml;
    EXPECT_THAT(r.error().message, HasSubstr(c.message)) << c.yaml;
    EXPECT_THAT(r.error().message, HasSubstr("epp.yaml")) << c.yaml;
  }
}

TEST(GatewayConfig, TruncatedAndGarbageInputNeverCrash) {
  const std::string good =
      "plugins: [{type: queue-scorer}, {type: max-score-picker}]\n"
      "schedulingProfiles: [{name: d, plugins: [{pluginRef: queue-scorer, weight: 2}]}]\n"
      "flowControl: {enabled: true, ttl: 2s}\n";
  for (size_t n = 0; n <= good.size(); ++n) (void)parse_gateway_config(good.substr(0, n), "t");
  std::string garbage;
  for (int i = 0; i < 2000; ++i) garbage += static_cast<char>((i * 7919) % 256);
  (void)parse_gateway_config(garbage, "g");
  (void)parse_gateway_config(std::string(10000, '['), "deep");
  SUCCEED();
}

TEST(GatewayConfig, Durations) {
  EXPECT_DOUBLE_EQ(*parse_duration_seconds("200ms"), 0.2);
  EXPECT_DOUBLE_EQ(*parse_duration_seconds("2s"), 2);
  EXPECT_DOUBLE_EQ(*parse_duration_seconds("1.5m"), 90);
  EXPECT_DOUBLE_EQ(*parse_duration_seconds("3"), 3);
  for (const char* bad : {"", "0s", "-1s", "2x", "s", "nan", "inf"}) {
    EXPECT_FALSE(parse_duration_seconds(bad)) << bad;
  }
}

TEST(GatewayConfig, MissingFile) {
  auto r = load_gateway_config("/nonexistent/epp.yaml");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("/nonexistent/epp.yaml: cannot open"));
}

}  // namespace
}  // namespace kgai::gateway
