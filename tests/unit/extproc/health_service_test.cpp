// The health service on a real in-process gRPC server (127.0.0.1, a free port) with a real
// client: what Envoy's gRPC health checker and kubelet's probes would see.
#include "gateway/extproc/health_service.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"

namespace kgai::gateway::extproc {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

class HealthServiceTest : public ::testing::Test {
 protected:
  void start(HealthServiceOptions options = {}) {
    service_ = std::make_unique<HealthService>(options);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    register_health_service(builder, *service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials());
    stub_ = Health::NewStub(channel_);
  }

  void TearDown() override {
    if (server_ == nullptr) return;
    service_->shutdown();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }

  static std::unique_ptr<grpc::ClientContext> context_with_deadline() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return context;
  }

  grpc::Status check(const std::string& service, HealthCheckResponse* response) {
    HealthCheckRequest request;
    request.set_service(service);
    return stub_->Check(context_with_deadline().get(), request, response);
  }

  // Polls until `done` or five seconds pass (watchers leave the registry asynchronously).
  template <typename Predicate>
  static bool eventually(Predicate done) {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done()) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }

  std::unique_ptr<HealthService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Health::Stub> stub_;
};

TEST_F(HealthServiceTest, CheckFollowsSetServing) {
  start();
  HealthCheckResponse response;
  ASSERT_TRUE(check("", &response).ok());
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);

  service_->set_serving(true);
  EXPECT_TRUE(service_->serving());
  ASSERT_TRUE(check("", &response).ok());
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
  ASSERT_TRUE(check(std::string(kExtProcServiceName), &response).ok());
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);

  service_->set_serving(false);
  ASSERT_TRUE(check(std::string(kExtProcServiceName), &response).ok());
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
}

TEST_F(HealthServiceTest, CheckOfUnknownServiceIsNotFound) {
  start();
  HealthCheckResponse response;
  grpc::Status status = check("some.other.Service", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(HealthServiceTest, WatchSeesTransitions) {
  start();
  auto context = context_with_deadline();
  HealthCheckRequest request;
  request.set_service(std::string(kExtProcServiceName));
  auto reader = stub_->Watch(context.get(), request);
  HealthCheckResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(service_->watchers(), 1u);

  service_->set_serving(true);
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);

  service_->set_serving(true);  // no change: nothing sent
  service_->set_serving(false);
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);

  context->TryCancel();
  while (reader->Read(&response)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(eventually([&] { return service_->watchers() == 0; }));
}

TEST_F(HealthServiceTest, WatchOfUnknownServiceSaysServiceUnknownAndStaysOpen) {
  start();
  auto context = context_with_deadline();
  HealthCheckRequest request;
  request.set_service("some.other.Service");
  auto reader = stub_->Watch(context.get(), request);
  HealthCheckResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVICE_UNKNOWN);
  service_->set_serving(true);  // does not concern this stream
  EXPECT_EQ(service_->watchers(), 1u);
  context->TryCancel();
  while (reader->Read(&response)) {
    ADD_FAILURE() << "unexpected status " << response.status();
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(HealthServiceTest, WatchersOverTheCapAreRefused) {
  start({.max_watchers = 2});
  HealthCheckRequest request;
  HealthCheckResponse response;
  auto first_context = context_with_deadline();
  auto first = stub_->Watch(first_context.get(), request);
  ASSERT_TRUE(first->Read(&response));
  auto second_context = context_with_deadline();
  auto second = stub_->Watch(second_context.get(), request);
  ASSERT_TRUE(second->Read(&response));

  auto third_context = context_with_deadline();
  auto third = stub_->Watch(third_context.get(), request);
  EXPECT_FALSE(third->Read(&response));
  EXPECT_EQ(third->Finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);

  // A closed stream frees its place.
  first_context->TryCancel();
  while (first->Read(&response)) {
  }
  first->Finish();
  ASSERT_TRUE(eventually([&] { return service_->watchers() == 1; }));
  auto fourth_context = context_with_deadline();
  auto fourth = stub_->Watch(fourth_context.get(), request);
  EXPECT_TRUE(fourth->Read(&response));
  second_context->TryCancel();
  fourth_context->TryCancel();
}

TEST_F(HealthServiceTest, ShutdownSendsNotServingAndEndsWatches) {
  start();
  service_->set_serving(true);
  auto context = context_with_deadline();
  HealthCheckRequest request;
  auto reader = stub_->Watch(context.get(), request);
  HealthCheckResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);

  service_->shutdown();
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(reader->Read(&response));
  EXPECT_TRUE(reader->Finish().ok());

  service_->set_serving(true);  // ignored after shutdown
  EXPECT_FALSE(service_->serving());
  auto late_context = context_with_deadline();
  auto late = stub_->Watch(late_context.get(), request);
  ASSERT_TRUE(late->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(late->Read(&response));
  EXPECT_TRUE(late->Finish().ok());
}

TEST_F(HealthServiceTest, ManyWatchersAndFlappingEndOnTheLatestStatus) {
  start();
  constexpr int kWatchers = 20;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<HealthCheckResponse>>> readers;
  HealthCheckRequest request;
  HealthCheckResponse response;
  for (int i = 0; i < kWatchers; ++i) {
    contexts.push_back(context_with_deadline());
    readers.push_back(stub_->Watch(contexts.back().get(), request));
    ASSERT_TRUE(readers.back()->Read(&response));
  }
  std::thread flapper([&] {
    for (int i = 0; i < 200; ++i) service_->set_serving(i % 2 == 0);
    service_->set_serving(true);
  });
  flapper.join();
  // Each stream may skip intermediate values but gets to the last one (a lost update would
  // leave a reader waiting at NOT_SERVING until its deadline).
  for (auto& reader : readers) {
    do {
      ASSERT_TRUE(reader->Read(&response));
    } while (response.status() != HealthCheckResponse::SERVING);
  }
  // Whatever else a stream got, it never repeats a status and ends with shutdown's NOT_SERVING.
  service_->shutdown();
  for (auto& reader : readers) {
    HealthCheckResponse::ServingStatus previous = HealthCheckResponse::SERVING;  // read above
    while (reader->Read(&response)) {
      EXPECT_NE(response.status(), previous);
      previous = response.status();
    }
    EXPECT_EQ(previous, HealthCheckResponse::NOT_SERVING);
    EXPECT_TRUE(reader->Finish().ok());
  }
}

}  // namespace
}  // namespace kgai::gateway::extproc
