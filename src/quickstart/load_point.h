// One simulated load level for a setup: the engine in virtual time at a request rate (open
// loop, Poisson) or a number of clients (closed loop), reduced to an OperatingPoint.
//
// The figures are for the steady state. A run starts empty and ends draining, which flatters
// latency (an empty engine) and throughput at the end; the first and last requests of each run
// are sent but not counted (a tenth each way for an open loop; for a closed loop the first and
// last round of clients, whose synchronized start is no steady state either).
#pragma once

#include <cstdint>

#include "catalog/latency_model.h"
#include "common/result.h"
#include "quickstart/profile.h"
#include "sim/engine.h"
#include "sim/workload.h"

namespace kgai::quickstart {

struct Load {
  double rate = 0;      // requests/s, Poisson arrivals; or
  int concurrency = 0;  // clients, each sending again when its answer ends
  int64_t num_requests = 0;
};

// Runs `workload` (lengths, seed; its rate/concurrency/duration/count are replaced by `load`)
// on the engine and reads the percentiles at `targets.percentile`; goodput counts the counted
// requests that met every target (TTFT, NTPOT, and the request's mean gap between tokens
// against the ITL target).
Result<OperatingPoint> measure_load(const sim::EngineConfig& engine,
                                    const catalog::LatencyModel& latency,
                                    const sim::WorkloadSpec& workload, const Load& load,
                                    const Targets& targets);

// The steady-state request rate the engine sustains with `clients` requests running, from the
// latency model alone (each step: the clients' decode tokens plus the prefill tokens that keep
// the batch full, within the step's token budget). A first bracket for the rate search, not an
// answer: the engine's runs decide.
double estimated_capacity(const sim::EngineConfig& engine, const catalog::LatencyModel& latency,
                          const sim::WorkloadSpec& workload, int clients);

// Whether the point meets every latency target at its percentile.
bool meets_targets(const OperatingPoint& point, const Targets& targets);

// "p90 TTFT 412 ms > 200 ms target" for the first target missed; empty when all are met.
std::string missed_target(const OperatingPoint& point, const Targets& targets);

}  // namespace kgai::quickstart
