#include "quickstart/use_cases.h"

#include <vector>

#include <fmt/format.h>

#include "common/ascii.h"
#include "common/did_you_mean.h"

namespace kgai::quickstart {
namespace {

// GIQ's table (facts/quickstart.md). The last two are GIQ's approximate averages ("~8912",
// "~7936"), kept as GIQ prints them.
constexpr UseCase kUseCases[] = {
    {"Chatbot (ShareGPT)", "chatbot", 128, 128},
    {"Code Completion", "code-completion", 512, 32},
    {"Text Summarization", "text-summarization", 1024, 128},
    {"Text Generation", "text-generation", 512, 2048},
    {"Deep Research", "deep-research", 256, 4096},
    {"Advanced Customer Support", "advanced-customer-support", 8912, 256},
    {"Multi Agent Large Document Summarization", "multi-agent-large-document-summarization", 7936,
     64},
};

}  // namespace

std::span<const UseCase> use_cases() { return kUseCases; }

Result<const UseCase*> find_use_case(std::string_view name) {
  for (const auto& use_case : kUseCases) {
    if (ascii_iequals(name, use_case.name) || ascii_iequals(name, use_case.id)) return &use_case;
  }
  std::vector<std::string_view> ids;
  for (const auto& use_case : kUseCases) ids.push_back(use_case.id);
  // Compare in lower case so "Chatbt" still finds "chatbot".
  return fail("unknown use case '{}'{}; known: {}", name, did_you_mean(ascii_lower(name), ids, 3),
              fmt::join(ids, ", "));
}

}  // namespace kgai::quickstart
