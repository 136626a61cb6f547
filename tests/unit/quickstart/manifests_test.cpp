#include "quickstart/manifests.h"

#include <fstream>
#include <map>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "perf/config.h"
#include "unit/quickstart/manifest_profiles.h"

namespace kgai::quickstart {
namespace {

using test_profiles::options;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::map<std::string, ManifestFile> by_name(const std::vector<ManifestFile>& files) {
  std::map<std::string, ManifestFile> out;
  for (const ManifestFile& f : files) out[f.file_name] = f;
  return out;
}

std::map<std::string, ManifestFile> make(const Profile& p, const ManifestOptions& o = options()) {
  auto files = make_manifests(p, o);
  EXPECT_TRUE(files.has_value()) << (files ? "" : files.error().message);
  return files ? by_name(*files) : std::map<std::string, ManifestFile>{};
}

YAML::Node parse(const ManifestFile& f) { return YAML::Load(f.content); }

YAML::Node container(const std::map<std::string, ManifestFile>& files) {
  return parse(files.at("deployment.yaml"))["spec"]["template"]["spec"]["containers"][0];
}

std::vector<std::string> args(const std::map<std::string, ManifestFile>& files) {
  return container(files)["args"].as<std::vector<std::string>>();
}

// The value following `flag` in the args, or "" when the flag is absent.
std::string flag_value(const std::vector<std::string>& args, const std::string& flag) {
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == flag) return args[i + 1];
  }
  return "";
}

TEST(Manifests, DeploymentArgsMatchSettings) {
  const Profile p = test_profiles::h100_tp4();
  const auto a = args(make(p));
  EXPECT_EQ(flag_value(a, "--model"), "meta-llama/Llama-3.1-70B-Instruct");
  EXPECT_EQ(flag_value(a, "--tensor-parallel-size"), "4");
  EXPECT_EQ(flag_value(a, "--max-num-seqs"), "512");
  EXPECT_EQ(flag_value(a, "--max-num-batched-tokens"), "8192");
  EXPECT_EQ(flag_value(a, "--max-model-len"), "16384");
  EXPECT_EQ(flag_value(a, "--gpu-memory-utilization"), "0.92");
  EXPECT_EQ(flag_value(a, "--block-size"), "16");
  EXPECT_EQ(flag_value(a, "--port"), "8000");
  EXPECT_THAT(a, ::testing::Contains("--no-enable-prefix-caching"));
  EXPECT_THAT(a, ::testing::Not(::testing::Contains("--enable-prefix-caching")));

  const auto l4 = args(make(test_profiles::l4_tp1()));
  EXPECT_THAT(l4, ::testing::Contains("--enable-prefix-caching"));
  EXPECT_EQ(flag_value(l4, "--max-num-seqs"), "256");
}

TEST(Manifests, UnsetSettingsAreLeftToVllm) {
  Profile p = test_profiles::l4_tp1();
  p.settings.max_num_seqs = 0;
  p.settings.max_num_batched_tokens = 0;
  const auto a = args(make(p));
  EXPECT_EQ(flag_value(a, "--max-num-seqs"), "");
  EXPECT_EQ(flag_value(a, "--max-num-batched-tokens"), "");
}

TEST(Manifests, CommentsSayWhereNumbersComeFrom) {
  const auto files = make(test_profiles::l4_tp1());
  const std::string& d = files.at("deployment.yaml").content;
  EXPECT_THAT(d, StartsWith(std::string(kManifestHeader)));
  EXPECT_THAT(d, HasSubstr("# max-num-seqs 256: the most requests in one batch, chosen by the "
                           "kgai quickstart search;"));
  EXPECT_THAT(d, HasSubstr("at 12.3 req/s per replica the simulated p90 TTFT is 180 ms (target "
                           "200)"));
  EXPECT_THAT(d, HasSubstr("2026-09-30 by kgai 0.1.0"));
}

TEST(Manifests, ContainerBasics) {
  const auto files = make(test_profiles::l4_tp1());
  const YAML::Node c = container(files);
  EXPECT_EQ(c["image"].as<std::string>(), kDefaultVllmImage);
  EXPECT_EQ(c["ports"][0]["containerPort"].as<int>(), 8000);
  EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"].as<std::string>(), "/health");
  EXPECT_GE(c["startupProbe"]["failureThreshold"].as<int>() *
                c["startupProbe"]["periodSeconds"].as<int>(),
            1200);
  EXPECT_EQ(c["volumeMounts"][0]["mountPath"].as<std::string>(), "/dev/shm");
  EXPECT_EQ(c["env"][0]["valueFrom"]["secretKeyRef"]["optional"].as<bool>(), true);
  const YAML::Node pod = parse(files.at("deployment.yaml"))["spec"]["template"]["spec"];
  EXPECT_EQ(pod["volumes"][0]["emptyDir"]["medium"].as<std::string>(), "Memory");
  const YAML::Node meta = parse(files.at("deployment.yaml"))["metadata"];
  EXPECT_EQ(meta["annotations"]["quickstart.kgai.dev/model"].as<std::string>(),
            "meta-llama/Llama-3.1-8B-Instruct");
  EXPECT_EQ(meta["annotations"]["quickstart.kgai.dev/accelerator"].as<std::string>(),
            "1 x nvidia-l4");
}

TEST(Manifests, AcceleratorCountAndNodeSelectorPerVendor) {
  struct Case {
    Profile profile;
    std::string resource, count;
    std::map<std::string, std::string> selector;
  };
  Profile a10g = test_profiles::l4_tp1();
  a10g.accelerator = "nvidia-a10g";
  Profile l4_on_aws = test_profiles::l4_tp1();
  l4_on_aws.cloud = "aws";
  const Case cases[] = {
      {test_profiles::l4_tp1(),
       "nvidia.com/gpu",
       "1",
       {{"cloud.google.com/gke-accelerator", "nvidia-l4"}}},
      {test_profiles::h100_tp4(),
       "nvidia.com/gpu",
       "4",
       {{"cloud.google.com/gke-accelerator", "nvidia-h100-80gb"}}},
      {test_profiles::tpu_v6e(),
       "google.com/tpu",
       "8",
       {{"cloud.google.com/gke-tpu-accelerator", "tpu-v6e-slice"},
        {"cloud.google.com/gke-tpu-topology", "2x4"}}},
      {test_profiles::amd_mi300x(), "amd.com/gpu", "1", {}},
      {a10g, "nvidia.com/gpu", "1", {}},       // no GKE node label for it
      {l4_on_aws, "nvidia.com/gpu", "1", {}},  // priced on AWS: no GKE label
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.profile.accelerator + " on " + c.profile.cloud);
    const auto files = make(c.profile);
    const YAML::Node limits = container(files)["resources"]["limits"];
    ASSERT_TRUE(limits.IsMap());
    EXPECT_EQ(limits.size(), 1u);
    EXPECT_EQ(limits[c.resource].as<std::string>(), c.count);
    const YAML::Node sel =
        parse(files.at("deployment.yaml"))["spec"]["template"]["spec"]["nodeSelector"];
    std::map<std::string, std::string> got;
    if (sel) got = sel.as<std::map<std::string, std::string>>();
    EXPECT_EQ(got, c.selector);
  }
}

TEST(Manifests, TpuCountWithoutSingleHostTopologyIsAnError) {
  Profile p = test_profiles::tpu_v6e();
  p.accelerator_count = 6;
  p.settings.tensor_parallel_size = 6;
  auto files = make_manifests(p, options());
  ASSERT_FALSE(files);
  EXPECT_THAT(files.error().message, HasSubstr("no single-host TPU topology holds 6 chips"));
}

TEST(Manifests, BadProfilesAndOptionsAreErrors) {
  Profile unknown = test_profiles::l4_tp1();
  unknown.accelerator = "gaudi3";
  EXPECT_THAT(make_manifests(unknown, options()).error().message, HasSubstr("unknown vendor"));
  Profile tp = test_profiles::l4_tp1();
  tp.settings.tensor_parallel_size = 2;
  EXPECT_THAT(make_manifests(tp, options()).error().message, HasSubstr("tensor_parallel_size"));
  Profile no_rate = test_profiles::l4_tp1();
  no_rate.point.offered_rate = no_rate.point.requests_per_second = 0;
  EXPECT_THAT(make_manifests(no_rate, options()).error().message, HasSubstr("no rate"));
  ManifestOptions o = options();
  o.monitoring = "datadog";
  EXPECT_THAT(make_manifests(test_profiles::l4_tp1(), o).error().message, HasSubstr("monitoring"));
  o = options();
  o.namespace_name = "Prod";
  EXPECT_THAT(make_manifests(test_profiles::l4_tp1(), o).error().message, HasSubstr("namespace"));
  Profile bad_utf8 = test_profiles::l4_tp1();
  bad_utf8.model = "model\xff";
  EXPECT_THAT(make_manifests(bad_utf8, options()).error().message, HasSubstr("UTF-8"));
}

TEST(Manifests, DraUsesAResourceClaimTemplate) {
  ManifestOptions o = options();
  o.dra = true;
  const auto files = make(test_profiles::h100_tp4(), o);
  ASSERT_TRUE(files.contains("resourceclaimtemplate.yaml"));
  const YAML::Node rct = parse(files.at("resourceclaimtemplate.yaml"));
  EXPECT_EQ(rct["apiVersion"].as<std::string>(), "resource.k8s.io/v1");
  const YAML::Node exactly = rct["spec"]["spec"]["devices"]["requests"][0]["exactly"];
  EXPECT_EQ(exactly["deviceClassName"].as<std::string>(), "gpu.nvidia.com");
  EXPECT_EQ(exactly["count"].as<int>(), 4);

  const YAML::Node pod = parse(files.at("deployment.yaml"))["spec"]["template"]["spec"];
  EXPECT_EQ(pod["resourceClaims"][0]["resourceClaimTemplateName"].as<std::string>(),
            rct["metadata"]["name"].as<std::string>());
  const YAML::Node resources = pod["containers"][0]["resources"];
  EXPECT_FALSE(resources["limits"]);
  EXPECT_EQ(resources["claims"][0]["name"].as<std::string>(),
            pod["resourceClaims"][0]["name"].as<std::string>());
  EXPECT_THAT(files.at("kustomization.yaml").content, HasSubstr("resourceclaimtemplate.yaml"));

  // Without DRA there is no claim template.
  EXPECT_FALSE(make(test_profiles::h100_tp4()).contains("resourceclaimtemplate.yaml"));
}

TEST(Manifests, DraForOtherVendorsNeedsADeviceClass) {
  ManifestOptions o = options();
  o.dra = true;
  EXPECT_THAT(make_manifests(test_profiles::amd_mi300x(), o).error().message,
              HasSubstr("DRA needs a device class"));
  o.device_class = "gpu.amd.com";
  const auto files = make(test_profiles::amd_mi300x(), o);
  EXPECT_EQ(parse(files.at("resourceclaimtemplate.yaml"))["spec"]["spec"]["devices"]["requests"][0]
                                                         ["exactly"]["deviceClassName"]
                                                             .as<std::string>(),
            "gpu.amd.com");
}

TEST(HpaTarget, LatencyTargetScalesOnTheRunningBatch) {
  const HpaTarget t = hpa_target(test_profiles::l4_tp1());
  EXPECT_EQ(t.metric, "vllm:num_requests_running");
  EXPECT_DOUBLE_EQ(t.value, 14.2);
  EXPECT_THAT(t.why, HasSubstr("latency target"));
}

TEST(HpaTarget, NoTargetScalesOnTheQueue) {
  const HpaTarget t = hpa_target(test_profiles::h100_tp4());
  EXPECT_EQ(t.metric, "vllm:num_requests_waiting");
  EXPECT_DOUBLE_EQ(t.value, 7.6);
}

TEST(HpaTarget, ThresholdsAreAtLeastOne) {
  Profile p = test_profiles::h100_tp4();
  p.point.mean_waiting = 0.2;
  EXPECT_DOUBLE_EQ(hpa_target(p).value, 1.0);
  p = test_profiles::l4_tp1();
  p.point.mean_running = 0.5;
  EXPECT_DOUBLE_EQ(hpa_target(p).value, 1.0);
}

TEST(HpaTarget, MetricNamesPerAdapter) {
  EXPECT_EQ(hpa_metric_name("vllm:num_requests_waiting", "servicemonitor"),
            "vllm_num_requests_waiting");
  EXPECT_EQ(hpa_metric_name("vllm:num_requests_waiting", "podmonitoring"),
            "prometheus.googleapis.com|vllm:num_requests_waiting|gauge");
}

TEST(Manifests, HpaObject) {
  const auto files = make(test_profiles::l4_tp1());
  const YAML::Node spec = parse(files.at("hpa.yaml"))["spec"];
  EXPECT_EQ(spec["scaleTargetRef"]["kind"].as<std::string>(), "Deployment");
  EXPECT_EQ(spec["minReplicas"].as<int>(), 1);
  EXPECT_EQ(spec["maxReplicas"].as<int>(), 4);
  const YAML::Node pods = spec["metrics"][0]["pods"];
  EXPECT_EQ(pods["metric"]["name"].as<std::string>(), "vllm_num_requests_running");
  EXPECT_EQ(pods["target"]["type"].as<std::string>(), "AverageValue");
  EXPECT_EQ(pods["target"]["averageValue"].as<std::string>(), "14200m");

  ManifestOptions o = options();
  o.monitoring = "podmonitoring";
  const auto gmp = make(test_profiles::h100_tp4(), o);
  ASSERT_TRUE(gmp.contains("podmonitoring.yaml"));
  EXPECT_FALSE(gmp.contains("servicemonitor.yaml"));
  const YAML::Node gspec = parse(gmp.at("hpa.yaml"))["spec"];
  EXPECT_EQ(gspec["minReplicas"].as<int>(), 3);  // the profile's replicas
  EXPECT_EQ(gspec["maxReplicas"].as<int>(), 12);
  EXPECT_EQ(gspec["metrics"][0]["pods"]["metric"]["name"].as<std::string>(),
            "prometheus.googleapis.com|vllm:num_requests_waiting|gauge");
  EXPECT_EQ(gspec["metrics"][0]["pods"]["target"]["averageValue"].as<std::string>(), "7600m");
  EXPECT_EQ(parse(gmp.at("deployment.yaml"))["spec"]["replicas"].as<int>(), 3);
}

TEST(Manifests, ReplicasOptionWins) {
  ManifestOptions o = options();
  o.replicas = 5;
  const auto files = make(test_profiles::h100_tp4(), o);
  EXPECT_EQ(parse(files.at("deployment.yaml"))["spec"]["replicas"].as<int>(), 5);
  EXPECT_EQ(parse(files.at("hpa.yaml"))["spec"]["minReplicas"].as<int>(), 5);
  EXPECT_EQ(parse(files.at("hpa.yaml"))["spec"]["maxReplicas"].as<int>(), 20);
}

TEST(Manifests, InferencePoolSelectsThePods) {
  const auto files = make(test_profiles::l4_tp1());
  const YAML::Node pool = parse(files.at("inferencepool.yaml"));
  EXPECT_EQ(pool["apiVersion"].as<std::string>(), "inference.networking.k8s.io/v1");
  const YAML::Node spec = pool["spec"];
  EXPECT_EQ(spec["targetPorts"][0]["number"].as<int>(), 8000);
  EXPECT_EQ(spec["endpointPickerRef"]["port"]["number"].as<int>(), 9002);
  EXPECT_EQ(spec["endpointPickerRef"]["name"].as<std::string>(), "vllm-llama-3-1-8b-instruct-epp");
  const auto selector = spec["selector"]["matchLabels"].as<std::map<std::string, std::string>>();
  const auto pod_labels =
      parse(files.at("deployment.yaml"))["spec"]["template"]["metadata"]["labels"]
          .as<std::map<std::string, std::string>>();
  for (const auto& [k, v] : selector) EXPECT_EQ(pod_labels.at(k), v);
  const auto svc =
      parse(files.at("service.yaml"))["spec"]["selector"].as<std::map<std::string, std::string>>();
  EXPECT_EQ(svc, selector);
}

TEST(DnsLabel, SanitizesHostileNames) {
  EXPECT_EQ(dns_label("Meta-Llama/Llama-3.1-8B-Instruct"), "meta-llama-llama-3-1-8b-instruct");
  EXPECT_EQ(dns_label("--a__b::c--"), "a-b-c");
  EXPECT_EQ(dns_label("Ünïcödé"), "n-c-d");
  EXPECT_EQ(dns_label("!!!"), "model");
  EXPECT_EQ(dns_label(""), "model");
  const std::string long_a(100, 'a');
  const std::string long_b = std::string(99, 'a') + "b";
  const std::string la = dns_label(long_a, 20), lb = dns_label(long_b, 20);
  EXPECT_EQ(la.size(), 20u);
  EXPECT_EQ(lb.size(), 20u);
  EXPECT_NE(la, lb);  // the hash suffix keeps long names apart
  EXPECT_EQ(dns_label(long_a, 20), la);
}

TEST(ManifestName, DerivedFromTheModel) {
  ManifestOptions o = options();
  Profile p = test_profiles::l4_tp1();
  EXPECT_EQ(*manifest_name(p, o), "vllm-llama-3-1-8b-instruct");
  p.model = "Qwen/Qwen3-32B";
  EXPECT_EQ(*manifest_name(p, o), "vllm-qwen3-32b");
  p.model = "org/" + std::string(200, 'X');
  const std::string n = *manifest_name(p, o);
  EXPECT_LE(n.size(), kMaxManifestNameLength);
  o.name = "my-llama";
  EXPECT_EQ(*manifest_name(p, o), "my-llama");
  o.name = "9-lives";  // a Service name must start with a letter
  EXPECT_FALSE(manifest_name(p, o));
  o.name = "Bad_Name";
  EXPECT_THAT(manifest_name(p, o).error().message, HasSubstr("DNS-1035"));
}

// A model name with every character YAML cares about survives every file.
TEST(Manifests, HostileModelNameRoundTrips) {
  Profile p = test_profiles::l4_tp1();
  p.model = "evil/Mod:el #1 \"quoted\" 'single' {a: [b]}\n- item\\ \t&anchor *ref ! % @ `yes";
  const auto files = make(p);
  EXPECT_EQ(*manifest_name(p, options()), "vllm-mod-el-1-quoted-single-a-b-item-anchor-ref-yes");
  for (const auto& [name, f] : files) {
    SCOPED_TRACE(name);
    EXPECT_NO_THROW(parse(f));
  }
  EXPECT_EQ(flag_value(args(files), "--model"), p.model);
  EXPECT_EQ(
      parse(files.at("deployment.yaml"))["metadata"]["annotations"]["quickstart.kgai.dev/model"]
          .as<std::string>(),
      p.model);
  EXPECT_EQ(parse(files.at("perf-config.yaml"))["server"]["model_name"].as<std::string>(), p.model);
}

TEST(Manifests, EveryFileParsesAndNamesItsKind) {
  ManifestOptions dra = options();
  dra.dra = true;
  for (const Profile& p :
       {test_profiles::l4_tp1(), test_profiles::h100_tp4(), test_profiles::tpu_v6e()}) {
    auto files = make_manifests(p, dra.dra && p.accelerator.starts_with("tpu") ? options() : dra);
    ASSERT_TRUE(files) << files.error().message;
    for (const ManifestFile& f : *files) {
      SCOPED_TRACE(p.accelerator + " " + f.file_name);
      EXPECT_THAT(f.content, StartsWith(std::string(kManifestHeader)));
      YAML::Node doc;
      ASSERT_NO_THROW(doc = YAML::Load(f.content));
      ASSERT_TRUE(doc.IsMap());
      if (f.kind == "PerfConfig") continue;
      EXPECT_EQ(doc["kind"].as<std::string>(), f.kind);
      if (!f.api_version.empty()) {
        EXPECT_EQ(doc["apiVersion"].as<std::string>(), f.api_version);
        EXPECT_EQ(doc["metadata"]["namespace"].as<std::string>(), "default");
      }
    }
  }
}

TEST(Manifests, KustomizationListsTheObjects) {
  const auto files = make(test_profiles::l4_tp1());
  const auto resources =
      parse(files.at("kustomization.yaml"))["resources"].as<std::vector<std::string>>();
  EXPECT_EQ(resources,
            (std::vector<std::string>{"deployment.yaml", "service.yaml", "servicemonitor.yaml",
                                      "hpa.yaml", "inferencepool.yaml"}));
}

TEST(Manifests, SameInputSameBytes) {
  auto a = make_manifests(test_profiles::h100_tp4(), options());
  auto b = make_manifests(test_profiles::h100_tp4(), options());
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->size(), b->size());
  for (size_t i = 0; i < a->size(); ++i) EXPECT_EQ((*a)[i].content, (*b)[i].content);
}

perf::PerfConfig parse_perf(const std::string& yaml) {
  std::vector<std::string> warnings;
  auto config = perf::parse_config(yaml, "perf-config.yaml", warnings);
  EXPECT_TRUE(config) << (config ? "" : config.error().message);
  EXPECT_TRUE(warnings.empty()) << ::testing::PrintToString(warnings);
  if (!config) return {};
  auto valid = perf::validate(*config);
  EXPECT_TRUE(valid) << (valid ? "" : valid.error().message);
  return *config;
}

TEST(PerfConfig, KgaiPerfReadsIt) {
  const auto files = make(test_profiles::l4_tp1());
  const perf::PerfConfig c = parse_perf(files.at("perf-config.yaml").content);
  EXPECT_EQ(c.api.type, "completion");
  EXPECT_TRUE(c.api.streaming);
  EXPECT_EQ(c.data.type, "synthetic");
  ASSERT_TRUE(c.data.input_distribution);
  EXPECT_EQ(c.data.input_distribution->min, 128);
  EXPECT_EQ(c.data.input_distribution->max, 128);
  EXPECT_DOUBLE_EQ(c.data.input_distribution->mean, 128);
  EXPECT_EQ(c.load.type, "poisson");
  ASSERT_EQ(c.load.stages.size(), 1u);
  EXPECT_DOUBLE_EQ(c.load.stages[0].rate, 12.3);
  EXPECT_DOUBLE_EQ(c.load.stages[0].duration, 300);
  EXPECT_EQ(c.server.type, "vllm");
  EXPECT_EQ(c.server.model_name, "meta-llama/Llama-3.1-8B-Instruct");
  EXPECT_EQ(c.server.base_url, "http://vllm-llama-3-1-8b-instruct.default.svc:8000");
  EXPECT_TRUE(c.server.ignore_eos);
  ASSERT_TRUE(c.report.goodput.ttft);
  EXPECT_DOUBLE_EQ(*c.report.goodput.ttft, 0.2);
  EXPECT_FALSE(c.report.goodput.ntpot);
}

TEST(PerfConfig, RateScalesWithReplicasAndDistributionsKeepTheirSpread) {
  ManifestOptions o = options();
  o.api = "chat";
  o.namespace_name = "llm";
  auto yaml = make_perf_config(test_profiles::h100_tp4(), o);
  ASSERT_TRUE(yaml) << yaml.error().message;
  const perf::PerfConfig c = parse_perf(*yaml);
  EXPECT_EQ(c.api.type, "chat");
  EXPECT_DOUBLE_EQ(c.load.stages[0].rate, 60);  // 20 req/s x 3 replicas
  EXPECT_EQ(c.server.base_url, "http://vllm-llama-3-1-70b-instruct.llm.svc:8000");
  const perf::Distribution& in = *c.data.input_distribution;
  EXPECT_DOUBLE_EQ(in.mean, 1024);
  EXPECT_EQ(in.max, 9000);
  EXPECT_NEAR(in.std_dev, 1024 * std::sqrt(std::exp(0.25) - 1), 0.05);  // lognormal sigma 0.5
  const perf::Distribution& out = *c.data.output_distribution;
  EXPECT_DOUBLE_EQ(out.std_dev, 30);
  EXPECT_EQ(out.max, 400);
  EXPECT_TRUE(c.report.goodput.empty());  // no latency target
}

TEST(PerfConfig, ClosedLoopProfilesGetAConcurrentStage) {
  auto yaml = make_perf_config(test_profiles::tpu_v6e(), options());
  ASSERT_TRUE(yaml) << yaml.error().message;
  const perf::PerfConfig c = parse_perf(*yaml);
  EXPECT_EQ(c.load.type, "concurrent");
  EXPECT_EQ(c.load.stages[0].concurrency_level, 64);
  EXPECT_EQ(c.load.stages[0].num_requests, 8 * 300);
}

TEST(PerfConfig, AnotherBaseUrl) {
  auto yaml = make_perf_config(test_profiles::l4_tp1(), options(), "http://127.0.0.1:18000");
  ASSERT_TRUE(yaml) << yaml.error().message;
  EXPECT_EQ(parse_perf(*yaml).server.base_url, "http://127.0.0.1:18000");
  // The rest is what the manifests' perf config holds.
  const auto files = make(test_profiles::l4_tp1());
  std::string expected = files.at("perf-config.yaml").content;
  const std::string from = "http://vllm-llama-3-1-8b-instruct.default.svc:8000";
  expected.replace(expected.find(from), from.size(), "http://127.0.0.1:18000");
  EXPECT_EQ(*yaml, expected);
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(WriteManifests, WritesAndRewritesItsOwnFiles) {
  test_profiles::TempDir tmp;
  const auto dir = tmp.path() / "nested" / "out";
  auto files = make_manifests(test_profiles::l4_tp1(), options());
  ASSERT_TRUE(files);
  ASSERT_TRUE(write_manifests(dir, *files));
  for (const ManifestFile& f : *files) EXPECT_EQ(read_file(dir / f.file_name), f.content);
  // A second run (e.g. after a new search) overwrites what kgai wrote.
  auto again = make_manifests(test_profiles::h100_tp4(), options());
  ASSERT_TRUE(write_manifests(dir, *again));
  EXPECT_EQ(read_file(dir / "deployment.yaml"), again->front().content);
}

TEST(WriteManifests, RefusesToOverwriteOtherFilesWithoutForce) {
  test_profiles::TempDir tmp;
  std::filesystem::create_directories(tmp.path());
  { std::ofstream(tmp.path() / "service.yaml") << "# mine\n"; }
  { std::ofstream(tmp.path() / "notes.txt") << "keep\n"; }
  auto files = make_manifests(test_profiles::l4_tp1(), options());
  ASSERT_TRUE(files);
  auto written = write_manifests(tmp.path(), *files);
  ASSERT_FALSE(written);
  EXPECT_THAT(written.error().message, HasSubstr("service.yaml: exists and was not written by"));
  EXPECT_FALSE(std::filesystem::exists(tmp.path() / "deployment.yaml"));  // nothing written
  ASSERT_TRUE(write_manifests(tmp.path(), *files, /*force=*/true));
  EXPECT_THAT(read_file(tmp.path() / "service.yaml"), StartsWith(std::string(kManifestHeader)));
  EXPECT_EQ(read_file(tmp.path() / "notes.txt"), "keep\n");
}

}  // namespace
}  // namespace kgai::quickstart
