#include "sim/frontend.h"

#include <algorithm>

namespace kgai::sim {

FrontendCosts FrontendCosts::from(const catalog::Efficiency& efficiency) {
  return {efficiency.frontend_s, efficiency.frontend_cpu_s,
          efficiency.frontend_cpu_per_prompt_token_s, efficiency.frontend_cpu_per_output_token_s};
}

double Frontend::serve(double at, double cost) {
  // FIFO single server: work starts when both it and the server are there.
  const double done = std::max(at, free_at_) + cost;
  if (cost > 0) {
    free_at_ = done;
    busy_ += cost;
  }
  return cost > 0 ? done : at;
}

double Frontend::admit(double arrival, int prompt_tokens) {
  const double cost = costs_.request_s + costs_.per_prompt_token_s * std::max(0, prompt_tokens);
  return serve(arrival, cost) + costs_.latency_s;
}

double Frontend::deliver(double at, int tokens) {
  if (tokens <= 0) return at;
  return serve(at, costs_.per_output_token_s * tokens);
}

}  // namespace kgai::sim
