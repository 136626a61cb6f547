// The routing policies the demo compares, and how each is started in front of the pool: kgai
// gateway with a round-robin, least-request or default profile, and the baselines users would
// otherwise deploy, nginx (round-robin upstream) and HAProxy (leastconn), with configs the
// demo writes into its output folder.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "demo/child_process.h"

namespace kgai::demo {

struct PolicySpec {
  std::string name;
  std::string description;
  bool optional = false;  // a baseline: skipped (with the reason) when not installed
};

// All known policies, in the default order.
const std::vector<PolicySpec>& known_policies();
const PolicySpec* find_policy(std::string_view name);

// A started router: the process and the URL clients use.
struct Router {
  ChildProcess process;
  std::string url;  // http://127.0.0.1:PORT
};

struct RouterSetup {
  std::string kgai_binary;
  std::string work_dir;                // configs and logs go here
  std::vector<std::string> endpoints;  // host:port of each replica
  std::string model;
};

// The executable for an optional baseline ("nginx", "haproxy"), searched in PATH and then
// /usr/sbin and /usr/local/sbin; empty when not installed.
std::string find_program(const std::string& name);

// Starts `policy`'s router and waits until it answers GET /v1/models with the pool's model
// (which also means it has found the replicas).
Result<Router> start_router(const PolicySpec& policy, const RouterSetup& setup);

// A free loopback port (bound and released: another process could take it in between, which
// start_router's readiness check would then report).
Result<uint16_t> free_loopback_port();

}  // namespace kgai::demo
