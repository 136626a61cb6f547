#include "perf/request_body.h"

#include <fmt/format.h>

#include "common/json_string.h"

namespace kgai::perf {
RequestBodyRenderer::RequestBodyRenderer(const PerfConfig& config, std::string_view model)
    : chat_(config.api.type == "chat") {
  model_ = "\"model\":";
  append_json_string(model_, model);
  if (config.server.ignore_eos) suffix_ += ",\"ignore_eos\":true";
  if (config.api.streaming)
    suffix_ += ",\"stream\":true,\"stream_options\":{\"include_usage\":true}";
  suffix_ += '}';
}

std::string RequestBodyRenderer::render(const Prompt& prompt, std::string_view lora) const {
  // Room for the fixed parts and a little escaping, so the string grows at most rarely.
  size_t text = prompt.text.size();
  for (const auto& m : prompt.messages) text += m.role.size() + m.content.size() + 32;
  std::string body;
  body.reserve(model_.size() + lora.size() + suffix_.size() + text + text / 16 + 64);
  body.push_back('{');
  if (lora.empty()) {
    body.append(model_);
  } else {
    body.append("\"model\":");
    append_json_string(body, lora);
  }
  const fmt::format_int max_tokens(prompt.output_tokens);
  body.append(",\"max_tokens\":").append(max_tokens.data(), max_tokens.size());
  if (chat_) {
    body.append(",\"messages\":[");
    for (size_t i = 0; i < prompt.messages.size(); ++i) {
      body.append(i == 0 ? "{\"role\":" : ",{\"role\":");
      append_json_string(body, prompt.messages[i].role);
      body.append(",\"content\":");
      append_json_string(body, prompt.messages[i].content);
      body.push_back('}');
    }
    body.push_back(']');
  } else {
    body.append(",\"prompt\":");
    append_json_string(body, prompt.text);
  }
  body.append(suffix_);
  return body;
}

}  // namespace kgai::perf
