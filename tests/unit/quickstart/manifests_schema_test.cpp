// The generated manifests against the Kubernetes API schemas, without a cluster:
// tests/k8s_validate/validate.mjs (Node) checks each object (the built-in kinds against the
// Kubernetes OpenAPI schema plus unknown fields, the CRDs as that script says), and
// `kubectl kustomize` renders the output folder. scripts/deps.sh installs both; without them the
// tests skip, except under CI=true, where a missing validator is a failure.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "quickstart/manifests.h"
#include "unit/quickstart/manifest_profiles.h"

namespace kgai::quickstart {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

struct Command {
  int status = -1;
  std::string output;
};

Command run(const std::string& command) {
  Command r;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buffer{};
  size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    r.output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string quoted(const fs::path& path) { return "'" + path.string() + "'"; }

bool on_path(const std::string& tool) {
  return run("command -v " + tool + " >/dev/null").status == 0;
}

const fs::path kSource = KGAI_SOURCE_DIR;
const fs::path kScript = kSource / "tests/k8s_validate/validate.mjs";
const fs::path kModules = kSource / ".cache/k8s-validate/node_modules";

// Skips (or fails under CI) when the validator is not installed.
#define REQUIRE_TOOL(available, what)                                                       \
  do {                                                                                      \
    if (!(available)) {                                                                     \
      if (std::getenv("CI")) FAIL() << what << " is missing under CI: run scripts/deps.sh"; \
      GTEST_SKIP() << what << " is missing: run scripts/deps.sh";                           \
    }                                                                                       \
  } while (false)

bool validator_installed() { return on_path("node") && fs::exists(kModules / "kubernetes-models"); }

// Runs the validator on `files`; returns its output and exit status.
Command validate(const std::vector<fs::path>& files) {
  std::string command = "node " + quoted(kScript) + " --modules " + quoted(kModules);
  for (const fs::path& f : files) command += " " + quoted(f);
  return run(command);
}

struct Case {
  std::string name;
  Profile profile;
  ManifestOptions options;
};

std::vector<Case> cases() {
  using namespace test_profiles;
  std::vector<Case> out;
  out.push_back({"l4_tp1", l4_tp1(), options()});
  out.push_back({"h100_tp4", h100_tp4(), options()});
  ManifestOptions gmp = options();
  gmp.monitoring = "podmonitoring";
  gmp.namespace_name = "llm";
  out.push_back({"tpu_v6e_podmonitoring", tpu_v6e(), gmp});
  ManifestOptions dra = options();
  dra.dra = true;
  out.push_back({"h100_dra", h100_tp4(), dra});
  Profile hostile = l4_tp1();
  hostile.model = "evil/Mod:el #1 \"quoted\"\n- item: {a: [b]}";
  out.push_back({"hostile_model_name", hostile, options()});
  return out;
}

// Writes a case into dir; returns the Kubernetes objects' files.
std::vector<fs::path> write_case(const Case& c, const fs::path& dir) {
  auto files = make_manifests(c.profile, c.options);
  EXPECT_TRUE(files) << (files ? "" : files.error().message);
  if (!files) return {};
  EXPECT_TRUE(write_manifests(dir, *files));
  std::vector<fs::path> objects;
  for (const ManifestFile& f : *files) {
    if (!f.api_version.empty() && f.kind != "Kustomization") objects.push_back(dir / f.file_name);
  }
  return objects;
}

size_t count_lines_starting(const std::string& text, const std::string& prefix) {
  size_t n = 0;
  size_t at = 0;
  while (at < text.size()) {
    if (text.compare(at, prefix.size(), prefix) == 0) ++n;
    at = text.find('\n', at);
    if (at == std::string::npos) break;
    ++at;
  }
  return n;
}

TEST(ManifestsSchema, EveryObjectValidates) {
  REQUIRE_TOOL(validator_installed(), "node or the npm packages of tests/k8s_validate");
  test_profiles::TempDir tmp;
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const auto objects = write_case(c, tmp.path() / c.name);
    ASSERT_FALSE(objects.empty());
    const Command r = validate(objects);
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(count_lines_starting(r.output, "ok "), objects.size()) << r.output;
  }
}

TEST(ManifestsSchema, KubectlKustomizeRendersTheFolder) {
  REQUIRE_TOOL(on_path("kubectl"), "kubectl (Debian: kubernetes-client)");
  REQUIRE_TOOL(validator_installed(), "node or the npm packages of tests/k8s_validate");
  test_profiles::TempDir tmp;
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const fs::path dir = tmp.path() / c.name;
    const auto objects = write_case(c, dir);
    const Command rendered = run("kubectl kustomize " + quoted(dir));
    ASSERT_EQ(rendered.status, 0) << rendered.output;
    const fs::path out = tmp.path() / (c.name + ".rendered.yaml");
    { std::ofstream(out) << rendered.output; }
    // Every object comes out of kustomize, and still validates.
    const Command r = validate({out});
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(count_lines_starting(r.output, "ok "), objects.size()) << r.output;
  }
}

// The validator is not a rubber stamp: each broken copy of a valid object is rejected, naming the
// field.
TEST(ManifestsSchema, ValidatorRejectsBrokenObjects) {
  REQUIRE_TOOL(validator_installed(), "node or the npm packages of tests/k8s_validate");
  test_profiles::TempDir tmp;
  ManifestOptions o = test_profiles::options();
  o.dra = true;
  auto files = make_manifests(test_profiles::h100_tp4(), o);
  ASSERT_TRUE(files) << files.error().message;
  struct Break {
    std::string file, from, to, expect;
  };
  const Break breaks[] = {
      {"deployment.yaml", "resourceClaims:", "resourceClaim:", "resourceClaim: unknown field"},
      {"deployment.yaml", "replicas: 3", "replicas: \"3\"", "replicas must be integer"},
      {"deployment.yaml", "containerPort: 8000", "containerPort: http", "containerPort"},
      {"hpa.yaml", "averageValue: \"7600m\"", "averageValue: \"lots\"", "averageValue"},
      {"hpa.yaml", "type: Pods", "type: Pod", "spec.metrics[0].type: Pod"},
      {"service.yaml", "type: ClusterIP", "typ: ClusterIP", "typ: unknown field"},
      {"resourceclaimtemplate.yaml", "deviceClassName:", "deviceClass:", "deviceClassName"},
      {"inferencepool.yaml", "targetPorts:", "targetPort:", "targetPorts: required"},
      {"inferencepool.yaml", "number: 9002", "number: 90020", "port.number: invalid value"},
      {"inferencepool.yaml", "failureMode: FailClose", "failureMode: Never", "failureMode"},
  };
  // One validator run over all broken files (Node's start-up dominates); a line per file.
  std::vector<fs::path> paths;
  fs::create_directories(tmp.path());
  for (const Break& b : breaks) {
    SCOPED_TRACE(b.file + ": " + b.to);
    std::string content;
    for (const ManifestFile& f : *files) {
      if (f.file_name == b.file) content = f.content;
    }
    const size_t at = content.find(b.from);
    ASSERT_NE(at, std::string::npos);
    content.replace(at, b.from.size(), b.to);
    paths.push_back(tmp.path() / (std::to_string(paths.size()) + "-" + b.file));
    std::ofstream(paths.back()) << content;
  }
  const Command r = validate(paths);
  EXPECT_EQ(r.status, 1) << r.output;
  for (size_t i = 0; i < paths.size(); ++i) {
    SCOPED_TRACE(breaks[i].file + ": " + breaks[i].to);
    const std::string prefix = "error " + paths[i].string() + ": ";
    const size_t line = r.output.find(prefix);
    ASSERT_NE(line, std::string::npos) << r.output;
    EXPECT_THAT(r.output.substr(line, r.output.find('\n', line) - line),
                HasSubstr(breaks[i].expect));
  }
}

}  // namespace
}  // namespace kgai::quickstart
