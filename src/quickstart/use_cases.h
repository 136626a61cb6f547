// GKE Inference Quickstart's fixed workloads ("use cases"), as data: the average prompt and
// output lengths its benchmarks use. kgai keeps GIQ's names so users and scripts transfer.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "common/result.h"

namespace kgai::quickstart {

struct UseCase {
  std::string_view name;  // GIQ's name, e.g. "Chatbot (ShareGPT)"
  std::string_view id;    // a shell-friendly name, e.g. "chatbot"
  int input_tokens = 0;   // average prompt length
  int output_tokens = 0;  // average output length
};

std::span<const UseCase> use_cases();

// By GIQ's name or the id, case-insensitively. The error lists the known ids and suggests the
// closest one.
Result<const UseCase*> find_use_case(std::string_view name);

}  // namespace kgai::quickstart
