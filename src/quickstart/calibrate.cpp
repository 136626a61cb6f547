#include "quickstart/calibrate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>

#include <fmt/format.h>

#include "catalog/latency_model.h"
#include "sim/offline_runner.h"

namespace kgai::quickstart {

namespace {

using catalog::Efficiency;

// One efficiency factor: where it lives, how the catalog writes it, and the range a real
// server can have (the fit never leaves it).
struct Factor {
  const char* key;
  const char* unit;
  double Efficiency::*member;
  double lo, hi;   // seconds or fractions
  double to_unit;  // catalog value = member * to_unit
};

constexpr Factor kFactors[] = {
    {"compute_prefill", "", &Efficiency::compute_prefill, 0.05, 1.0, 1},
    {"compute_decode", "", &Efficiency::compute_decode, 0.05, 1.0, 1},
    {"memory", "", &Efficiency::memory, 0.1, 1.0, 1},
    {"step_fixed_us", "us", &Efficiency::step_fixed_s, 1e-6, 10e-3, 1e6},
    {"per_layer_us", "us", &Efficiency::per_layer_s, 0.1e-6, 500e-6, 1e6},
    {"per_request_us", "us", &Efficiency::per_request_s, 0.05e-6, 500e-6, 1e6},
    {"allreduce_latency_us", "us", &Efficiency::allreduce_latency_s, 1e-6, 1e-3, 1e6},
    {"frontend_ms", "ms", &Efficiency::frontend_s, 0.1e-3, 2.0, 1e3},
    {"frontend_cpu_ms", "ms", &Efficiency::frontend_cpu_s, 0.01e-3, 0.5, 1e3},
    {"frontend_cpu_us_per_prompt_token", "us", &Efficiency::frontend_cpu_per_prompt_token_s,
     0.01e-6, 1e-3, 1e6},
    {"frontend_cpu_us_per_output_token", "us", &Efficiency::frontend_cpu_per_output_token_s, 0.1e-6,
     5e-3, 1e6},
};

const Factor& factor(std::string_view key) {
  for (const Factor& f : kFactors) {
    if (key == f.key) return f;
  }
  return kFactors[0];  // unreachable: callers pass keys of the table
}

// Tried in this order; an earlier factor wins when two move the figures alike. Memory and the
// step overhead set decode (TPOT); the API server's fixed delay and prefill compute set idle
// TTFT; the API server's CPU per request adds to idle TTFT like the fixed delay, but shows
// apart from it as queueing under load; decode compute, the per-request cost and the API
// server's CPU per output token only show in large batches. The API server's CPU per prompt
// token is not a candidate: idle, it is prefill compute's twin (both scale with the prompt),
// and the two trade off along a ridge that noise decides.
constexpr const char* kCandidates[] = {
    "memory",          "step_fixed_us",  "frontend_ms",    "compute_prefill",
    "frontend_cpu_ms", "compute_decode", "per_request_us", "frontend_cpu_us_per_output_token"};

// Replays averaged per candidate, and replays of the catalog's factors used to measure how much
// each figure scatters from one draw of arrivals and lengths to the next (its noise).
constexpr int kFitSeeds = 2;
constexpr int kNoiseSeeds = 5;
// No figure is trusted closer than 1%: the client, the network and the server's host add
// their own jitter, which no replay shows.
constexpr double kNoiseFloor = 0.01;

// Screening: a factor is fitted only when multiplying or dividing it by 4 moves some figure
// by more than 3 times its noise (and at least 3%), and what it does that the factors chosen
// before it cannot do pins it down: in noise units, the part of its sensitivity vector outside
// their span must be at least 2.5 long, i.e. one standard error of its log below ~0.4 (the
// factor known within about x1.5).
constexpr double kScreenFactor = 4.0;
// ... and a factor that passes is moved by this much too: near where the fit starts it must
// still be pinned down, by the same measure.
constexpr double kLocalFactor = 1.5;
constexpr double kMinEffectNoise = 3.0;
constexpr double kMinEffect = 0.03;
constexpr double kMinIndependentEffect = 2.5;
// A weak pull toward the starting factors, so that what the figures barely pin down (or their
// noise) cannot drag a factor across its range: a factor at twice or half its starting value
// costs as much as 0.1 noise units of error on every figure.
constexpr double kPriorWeight = 0.1 * 0.1 / (0.6931471805599453 * 0.6931471805599453);

double clamp_to(const Factor& f, double v) { return std::clamp(v, f.lo, f.hi); }

// Figures a replay or a measurement has, in a fixed order: (stage, metric) where the
// measurement has the metric.
struct FigureRef {
  size_t stage;
  int metric;  // 0 TTFT, 1 TPOT, 2 output throughput
};

constexpr const char* kMetricNames[] = {"TTFT", "TPOT", "output throughput"};

std::optional<double> figure(const StageFigures& f, int metric) {
  switch (metric) {
    case 0:
      return f.ttft;
    case 1:
      return f.tpot;
    default:
      return f.output_tokens_per_sec;
  }
}

// Replays every stage with candidate factors. A replay draws its own arrivals and lengths, so
// its medians scatter around their expectation as the measured ones did around theirs; each
// candidate is replayed with the same few seeds (common random numbers keep the objective
// smooth) and the figures averaged in log space, which estimates the expectation.
class Replayer {
 public:
  Replayer(const sim::Setup& setup, const MeasuredRun& run, const CalibrateOptions& options)
      : setup_(setup), seed_(options.seed) {
    for (const MeasuredStage& s : run.stages) {
      sim::OfflineOptions o;
      o.engine = setup.engine;
      sim::WorkloadSpec& w = o.workload;
      int64_t n = std::min<int64_t>(s.requests, options.requests_per_stage);
      if (s.concurrency > 0) {
        w.concurrency = s.concurrency;
        n = std::min<int64_t>(s.requests, std::max<int64_t>(n, 2 * int64_t{s.concurrency}));
      } else {
        w.rate = s.rate;
      }
      w.num_requests = std::max<int64_t>(n, 1);
      w.samples = s.lengths;
      w.shared_prefix_groups = run.shared_prefix_groups;
      w.shared_prefix_len = run.shared_prefix_len;
      stages_.push_back(std::move(o));
    }
  }

  int64_t replayed(size_t stage) const { return stages_[stage].workload.num_requests; }

  // The figures of one replay of every stage with seed number `seed`.
  Result<std::vector<StageFigures>> run_once(const Efficiency& efficiency, int seed) {
    catalog::AcceleratorSpec accelerator = *setup_.accelerator;
    accelerator.efficiency = efficiency;
    const catalog::LatencyModel latency(*setup_.model, accelerator,
                                        setup_.latency->tensor_parallel());
    std::vector<StageFigures> out;
    for (size_t i = 0; i < stages_.size(); ++i) {
      sim::OfflineOptions& o = stages_[i];
      o.workload.seed = seed_ * 1000003 + static_cast<uint64_t>(seed) * 7919 + i;
      auto r = sim::simulate(o, latency);
      if (!r) return fail(r.error());
      ++replays_;
      StageFigures f;
      if (!r->ttft.empty()) f.ttft = r->ttft.percentile(50);
      if (!r->tpot.empty()) f.tpot = r->tpot.percentile(50);
      if (r->output_tokens_per_second() > 0)
        f.output_tokens_per_sec = r->output_tokens_per_second();
      out.push_back(f);
    }
    return out;
  }

  // The figures averaged (in log space) over seeds 0 .. kFitSeeds - 1.
  Result<std::vector<StageFigures>> run(const Efficiency& efficiency) {
    ++candidates_;
    std::vector<std::vector<StageFigures>> runs;
    for (int seed = 0; seed < kFitSeeds; ++seed) {
      auto r = run_once(efficiency, seed);
      if (!r) return fail(r.error());
      runs.push_back(std::move(*r));
    }
    return average(runs);
  }

  static std::vector<StageFigures> average(const std::vector<std::vector<StageFigures>>& runs) {
    std::vector<StageFigures> out(runs.front().size());
    for (size_t i = 0; i < out.size(); ++i) {
      for (int metric = 0; metric < 3; ++metric) {
        double sum = 0;
        int n = 0;
        for (const auto& r : runs) {
          if (auto v = figure(r[i], metric); v && *v > 0) {
            sum += std::log(*v);
            ++n;
          }
        }
        if (n > 0) slot(out[i], metric) = std::exp(sum / n);
      }
    }
    return out;
  }

  int candidates() const { return candidates_; }
  int replays() const { return replays_; }

 private:
  static std::optional<double>& slot(StageFigures& f, int metric) {
    return metric == 0 ? f.ttft : metric == 1 ? f.tpot : f.output_tokens_per_sec;
  }

  const sim::Setup& setup_;
  uint64_t seed_;
  std::vector<sim::OfflineOptions> stages_;
  int candidates_ = 0;
  int replays_ = 0;
};

// log(predicted / measured) per figure; 0 where the replay lacks the figure.
std::vector<double> log_errors(const std::vector<FigureRef>& refs, const MeasuredRun& run,
                               const std::vector<StageFigures>& predicted) {
  std::vector<double> out;
  out.reserve(refs.size());
  for (const FigureRef& r : refs) {
    const auto m =
        figure(StageFigures{run.stages[r.stage].ttft_median, run.stages[r.stage].tpot_median,
                            run.stages[r.stage].output_tokens_per_sec},
               r.metric);
    const auto p = figure(predicted[r.stage], r.metric);
    out.push_back(m && p && *p > 0 ? std::log(*p / *m) : 0.0);
  }
  return out;
}

// Mean of (error / noise)^2: figures that scatter a lot between replays (the throughput of an
// open-loop stage below saturation is the offered load give or take Poisson noise) count less.
double loss(const std::vector<double>& errors, const std::vector<double>& noise) {
  double sum = 0;
  for (size_t k = 0; k < errors.size(); ++k) sum += (errors[k] / noise[k]) * (errors[k] / noise[k]);
  return errors.empty() ? 0.0 : sum / errors.size();
}

double mean_abs_error(const std::vector<double>& errors) {
  double sum = 0;
  for (double e : errors) sum += std::abs(std::exp(e) - 1);
  return errors.empty() ? 0.0 : sum / errors.size();
}

// Nelder-Mead over x (logs of the chosen factors), bounded by projection onto the box.
// Deterministic; stops after `budget` evaluations or when the simplex has collapsed, and
// restarts from the best point with a smaller simplex while budget remains.
struct Minimum {
  std::vector<double> x;
  double value;
};

template <typename F>
Result<Minimum> nelder_mead(F&& f, std::vector<double> x0, const std::vector<double>& lo,
                            const std::vector<double>& hi, int budget) {
  const size_t d = x0.size();
  auto project = [&](std::vector<double> x) {
    for (size_t i = 0; i < d; ++i) x[i] = std::clamp(x[i], lo[i], hi[i]);
    return x;
  };
  int used = 0;
  auto eval = [&](const std::vector<double>& x) -> Result<double> {
    ++used;
    return f(x);
  };
  auto first = eval(x0);
  if (!first) return fail(first.error());
  Minimum best{x0, *first};
  double step = std::log(1.5);
  for (int restart = 0; restart < 3 && used < budget; ++restart, step /= 2) {
    std::vector<std::pair<double, std::vector<double>>> simplex;
    simplex.emplace_back(best.value, best.x);
    for (size_t i = 0; i < d && used < budget; ++i) {
      std::vector<double> x = best.x;
      x[i] += (x[i] + step <= hi[i]) ? step : -step;
      x = project(x);
      auto v = eval(x);
      if (!v) return fail(v.error());
      simplex.emplace_back(*v, x);
    }
    if (simplex.size() < d + 1) break;
    while (used < budget) {
      std::sort(simplex.begin(), simplex.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      double size = 0;
      for (size_t k = 1; k <= d; ++k) {
        for (size_t i = 0; i < d; ++i) {
          size = std::max(size, std::abs(simplex[k].second[i] - simplex[0].second[i]));
        }
      }
      if (size < 1e-3 || simplex[d].first - simplex[0].first < 1e-9) break;
      std::vector<double> centroid(d, 0.0);
      for (size_t k = 0; k < d; ++k) {
        for (size_t i = 0; i < d; ++i) centroid[i] += simplex[k].second[i] / d;
      }
      auto along = [&](double t) {
        std::vector<double> x(d);
        for (size_t i = 0; i < d; ++i) {
          x[i] = centroid[i] + t * (simplex[d].second[i] - centroid[i]);
        }
        return project(x);
      };
      const auto reflected = along(-1.0);
      auto fr = eval(reflected);
      if (!fr) return fail(fr.error());
      // Each move below costs one more evaluation: never past the budget.
      if (*fr < simplex[0].first && used >= budget) {
        simplex[d] = {*fr, reflected};
      } else if (*fr < simplex[0].first) {
        const auto expanded = along(-2.0);
        auto fe = eval(expanded);
        if (!fe) return fail(fe.error());
        simplex[d] = *fe < *fr ? std::pair{*fe, expanded} : std::pair{*fr, reflected};
      } else if (*fr < simplex[d - 1].first) {
        simplex[d] = {*fr, reflected};
      } else if (used >= budget) {
        if (*fr < simplex[d].first) simplex[d] = {*fr, reflected};
      } else {
        const bool outside = *fr < simplex[d].first;
        const auto contracted = along(outside ? -0.5 : 0.5);
        auto fc = eval(contracted);
        if (!fc) return fail(fc.error());
        if (*fc < std::min(*fr, simplex[d].first)) {
          simplex[d] = {*fc, contracted};
        } else {
          for (size_t k = 1; k <= d && used < budget; ++k) {
            for (size_t i = 0; i < d; ++i) {
              simplex[k].second[i] =
                  simplex[0].second[i] + 0.5 * (simplex[k].second[i] - simplex[0].second[i]);
            }
            auto v = eval(simplex[k].second);
            if (!v) return fail(v.error());
            simplex[k].first = *v;
          }
        }
      }
    }
    for (const auto& [v, x] : simplex) {
      if (v < best.value) best = {x, v};
    }
  }
  return best;
}

std::string list_names(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += i + 1 == names.size() ? " and " : ", ";
    out += names[i];
  }
  return out;
}

}  // namespace

Result<Calibration> calibrate(const catalog::Catalog& catalog, const MeasuredRun& run,
                              const CalibrateOptions& options) {
  const auto wall_start = std::chrono::steady_clock::now();
  if (options.requests_per_stage < 1) return fail("--requests-per-stage must be at least 1");
  if (options.max_simulations < 1) return fail("--max-simulations must be at least 1");
  auto setup = sim::make_setup(catalog, options.setup);
  if (!setup) return fail(setup.error());
  if (run.stages.empty()) return fail("{}: no stages to calibrate from", run.dir);

  Calibration c;
  c.model = setup->model->name;
  c.accelerator = setup->accelerator->name;
  c.tensor_parallel = options.setup.tensor_parallel;
  c.before = setup->accelerator->efficiency;
  c.notes = setup->notes;

  Replayer replayer(*setup, run, options);
  std::vector<FigureRef> refs;
  for (size_t i = 0; i < run.stages.size(); ++i) {
    const MeasuredStage& s = run.stages[i];
    if (s.ttft_median) refs.push_back({i, 0});
    if (s.tpot_median) refs.push_back({i, 1});
    if (s.output_tokens_per_sec) refs.push_back({i, 2});
  }
  c.figures = static_cast<int>(refs.size());
  auto say = [&](const std::string& line) {
    if (options.progress) options.progress(line);
  };

  auto base = replayer.run(c.before);
  if (!base) return fail(base.error());
  const std::vector<double> base_errors = log_errors(refs, run, *base);
  say(fmt::format("replayed {} stage(s) with the catalog's factors: error {:.1f}%",
                  run.stages.size(), 100 * mean_abs_error(base_errors)));
  // Noise: the spread of each figure's log over replays with different seeds.
  std::vector<double> noise(refs.size(), kNoiseFloor);
  {
    std::vector<std::vector<double>> draws;
    for (int seed = 0; seed < kNoiseSeeds; ++seed) {
      auto once = replayer.run_once(c.before, 100 + seed);
      if (!once) return fail(once.error());
      draws.push_back(log_errors(refs, run, *once));
    }
    for (size_t k = 0; k < refs.size(); ++k) {
      double mean = 0;
      for (const auto& d : draws) mean += d[k] / draws.size();
      double var = 0;
      for (const auto& d : draws) var += (d[k] - mean) * (d[k] - mean) / (draws.size() - 1);
      // The measured figure is one draw, the averaged replay nearly the expectation.
      noise[k] = std::max(kNoiseFloor, std::sqrt(var));
    }
  }

  // Screening: which factors do these stages pin down?
  std::vector<const Factor*> chosen;
  std::vector<std::vector<double>> basis;  // orthonormal, over the chosen factors' sensitivities
  for (const Factor& f : kFactors) {
    FactorResult r{f.key, f.unit, c.before.*f.member * f.to_unit, 0, false, ""};
    c.factors.push_back(r);
  }
  auto result_of = [&](const Factor& f) -> FactorResult& {
    for (auto& r : c.factors) {
      if (r.key == f.key) return r;
    }
    return c.factors.front();
  };
  result_of(factor("per_layer_us")).why =
      "kept: it adds num_layers x per_layer_us to every step, which step_fixed_us fits as "
      "well for one model";
  result_of(factor("frontend_cpu_us_per_prompt_token")).why =
      "kept: at low load it adds to TTFT in proportion to the prompt, as compute_prefill does, "
      "and under load its share is small; measure the tokenizer to change it";
  result_of(factor("allreduce_latency_us")).why =
      c.tensor_parallel > 1
          ? "kept: a per-step cost at a fixed TP size, which step_fixed_us fits as well"
          : "kept: no all-reduce at TP 1";
  std::vector<std::vector<double>> last_moved;  // log errors at the last two values screened
  for (const char* key : kCandidates) {
    const Factor& f = factor(key);
    const double v0 = clamp_to(f, c.before.*f.member > 0 ? c.before.*f.member : f.lo);
    const double up = clamp_to(f, v0 * kScreenFactor);
    const double down = clamp_to(f, v0 / kScreenFactor);
    auto sensitivity = [&](double hi_value, double lo_value) -> Result<std::vector<double>> {
      // d log(figure) / d log(factor) / noise between two values of the factor (their log
      // errors stay in last_moved).
      std::vector<std::vector<double>> moved;
      for (double v : {hi_value, lo_value}) {
        Efficiency e = c.before;
        e.*f.member = v;
        auto figures = replayer.run(e);
        if (!figures) return fail(figures.error());
        moved.push_back(log_errors(refs, run, *figures));
      }
      std::vector<double> column(refs.size(), 0.0);
      for (size_t k = 0; k < refs.size(); ++k) {
        if (hi_value > lo_value) {
          column[k] = (moved[0][k] - moved[1][k]) / std::log(hi_value / lo_value) / noise[k];
        }
      }
      last_moved = std::move(moved);
      return column;
    };
    auto wide = sensitivity(up, down);
    if (!wide) return fail(wide.error());
    const std::vector<double>& column = *wide;
    bool exercised = false;
    for (size_t k = 0; k < refs.size(); ++k) {
      const double effect = std::max(std::abs(last_moved[0][k] - base_errors[k]),
                                     std::abs(last_moved[1][k] - base_errors[k]));
      exercised |= effect >= std::max(std::log1p(kMinEffect), kMinEffectNoise * noise[k]);
    }
    // Which side moves the figures more (for the reason a factor is kept).
    double moved_above = 0, moved_below = 0;
    for (size_t k = 0; k < refs.size(); ++k) {
      moved_above += std::abs(last_moved[0][k] - base_errors[k]) / noise[k];
      moved_below += std::abs(last_moved[1][k] - base_errors[k]) / noise[k];
    }
    FactorResult& r = result_of(f);
    if (!exercised) {
      r.why = fmt::format(
          "kept: the stages do not exercise it (x{0:g} or /{0:g} moves no figure by more than "
          "its noise)",
          kScreenFactor);
      continue;
    }
    // What a factor does that the factors chosen before it cannot: its part outside their span.
    auto outside = [&](std::vector<double> v) {
      for (const auto& b : basis) {
        const double dot = std::inner_product(v.begin(), v.end(), b.begin(), 0.0);
        for (size_t k = 0; k < v.size(); ++k) v[k] -= dot * b[k];
      }
      return v;
    };
    auto length = [](const std::vector<double>& v) {
      return std::sqrt(std::inner_product(v.begin(), v.end(), v.begin(), 0.0));
    };
    std::vector<std::pair<double, std::string>> overlaps;
    for (size_t b = 0; b < basis.size(); ++b) {
      const double dot = std::inner_product(column.begin(), column.end(), basis[b].begin(), 0.0);
      overlaps.emplace_back(std::abs(dot), chosen[b]->key);
    }
    const double norm = length(column);
    const double rest = length(outside(column));
    if (norm <= 0) {
      r.why = "kept: its range is a single value";
      continue;
    }
    if (rest < kMinIndependentEffect) {
      std::sort(overlaps.rbegin(), overlaps.rend());
      std::vector<std::string> names;
      for (const auto& [dot, name] : overlaps) {
        if (dot > 0.3 * norm) names.push_back(name);
      }
      r.why = names.empty()
                  ? "kept: its effect on these stages is too small next to their noise to pin "
                    "it down"
                  : fmt::format(
                        "kept: these stages cannot tell its effect from {}'s (stages with other "
                        "batch sizes or lengths would)",
                        list_names(names));
      continue;
    }
    // The same near the starting value: a factor that matters only on one side of it (decode
    // compute while the batches are memory-bound, the API server's CPU while it is far from
    // busy) hardly moves the figures where the fit starts, so the fit could drift it anywhere.
    auto local = sensitivity(clamp_to(f, v0 * kLocalFactor), clamp_to(f, v0 / kLocalFactor));
    if (!local) return fail(local.error());
    std::vector<double> residual = outside(*local);
    const double rest_near = length(residual);
    if (rest_near < kMinIndependentEffect) {
      r.why = fmt::format(
          "kept: near its value (x{0:g} or /{0:g}) it moves these stages' figures too little, "
          "apart from what the factors before it do, to pin it down; only a much {1} value "
          "would show",
          kLocalFactor, moved_above >= moved_below ? "larger" : "smaller");
      continue;
    }
    for (double& x : residual) x /= rest_near;
    basis.push_back(std::move(residual));
    chosen.push_back(&f);
    r.fitted = true;
    const size_t most = static_cast<size_t>(
        std::max_element(column.begin(), column.end(),
                         [](double a, double b) { return std::abs(a) < std::abs(b); }) -
        column.begin());
    r.why = fmt::format("fitted (moves {} most)", kMetricNames[refs[most].metric]);
  }

  c.after = c.before;
  std::vector<double> after_errors = base_errors;
  std::vector<StageFigures> after_figures = *base;
  if (chosen.empty()) {
    c.notes.push_back("no factor is identifiable from these stages: nothing fitted");
  } else {
    std::vector<std::string> names;
    for (const Factor* f : chosen) names.push_back(f->key);
    say(fmt::format("fitting {} from {} figure(s) (up to {} simulations)", list_names(names),
                    refs.size(), options.max_simulations));
    std::vector<double> x0, lo, hi;
    for (const Factor* f : chosen) {
      x0.push_back(std::log(clamp_to(*f, c.before.*f->member > 0 ? c.before.*f->member : f->lo)));
      lo.push_back(std::log(f->lo));
      hi.push_back(std::log(f->hi));
    }
    auto efficiency_at = [&](const std::vector<double>& x) {
      Efficiency e = c.before;
      for (size_t i = 0; i < chosen.size(); ++i) e.*chosen[i]->member = std::exp(x[i]);
      return e;
    };
    double best = std::numeric_limits<double>::infinity();
    int evaluations = 0;
    auto objective = [&](const std::vector<double>& x) -> Result<double> {
      auto figures = replayer.run(efficiency_at(x));
      if (!figures) return fail(figures.error());
      const auto errors = log_errors(refs, run, *figures);
      double value = loss(errors, noise);
      for (size_t i = 0; i < x.size(); ++i) value += kPriorWeight * (x[i] - x0[i]) * (x[i] - x0[i]);
      if (value < best) {
        best = value;
        after_errors = errors;
        after_figures = *figures;
      }
      if (++evaluations % 10 == 0) {
        say(fmt::format("simulation {}/{}: best objective {:.3g} (error {:.1f}%)", evaluations,
                        options.max_simulations, best, 100 * mean_abs_error(after_errors)));
      }
      return value;
    };
    auto minimum = nelder_mead(objective, x0, lo, hi, options.max_simulations);
    if (!minimum) return fail(minimum.error());
    c.after = efficiency_at(minimum->x);
  }

  for (const Factor& f : kFactors) result_of(f).after = c.after.*f.member * f.to_unit;
  for (const Factor* f : chosen) {
    FactorResult& r = result_of(*f);
    const double v = c.after.*f->member;
    if (v <= f->lo * 1.001 || v >= f->hi * 0.999) {
      r.why += fmt::format(
          "; at the edge of its range [{:g}, {:g}]{}: the server may differ from the model in "
          "a way this factor cannot express",
          f->lo * f->to_unit, f->hi * f->to_unit, *f->unit ? fmt::format(" {}", f->unit) : "");
    }
  }
  for (size_t i = 0; i < run.stages.size(); ++i) {
    const MeasuredStage& s = run.stages[i];
    StageComparison sc;
    sc.index = s.index;
    sc.rate = s.rate;
    sc.concurrency = s.concurrency;
    sc.requests = s.requests;
    sc.replayed = replayer.replayed(i);
    sc.measured = {s.ttft_median, s.tpot_median, s.output_tokens_per_sec};
    sc.before = (*base)[i];
    sc.after = after_figures[i];
    c.stages.push_back(sc);
  }
  c.error_before = mean_abs_error(base_errors);
  c.error_after = mean_abs_error(after_errors);
  c.simulations = replayer.candidates();
  c.replays = replayer.replays();
  for (size_t k = 0; k < refs.size(); ++k) {
    c.stages[refs[k].stage].noise[refs[k].metric] = noise[k];
  }
  c.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return c;
}

}  // namespace kgai::quickstart
