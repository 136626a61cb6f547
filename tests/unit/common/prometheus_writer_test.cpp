#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/prometheus.h"
#include "common/stats.h"

namespace kgai::prom {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(FormatValue, Integers) {
  EXPECT_EQ(format_value(0.0), "0");
  EXPECT_EQ(format_value(-0.0), "0");
  EXPECT_EQ(format_value(3.0), "3");
  EXPECT_EQ(format_value(-3.0), "-3");
  EXPECT_EQ(format_value(1.7e9), "1700000000");
  EXPECT_EQ(format_value(9007199254740992.0), "9007199254740992");    // 2^53
  EXPECT_EQ(format_value(-9007199254740992.0), "-9007199254740992");  // -2^53
}

TEST(FormatValue, BeyondTwoToThe53UsesShortestRoundTrip) {
  // fmt switches to the exponent form from 1e16 on; below that the digits are shortest anyway.
  EXPECT_EQ(format_value(9007199254740994.0), "9007199254740994");
  EXPECT_EQ(format_value(1e16), "1e+16");
  EXPECT_EQ(format_value(1.5e17), "1.5e+17");
  EXPECT_EQ(format_value(1e20), "1e+20");
  EXPECT_EQ(format_value(-1e300), "-1e+300");
}

TEST(FormatValue, Fractions) {
  EXPECT_EQ(format_value(0.5), "0.5");
  EXPECT_EQ(format_value(0.1), "0.1");
  EXPECT_EQ(format_value(0.001), "0.001");
  EXPECT_EQ(format_value(123.456), "123.456");
  EXPECT_EQ(format_value(-2.5), "-2.5");
  EXPECT_EQ(format_value(1e-7), "1e-07");
  EXPECT_EQ(format_value(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(format_value(std::numeric_limits<double>::denorm_min()), "5e-324");
}

TEST(FormatValue, Specials) {
  EXPECT_EQ(format_value(kInf), "+Inf");
  EXPECT_EQ(format_value(-kInf), "-Inf");
  EXPECT_EQ(format_value(std::numeric_limits<double>::quiet_NaN()), "NaN");
}

// Every finite double must read back bit for bit, whichever form it was written in.
TEST(FormatValue, RoundTripsRandomDoubles) {
  std::mt19937_64 rng(20240601);
  for (int i = 0; i < 20000; ++i) {
    double value = std::bit_cast<double>(rng());
    if (std::isnan(value)) continue;
    std::string text = format_value(value);
    std::optional<double> back = parse_value(text);
    ASSERT_TRUE(back.has_value()) << text;
    if (value == 0.0) {
      EXPECT_EQ(*back, 0.0) << text;
    } else {
      EXPECT_EQ(std::bit_cast<uint64_t>(*back), std::bit_cast<uint64_t>(value)) << text;
    }
  }
}

TEST(TypeName, AllTypes) {
  EXPECT_EQ(type_name(MetricType::kCounter), "counter");
  EXPECT_EQ(type_name(MetricType::kGauge), "gauge");
  EXPECT_EQ(type_name(MetricType::kHistogram), "histogram");
  EXPECT_EQ(type_name(MetricType::kSummary), "summary");
  EXPECT_EQ(type_name(MetricType::kUntyped), "untyped");
}

TEST(TextWriter, FamilyAndSamples) {
  TextWriter writer;
  writer.family("vllm:num_requests_running", MetricType::kGauge,
                "Number of requests in model execution batches.");
  writer.sample("vllm:num_requests_running",
                {{"engine", "0"}, {"model_name", "meta-llama/Llama-3.1-8B-Instruct"}}, 3);
  writer.family("up", MetricType::kGauge, "");
  writer.sample("up", {}, 1);
  EXPECT_EQ(writer.text(),
            "# HELP vllm:num_requests_running Number of requests in model execution batches.\n"
            "# TYPE vllm:num_requests_running gauge\n"
            "vllm:num_requests_running{engine=\"0\",model_name=\"meta-llama/"
            "Llama-3.1-8B-Instruct\"} 3\n"
            "# HELP up \n"
            "# TYPE up gauge\n"
            "up 1\n");
}

TEST(TextWriter, CounterAndSpecialValues) {
  TextWriter writer;
  writer.family("vllm:prompt_tokens_total", MetricType::kCounter, "Prompt tokens.");
  writer.sample("vllm:prompt_tokens_total", {{"model_name", "m"}}, 12345);
  writer.sample("vllm:prompt_tokens_created", {{"model_name", "m"}}, 1745812345.25);
  writer.family("x", MetricType::kUntyped, "h");
  writer.sample("x", {{"a", "1"}}, kInf);
  writer.sample("x", {{"a", "2"}}, -kInf);
  writer.sample("x", {{"a", "3"}}, std::nan(""));
  EXPECT_EQ(writer.text(),
            "# HELP vllm:prompt_tokens_total Prompt tokens.\n"
            "# TYPE vllm:prompt_tokens_total counter\n"
            "vllm:prompt_tokens_total{model_name=\"m\"} 12345\n"
            "vllm:prompt_tokens_created{model_name=\"m\"} 1745812345.25\n"
            "# HELP x h\n"
            "# TYPE x untyped\n"
            "x{a=\"1\"} +Inf\n"
            "x{a=\"2\"} -Inf\n"
            "x{a=\"3\"} NaN\n");
}

TEST(TextWriter, EscapesHelp) {
  TextWriter writer;
  writer.family("m", MetricType::kGauge, "two\nlines, a back\\slash and \"quotes\"");
  EXPECT_EQ(writer.text(),
            "# HELP m two\\nlines, a back\\\\slash and \"quotes\"\n"
            "# TYPE m gauge\n");
}

TEST(TextWriter, EscapesLabelValues) {
  TextWriter writer;
  writer.sample("m", {{"path", "C:\\dir"}, {"quote", "say \"hi\""}, {"nl", "a\nb"}, {"e", ""}}, 1);
  EXPECT_EQ(writer.text(),
            "m{path=\"C:\\\\dir\",quote=\"say \\\"hi\\\"\",nl=\"a\\nb\",e=\"\"} 1\n");
}

TEST(TextWriter, RepairsInvalidUtf8InLabelValuesAndHelp) {
  // One invalid byte would make Prometheus reject the whole page: it becomes U+FFFD.
  TextWriter writer;
  writer.family("m", MetricType::kGauge, "bad \xff help");
  writer.sample("m", {{"model", "x\xff\xfe\"y"}}, 1);
  EXPECT_EQ(writer.text(),
            "# HELP m bad \xEF\xBF\xBD help\n"
            "# TYPE m gauge\n"
            "m{model=\"x\xEF\xBF\xBD\xEF\xBF\xBD\\\"y\"} 1\n");
  auto parsed = parse_text(writer.text());
  ASSERT_TRUE(parsed) << parsed.error().message;
}

TEST(TextWriter, SpanOverload) {
  std::vector<LabelView> labels = {{"a", "x"}, {"b", "y"}};
  TextWriter writer;
  writer.sample("m", std::span<const LabelView>(labels), 0.25);
  EXPECT_EQ(writer.text(), "m{a=\"x\",b=\"y\"} 0.25\n");
}

TEST(TextWriter, HistogramWithLabels) {
  stats::BucketHistogram histogram({0.1, 0.5, 1, 2.5});
  histogram.observe(0.05);
  histogram.observe(0.1);  // on the bound: counts in le="0.1"
  histogram.observe(0.7, 3);
  histogram.observe(100);
  TextWriter writer;
  writer.family("ttft_seconds", MetricType::kHistogram, "TTFT.");
  writer.histogram("ttft_seconds", {{"model_name", "m\"1"}, {"engine", "0"}}, histogram);
  EXPECT_EQ(writer.text(),
            "# HELP ttft_seconds TTFT.\n"
            "# TYPE ttft_seconds histogram\n"
            "ttft_seconds_bucket{model_name=\"m\\\"1\",engine=\"0\",le=\"0.1\"} 2\n"
            "ttft_seconds_bucket{model_name=\"m\\\"1\",engine=\"0\",le=\"0.5\"} 2\n"
            "ttft_seconds_bucket{model_name=\"m\\\"1\",engine=\"0\",le=\"1\"} 5\n"
            "ttft_seconds_bucket{model_name=\"m\\\"1\",engine=\"0\",le=\"2.5\"} 5\n"
            "ttft_seconds_bucket{model_name=\"m\\\"1\",engine=\"0\",le=\"+Inf\"} 6\n"
            "ttft_seconds_sum{model_name=\"m\\\"1\",engine=\"0\"} 102.25\n"
            "ttft_seconds_count{model_name=\"m\\\"1\",engine=\"0\"} 6\n");
}

TEST(TextWriter, HistogramWithoutLabels) {
  stats::BucketHistogram histogram({1, 8});
  histogram.observe(4);
  TextWriter writer;
  writer.histogram("tokens", {}, histogram);
  EXPECT_EQ(writer.text(),
            "tokens_bucket{le=\"1\"} 0\n"
            "tokens_bucket{le=\"8\"} 1\n"
            "tokens_bucket{le=\"+Inf\"} 1\n"
            "tokens_sum 4\n"
            "tokens_count 1\n");
}

TEST(TextWriter, HistogramWithNoBoundsOrOwnInfBound) {
  TextWriter writer;
  stats::BucketHistogram empty({});
  empty.observe(2);
  writer.histogram("a", {{"k", "v"}}, empty);
  stats::BucketHistogram with_inf({1, kInf});
  with_inf.observe(5);
  writer.histogram("b", {}, with_inf);
  stats::BucketHistogram only_inf({kInf});
  only_inf.observe(5);
  writer.histogram("c", {{"k", "v"}}, only_inf);
  EXPECT_EQ(writer.text(),
            "a_bucket{k=\"v\",le=\"+Inf\"} 1\n"
            "a_sum{k=\"v\"} 2\n"
            "a_count{k=\"v\"} 1\n"
            "b_bucket{le=\"1\"} 0\n"
            "b_bucket{le=\"+Inf\"} 1\n"
            "b_sum 5\n"
            "b_count 1\n"
            "c_bucket{k=\"v\",le=\"+Inf\"} 1\n"
            "c_sum{k=\"v\"} 5\n"
            "c_count{k=\"v\"} 1\n");
}

// Many histograms appended to one writer: the label copies must survive the buffer growing
// between calls (a regression guard for copying labels out of text_ itself).
TEST(TextWriter, ManyHistogramsKeepLabelsIntact) {
  stats::BucketHistogram histogram({0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50});
  histogram.observe(1.2);
  TextWriter writer;
  writer.family("h", MetricType::kHistogram, "");
  for (int i = 0; i < 200; ++i) {
    std::string model = "model-" + std::to_string(i) + std::string(i % 40, 'x');
    writer.histogram("h", {{"model_name", model}}, histogram);
  }
  Result<Exposition> parsed = parse_text(writer.text());
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  ASSERT_EQ(parsed->families.size(), 1u);
  const std::vector<Sample>& samples = parsed->families[0].samples;
  constexpr std::size_t kLinesPerSeries = 15 + 2;  // 14 bounds, +Inf, _sum, _count
  ASSERT_EQ(samples.size(), 200 * kLinesPerSeries);
  for (std::size_t i = 0; i < 200; ++i) {
    std::string model = "model-" + std::to_string(i) + std::string(i % 40, 'x');
    for (std::size_t line = 0; line < kLinesPerSeries; ++line) {
      const Sample& sample = samples[i * kLinesPerSeries + line];
      ASSERT_NE(sample.label("model_name"), nullptr);
      EXPECT_EQ(*sample.label("model_name"), model);
    }
  }
}

TEST(TextWriter, Take) {
  TextWriter writer;
  writer.sample("a", {}, 1);
  std::string text = writer.take();
  EXPECT_EQ(text, "a 1\n");
}

// --- Round trip of a realistic vLLM exposition -------------------------------------------

const std::vector<double> kTtftBuckets = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
                                          0.25,  0.5,   0.75, 1,    2.5,  5,    7.5,  10,
                                          20,    40,    80,   160,  640,  2560};
const std::vector<double> kItlBuckets = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5,
                                         0.75, 1,     2.5,  5,     7.5, 10,   20,  40,  80};
const std::vector<double> kRequestBuckets = {0.3, 0.5, 0.8, 1,  1.5, 2,   2.5, 5,   10,   15,  20,
                                             30,  40,  50,  60, 120, 240, 480, 960, 1920, 7680};
const std::vector<double> kIterationTokenBuckets = {1,   8,    16,   32,   64,   128,  256,
                                                    512, 1024, 2048, 4096, 8192, 16384};

struct GaugeCase {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;
  double value;
};

struct HistogramCase {
  std::string name;
  std::vector<double> bounds;
  std::vector<double> observations;
};

std::vector<LabelView> views(const std::vector<std::pair<std::string, std::string>>& labels) {
  std::vector<LabelView> out;
  for (const auto& [name, value] : labels) out.push_back({name, value});
  return out;
}

class VllmRoundTrip : public ::testing::Test {
 protected:
  // Values chosen to exercise escaping and awkward numbers.
  const std::string model_ = "meta-llama/Llama-3.1-8B-Instruct";
  const std::string odd_model_ = "org/\"quoted\"\\back\nslash";
  std::vector<std::pair<std::string, std::string>> base_labels(const std::string& model) {
    return {{"engine", "0"}, {"model_name", model}};
  }
};

TEST_F(VllmRoundTrip, EveryValueAndLabelSurvives) {
  std::vector<GaugeCase> gauges;
  for (const char* name : {"vllm:num_requests_running", "vllm:num_requests_waiting",
                           "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"}) {
    gauges.push_back({name, base_labels(model_), 3});
    gauges.push_back({name, base_labels(odd_model_), 17});
  }
  gauges[4].value = 0.4321987654321;
  gauges[7].value = 1e-9;
  std::vector<GaugeCase> counters;
  for (const char* name :
       {"vllm:prompt_tokens", "vllm:generation_tokens", "vllm:num_preemptions"}) {
    counters.push_back({name, base_labels(model_), 123456789});
    counters.push_back({name, base_labels(odd_model_), 0});
  }
  for (const std::string& model : {model_, odd_model_}) {
    for (const char* reason : {"stop", "length", "abort"}) {
      auto labels = base_labels(model);
      labels.emplace_back("finished_reason", reason);
      counters.push_back({"vllm:request_success", labels, 42.0 + reason[0]});
    }
  }
  std::vector<HistogramCase> histograms = {
      {"vllm:time_to_first_token_seconds", kTtftBuckets, {0.0005, 0.01, 0.0123, 3, 5000}},
      {"vllm:inter_token_latency_seconds", kItlBuckets, {0.01, 0.011, 0.02, 0.02, 0.5}},
      {"vllm:e2e_request_latency_seconds", kRequestBuckets, {0.3, 1.7, 9.99, 7680, 8000}},
      {"vllm:iteration_tokens_total", kIterationTokenBuckets, {1, 7, 8, 300, 16385}},
  };
  const double created = 1745812345.678;

  TextWriter writer;
  std::string family;
  for (const GaugeCase& gauge : gauges) {
    if (gauge.name != family) {
      family = gauge.name;
      writer.family(family, MetricType::kGauge, "Gauge \"" + family + "\" help\\with\nescapes");
    }
    writer.sample(gauge.name, views(gauge.labels), gauge.value);
  }
  for (const GaugeCase& counter : counters) {
    if (counter.name != family) {
      family = counter.name;
      writer.family(family + "_total", MetricType::kCounter, "Counter.");
    }
    writer.sample(counter.name + "_total", views(counter.labels), counter.value);
    writer.sample(counter.name + "_created", views(counter.labels), created);
  }
  for (const HistogramCase& h : histograms) {
    writer.family(h.name, MetricType::kHistogram, "Histogram.");
    for (const std::string& model : {model_, odd_model_}) {
      stats::BucketHistogram histogram(h.bounds);
      for (double value : h.observations) histogram.observe(value);
      writer.histogram(h.name, views(base_labels(model)), histogram);
    }
  }
  writer.family("vllm:lora_requests_info", MetricType::kGauge, "LoRA.");
  writer.sample("vllm:lora_requests_info",
                {{"max_lora", "4"},
                 {"running_lora_adapters", "sql-lora,chat\"lora"},
                 {"waiting_lora_adapters", ""}},
                1745812399.5);

  Result<Exposition> parsed = parse_text(writer.text());
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  const Exposition& exposition = *parsed;

  auto expect_sample = [&](const std::string& name,
                           const std::vector<std::pair<std::string, std::string>>& labels,
                           double value) {
    // find_sample takes an initializer_list, so match on the family's samples directly.
    const Sample* found = nullptr;
    for (const MetricFamily& f : exposition.families) {
      for (const Sample& s : f.samples) {
        if (s.name != name || s.labels.size() != labels.size()) continue;
        bool same = true;
        for (std::size_t i = 0; i < labels.size(); ++i) {
          same =
              same && s.labels[i].name == labels[i].first && s.labels[i].value == labels[i].second;
        }
        if (same) found = &s;
      }
    }
    ASSERT_NE(found, nullptr) << name;
    EXPECT_EQ(found->value, value) << name;
    EXPECT_FALSE(found->timestamp_ms.has_value());
  };

  for (const GaugeCase& gauge : gauges) {
    const MetricFamily* f = exposition.find(gauge.name);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->type, MetricType::kGauge);
    EXPECT_EQ(f->help, "Gauge \"" + gauge.name + "\" help\\with\nescapes");
    expect_sample(gauge.name, gauge.labels, gauge.value);
  }
  for (const GaugeCase& counter : counters) {
    const MetricFamily* f = exposition.find(counter.name + "_total");
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->type, MetricType::kCounter);
    EXPECT_EQ(exposition.find(counter.name), f);  // found by its stem too
    expect_sample(counter.name + "_total", counter.labels, counter.value);
    expect_sample(counter.name + "_created", counter.labels, created);
  }
  for (const HistogramCase& h : histograms) {
    const MetricFamily* f = exposition.find(h.name);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->type, MetricType::kHistogram);
    EXPECT_EQ(f->samples.size(), 2 * (h.bounds.size() + 3));
    for (const std::string& model : {model_, odd_model_}) {
      stats::BucketHistogram histogram(h.bounds);
      for (double value : h.observations) histogram.observe(value);
      uint64_t cumulative = 0;
      for (std::size_t i = 0; i <= h.bounds.size(); ++i) {
        cumulative += histogram.counts()[i];
        auto labels = base_labels(model);
        labels.emplace_back("le", i < h.bounds.size() ? format_value(h.bounds[i]) : "+Inf");
        expect_sample(h.name + "_bucket", labels, static_cast<double>(cumulative));
      }
      expect_sample(h.name + "_sum", base_labels(model), histogram.sum());
      expect_sample(h.name + "_count", base_labels(model), histogram.count());
    }
  }
  const Sample* lora = exposition.find_sample("vllm:lora_requests_info");
  ASSERT_NE(lora, nullptr);
  EXPECT_EQ(lora->value, 1745812399.5);
  EXPECT_EQ(*lora->label("max_lora"), "4");
  EXPECT_EQ(*lora->label("running_lora_adapters"), "sql-lora,chat\"lora");
  EXPECT_EQ(*lora->label("waiting_lora_adapters"), "");

  // The gateway's lookups, through the public helpers.
  const Sample* waiting =
      exposition.find_sample("vllm:num_requests_waiting", {{"model_name", odd_model_}});
  ASSERT_NE(waiting, nullptr);
  EXPECT_EQ(waiting->value, 17);
  const Sample* usage =
      exposition.find_sample("vllm:kv_cache_usage_perc", {{"model_name", model_}});
  ASSERT_NE(usage, nullptr);
  EXPECT_EQ(usage->value, 0.4321987654321);
  const Sample* bucket = exposition.find_sample("vllm:time_to_first_token_seconds_bucket",
                                                {{"model_name", model_}, {"le", "0.02"}});
  ASSERT_NE(bucket, nullptr);
  EXPECT_EQ(bucket->value, 3);  // 0.0005, 0.01, 0.0123
}

}  // namespace
}  // namespace kgai::prom
