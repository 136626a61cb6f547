#include "demo/routers.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "common/http_client.h"
#include "common/text_file.h"

namespace kgai::demo {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Gateway configs for the comparison profiles (EndpointPickerConfig shape).
std::string gateway_config(const std::string& policy) {
  if (policy == "round-robin") {
    return "# kgai demo: requests take the replicas in turn.\n"
           "plugins: [{type: round-robin-picker}]\n"
           "schedulingProfiles: [{name: default, plugins: [{pluginRef: round-robin-picker}]}]\n";
  }
  if (policy == "least-request") {
    return "# kgai demo: the replica with the fewest requests in flight at the gateway.\n"
           "plugins: [{type: least-request-scorer}, {type: max-score-picker}]\n"
           "schedulingProfiles: [{name: default, plugins: [{pluginRef: least-request-scorer},\n"
           "  {pluginRef: max-score-picker}]}]\n";
  }
  return {};  // kgai: the default profile, no config
}

std::string nginx_config(const RouterSetup& setup, const fs::path& dir, uint16_t port) {
  std::string servers;
  for (const auto& e : setup.endpoints) servers += fmt::format("    server {};\n", e);
  return fmt::format(
      "# kgai demo: nginx as a round-robin reverse proxy with keep-alive upstream connections.\n"
      "worker_processes 1;\n"
      "daemon off;\n"
      "pid {0}/nginx.pid;\n"
      "error_log {0}/error.log warn;\n"
      "events {{ worker_connections 4096; }}\n"
      "http {{\n"
      "  access_log off;\n"
      "  client_body_temp_path {0}/body;\n"
      "  proxy_temp_path {0}/proxy;\n"
      "  fastcgi_temp_path {0}/fastcgi;\n"
      "  uwsgi_temp_path {0}/uwsgi;\n"
      "  scgi_temp_path {0}/scgi;\n"
      "  upstream pool {{\n{1}    keepalive 64;\n  }}\n"
      "  server {{\n"
      "    listen 127.0.0.1:{2};\n"
      "    location / {{\n"
      "      proxy_pass http://pool;\n"
      "      proxy_http_version 1.1;\n"
      "      proxy_set_header Connection \"\";\n"
      "      proxy_buffering off;\n"
      "      proxy_read_timeout 300s;\n"
      "      client_max_body_size 64m;\n"
      "    }}\n"
      "  }}\n"
      "}}\n",
      dir.string(), servers, port);
}

std::string haproxy_config(const RouterSetup& setup, uint16_t port) {
  std::string servers;
  for (size_t i = 0; i < setup.endpoints.size(); ++i) {
    servers += fmt::format("  server replica{} {}\n", i, setup.endpoints[i]);
  }
  return fmt::format(
      "# kgai demo: HAProxy in HTTP mode, least connections first.\n"
      "global\n"
      "  maxconn 4096\n"
      "defaults\n"
      "  mode http\n"
      // Token streams are interactive: without it HAProxy sends with MSG_MORE and the kernel
      // holds a partial segment for up to 200 ms, which would show as TTFT.
      "  option http-no-delay\n"
      "  timeout connect 5s\n"
      "  timeout client 300s\n"
      "  timeout server 300s\n"
      "frontend demo\n"
      "  bind 127.0.0.1:{}\n"
      "  default_backend pool\n"
      "backend pool\n"
      "  balance leastconn\n"
      "{}",
      port, servers);
}

// Polls GET /v1/models through the router until it lists the model.
Result<void> wait_ready(Router& router, const std::string& model, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last = "no answer";
  http::ClientOptions options;
  options.connect_timeout = 1s;
  options.request_timeout = 2s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!router.process.running()) {
      return fail("{} exited during start-up; its log ({}) ends:\n{}", router.process.name(),
                  router.process.log_path(), router.process.log_tail());
    }
    auto response = http::get(router.url + "/v1/models", options);
    if (response && response->status == 200 &&
        response->body.find("\"" + model + "\"") != std::string::npos) {
      return {};
    }
    last = response ? fmt::format("status {}", response->status) : response.error().message;
    std::this_thread::sleep_for(100ms);
  }
  return fail("{} at {} not ready after {} s (last: {}); its log ({}) ends:\n{}",
              router.process.name(), router.url, timeout.count(), last, router.process.log_path(),
              router.process.log_tail());
}

}  // namespace

const std::vector<PolicySpec>& known_policies() {
  static const std::vector<PolicySpec> policies = {
      {"round-robin", "kgai gateway, round-robin-picker: replicas in turn", false},
      {"least-request", "kgai gateway, least-request-scorer: fewest requests in flight", false},
      {"kgai",
       "kgai gateway, default profile: queue x2, kv-cache x2, prefix-cache x3, max-score-picker",
       false},
      {"nginx", "nginx 1 worker, round-robin upstream with keep-alive connections", true},
      {"haproxy", "HAProxy in HTTP mode, balance leastconn", true},
  };
  return policies;
}

const PolicySpec* find_policy(std::string_view name) {
  for (const auto& p : known_policies()) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::string find_program(const std::string& name) {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::string_view rest(path);
    while (!rest.empty()) {
      const size_t colon = rest.find(':');
      dirs.emplace_back(rest.substr(0, colon));
      rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    }
  }
  dirs.insert(dirs.end(), {"/usr/sbin", "/usr/local/sbin", "/sbin"});
  for (const auto& dir : dirs) {
    if (dir.empty()) continue;
    const fs::path candidate = fs::path(dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return {};
}

Result<uint16_t> free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("socket: {}", std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int error = errno;
    ::close(fd);
    return fail("no free loopback port: {}", std::strerror(error));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

Result<Router> start_router(const PolicySpec& policy, const RouterSetup& setup) {
  const fs::path dir = fs::path(setup.work_dir) / policy.name;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail("cannot create {}: {}", dir.string(), ec.message());
  const std::string log = (dir / "router.log").string();
  std::string endpoints;
  for (const auto& e : setup.endpoints) endpoints += (endpoints.empty() ? "" : ",") + e;

  if (policy.name == "nginx" || policy.name == "haproxy") {
    const std::string program = find_program(policy.name);
    if (program.empty()) return fail("{} is not installed", policy.name);
    auto port = free_loopback_port();
    if (!port) return fail(port.error());
    std::vector<std::string> argv;
    if (policy.name == "nginx") {
      for (const char* sub : {"body", "proxy", "fastcgi", "uwsgi", "scgi"}) {
        fs::create_directories(dir / sub, ec);
      }
      const fs::path conf = dir / "nginx.conf";
      if (auto w = write_text_file(conf.string(), nginx_config(setup, fs::absolute(dir), *port));
          !w) {
        return fail(w.error());
      }
      argv = {program,
              "-p",
              fs::absolute(dir).string(),
              "-e",
              (fs::absolute(dir) / "error.log").string(),
              "-c",
              fs::absolute(conf).string()};
    } else {
      const fs::path conf = dir / "haproxy.cfg";
      if (auto w = write_text_file(conf.string(), haproxy_config(setup, *port)); !w)
        return fail(w.error());
      argv = {program, "-db", "-f", fs::absolute(conf).string()};
    }
    auto process = ChildProcess::start(std::move(argv), log);
    if (!process) return fail(process.error());
    Router router{std::move(*process), fmt::format("http://127.0.0.1:{}", *port)};
    if (auto ready = wait_ready(router, setup.model, 20s); !ready) return fail(ready.error());
    return router;
  }

  std::vector<std::string> argv = {setup.kgai_binary, "gateway",     "--listen",
                                   "127.0.0.1:0",     "--endpoints", endpoints};
  if (const std::string config = gateway_config(policy.name); !config.empty()) {
    const fs::path path = dir / "gateway.yaml";
    if (auto w = write_text_file(path.string(), config); !w) return fail(w.error());
    argv.insert(argv.end(), {"--config", path.string()});
  }
  auto process = ChildProcess::start(std::move(argv), log);
  if (!process) return fail(process.error());
  auto lines = process->wait_for_lines("serving on http://", 1, 20s);
  if (!lines) return fail(lines.error());
  const std::string& line = lines->front();
  Router router{std::move(*process), line.substr(line.find("http://"))};
  while (!router.url.empty() && std::isspace(static_cast<unsigned char>(router.url.back()))) {
    router.url.pop_back();
  }
  if (auto ready = wait_ready(router, setup.model, 20s); !ready) return fail(ready.error());
  return router;
}

}  // namespace kgai::demo
