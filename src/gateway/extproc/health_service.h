// The standard gRPC health service (grpc.health.v1.Health) of the ext_proc endpoint, which
// Envoy's gRPC health checks, kubelet's gRPC probes and grpc_health_probe call. The caller
// decides readiness (set_serving); Check answers with it and every open Watch stream gets each
// change pushed.
//
// Known service names: "" (the server as a whole) and the ext_proc service's full name. As the
// health-checking protocol says, Check fails an unknown name with NOT_FOUND, and Watch answers
// it with SERVICE_UNKNOWN and keeps the stream open (the set of names never changes here, so
// nothing more follows until the call ends). Watch streams are capped: one over
// max_watchers is refused with RESOURCE_EXHAUSTED, so a client cannot pile up streams.
//
// No gRPC types here: a gRPC server registers the service with register_health_service(), in
// the one file that builds the server.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>

namespace grpc {
class ServerBuilder;
}

namespace kgai::gateway::extproc {

inline constexpr std::string_view kExtProcServiceName =
    "envoy.service.ext_proc.v3.ExternalProcessor";

struct HealthServiceOptions {
  // Watch streams open at once; each holds a little memory and a gRPC stream for as long as the
  // client keeps it.
  std::size_t max_watchers = 1'000;
};

class HealthService {
 public:
  // Starts NOT_SERVING: an endpoint picker is not ready until it has endpoints to pick from.
  explicit HealthService(HealthServiceOptions options = {});
  // Calls shutdown(). The server this service is registered on must be shut down first, as
  // with any gRPC service.
  ~HealthService();
  HealthService(const HealthService&) = delete;
  HealthService& operator=(const HealthService&) = delete;

  // Thread-safe. Every open Watch stream of a known service gets the new status (only the
  // latest one, when changes come faster than a client reads).
  void set_serving(bool serving);
  bool serving() const;

  // Watch streams open now (for tests and metrics).
  std::size_t watchers() const;

  // Reports NOT_SERVING to every watcher, then ends their streams (status OK), and answers
  // later Watch calls the same way; set_serving() no longer changes anything. Call it before
  // grpc::Server::Shutdown(): a server waits for open streams, and Watch streams never end on
  // their own.
  void shutdown();

 private:
  friend void register_health_service(grpc::ServerBuilder& builder, HealthService& service);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Adds `service` to the server that `builder` builds. The service must outlive that server.
void register_health_service(grpc::ServerBuilder& builder, HealthService& service);

}  // namespace kgai::gateway::extproc
