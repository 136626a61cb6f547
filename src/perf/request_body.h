// The JSON body of one benchmark request, rendered with fmt from parts computed once per run.
// It is built for every request the load generator sends, so it must cost far less than the
// request itself: no JSON DOM, one allocation for the string. Private to the perf module.
#pragma once

#include <string>
#include <string_view>

#include "perf/config.h"
#include "perf/dataset.h"

namespace kgai::perf {

class RequestBodyRenderer {
 public:
  RequestBodyRenderer(const PerfConfig& config, std::string_view model);

  // The body for `prompt`; a non-empty `lora` is sent as the model instead.
  std::string render(const Prompt& prompt, std::string_view lora = {}) const;

 private:
  bool chat_ = false;
  std::string model_;   // `"model":"..."` for the run's model, escaped once
  std::string suffix_;  // the keys that do not depend on the prompt, and the closing brace
};

}  // namespace kgai::perf
