// A hand-built NVIDIA GPU, as the DRA driver publishes it, for the CEL tests.
#pragma once

#include "dra/cel.h"

namespace kgai::dra::cel::testing {

struct TestDevice {
  std::map<std::string, std::map<std::string, AttributeValue, std::less<>>, std::less<>> attributes;
  std::map<std::string, std::map<std::string, Quantity, std::less<>>, std::less<>> capacity;
  DeviceView view;

  TestDevice() {
    attributes["gpu.nvidia.com"] = {
        {"type", std::string("gpu")},
        {"productName", std::string("NVIDIA H100 80GB HBM3")},
        {"architecture", std::string("Hopper")},
        {"index", int64_t{3}},
        {"mig", false},
        {"driverVersion", Semver::parse("550.54.15").value()},
        {"cudaComputeCapability", Semver::parse("9.0.0").value()},
    };
    attributes["resource.kubernetes.io"] = {{"pcieRoot", std::string("pci0000:00")}};
    capacity["gpu.nvidia.com"] = {{"memory", Quantity::parse("80Gi").value()}};
    view.driver = "gpu.nvidia.com";
    view.attributes = &attributes;
    view.capacity = &capacity;
  }
  TestDevice(const TestDevice&) = delete;
};

}  // namespace kgai::dra::cel::testing
