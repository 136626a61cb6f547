// `profiles list` and `benchmarks list` as JSON values and tables. The JSON names are GIQ's
// concepts in snake_case (model, model_server, accelerator, accelerator_count, instance_type,
// cost_per_million_*_tokens, output_tokens_per_second, ttft_ms, ntpot_ms, ...) so that scripts
// written against GIQ's output carry over; the table keeps GIQ's column order and adds what GIQ
// hides.
#pragma once

#include <nlohmann/json.hpp>

#include "quickstart/output.h"
#include "quickstart/profile.h"
#include "quickstart/search.h"

namespace kgai::quickstart {

nlohmann::ordered_json profile_json(const Profile& profile);

// {"profiles": [...], "skipped": [...], "search": {setups, simulations, wall_seconds}}.
nlohmann::ordered_json profiles_json(const SearchResult& result);

// GIQ's columns first (Instance Type, Accelerator, Cost/M Input Tokens, Cost/M Output Tokens,
// Output Tokens/s, NTPOT(ms), TTFT(ms), Model Server, Model), then count, $/hour, input
// tokens/s, ITL, percentile, goodput, the settings, and replicas with --rate.
Table profiles_table(const nlohmann::ordered_json& profiles, bool with_replicas);

}  // namespace kgai::quickstart
