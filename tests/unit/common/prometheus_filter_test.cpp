// The filtered parse (parse_text with a FamilyFilter): same samples as a full parse for the
// families it keeps, strict errors on kept lines, bounded and documented checks on the rest.
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "common/prometheus.h"
#include "unit/common/prometheus_compare.h"

namespace kgai::prom {
namespace {

using testing::filtered_matches_full;
using testing::keep_families;
using testing::same_exposition;

// A vLLM-like page: the gauges the gateway reads between histograms, counters and the
// Python process families it does not.
const std::string& page() {
  static const std::string text = [] {
    TextWriter w;
    w.family("python_gc_objects_collected_total", MetricType::kCounter, "Objects collected");
    for (const char* generation : {"0", "1", "2"}) {
      w.sample("python_gc_objects_collected_total", {{"generation", generation}}, 12834);
    }
    w.family("vllm:num_requests_running", MetricType::kGauge, "Requests in the batch.");
    w.sample("vllm:num_requests_running", {{"engine", "0"}, {"model_name", "m"}}, 3);
    w.sample("vllm:num_requests_running", {{"engine", "1"}, {"model_name", "m"}}, 4);
    stats::BucketHistogram h({0.01, 0.1, 1, 10});
    for (int i = 0; i < 100; ++i) h.observe(0.005 * i);
    w.family("vllm:time_to_first_token_seconds", MetricType::kHistogram, "TTFT.");
    w.histogram("vllm:time_to_first_token_seconds", {{"engine", "0"}, {"model_name", "m"}}, h);
    w.histogram("vllm:time_to_first_token_seconds", {{"engine", "1"}, {"model_name", "m"}}, h);
    w.family("vllm:num_requests_waiting", MetricType::kGauge, "Requests waiting.");
    w.sample("vllm:num_requests_waiting", {{"engine", "0"}, {"model_name", "m"}}, 1);
    w.family("vllm:prompt_tokens", MetricType::kCounter, "Prompt tokens.");
    w.sample("vllm:prompt_tokens_total", {{"model_name", "m"}}, 12345);
    w.sample("vllm:prompt_tokens_created", {{"model_name", "m"}}, 1.7e9);
    w.family("vllm:lora_requests_info", MetricType::kGauge, "LoRA.");
    w.sample("vllm:lora_requests_info",
             {{"max_lora", "4"}, {"running_lora_adapters", "a,b"}, {"waiting_lora_adapters", ""}},
             1.7e9);
    w.family("vllm:cache_config_info", MetricType::kGauge, "Cache config.");
    w.sample("vllm:cache_config_info", {{"block_size", "16"}, {"num_gpu_blocks", "1000"}}, 1);
    return w.take();
  }();
  return text;
}

const FamilyFilter& gateway_filter() {
  static const FamilyFilter keep{"vllm:num_requests_waiting", "vllm:num_requests_running",
                                 "vllm:kv_cache_usage_perc",  "vllm:gpu_cache_usage_perc",
                                 "vllm:cache_config_info",    "vllm:lora_requests_info"};
  return keep;
}

std::vector<std::string> family_names(const Exposition& e) {
  std::vector<std::string> names;
  for (const MetricFamily& family : e.families) names.push_back(family.name);
  return names;
}

// --- Which names a filter keeps -------------------------------------------------------------

TEST(FamilyFilter, FamiliesAndTheirCounterSpellings) {
  FamilyFilter keep{"x", "c_total"};
  EXPECT_TRUE(keep.keeps_family("x"));
  EXPECT_TRUE(keep.keeps_family("x_total"));  // a counter declared with its sample name
  EXPECT_TRUE(keep.keeps_family("c"));        // a counter declared by its stem
  EXPECT_TRUE(keep.keeps_family("c_total"));
  EXPECT_FALSE(keep.keeps_family("x_sum"));
  EXPECT_FALSE(keep.keeps_family("xx"));
  EXPECT_FALSE(keep.keeps_family(""));
  EXPECT_FALSE(keep.keeps_family("c_created"));
}

TEST(FamilyFilter, SamplesByTheFamilyTheyWouldJoin) {
  FamilyFilter keep{"h", "c_total"};
  for (std::string_view name : {"h", "h_bucket", "h_sum", "h_count", "h_created", "h_total",
                                "h_total_created", "c", "c_total", "c_created"}) {
    EXPECT_TRUE(keep.keeps_sample(name)) << name;
  }
  for (std::string_view name :
       {"", "hh", "h_", "h_buckets", "h_bucket_sum", "c_sum_total", "g", "h:bucket", "c_total2"}) {
    EXPECT_FALSE(keep.keeps_sample(name)) << name;
  }
}

TEST(FamilyFilter, EmptyNamesKeepNothing) {
  FamilyFilter keep{""};
  EXPECT_FALSE(keep.keeps_family(""));
  EXPECT_FALSE(keep.keeps_sample("_sum"));
}

// --- Same result as the full parse, filtered -------------------------------------------------

TEST(FilteredParse, MatchesFullParseOnAPage) {
  EXPECT_TRUE(filtered_matches_full(page(), gateway_filter()));
  auto parsed = parse_text(page(), gateway_filter());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(family_names(*parsed),
            (std::vector<std::string>{"vllm:num_requests_running", "vllm:num_requests_waiting",
                                      "vllm:lora_requests_info", "vllm:cache_config_info"}));
  const Sample* info = parsed->find_sample("vllm:lora_requests_info");
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(*info->label("running_lora_adapters"), "a,b");
  EXPECT_EQ(parsed->find("vllm:num_requests_running")->help, "Requests in the batch.");
}

TEST(FilteredParse, MatchesFullParseForEveryFamilyAndSets) {
  auto full = parse_text(page());
  ASSERT_TRUE(full);
  for (const MetricFamily& family : full->families) {
    FamilyFilter keep{family.name};
    EXPECT_TRUE(filtered_matches_full(page(), keep)) << family.name;
    auto filtered = parse_text(page(), keep);
    ASSERT_TRUE(filtered);
    ASSERT_EQ(filtered->families.size(), 1u) << family.name;
  }
  // Histograms and counters by either spelling, and nothing at all.
  EXPECT_TRUE(filtered_matches_full(page(), FamilyFilter{"vllm:time_to_first_token_seconds"}));
  EXPECT_TRUE(filtered_matches_full(page(), FamilyFilter{"vllm:prompt_tokens_total"}));
  EXPECT_TRUE(filtered_matches_full(page(), FamilyFilter{"python_gc_objects_collected"}));
  EXPECT_TRUE(filtered_matches_full(page(), FamilyFilter{"no_such_family"}));
  EXPECT_TRUE(parse_text(page(), FamilyFilter{})->families.empty());
}

TEST(FilteredParse, NamesThatArePrefixesOrExtensionsOfKeptNames) {
  const std::string text =
      "# TYPE vllm:num_requests_waitin gauge\n"
      "vllm:num_requests_waitin 7\n"
      "# TYPE vllm:num_requests_waiting_by_reason gauge\n"
      "vllm:num_requests_waiting_by_reason{reason=\"preempted\"} 5\n"
      "# TYPE vllm:num_requests_waiting gauge\n"
      "vllm:num_requests_waiting 2\n"
      "# TYPE vllm:num_requests_waiting_total counter\n"
      "vllm:num_requests_waiting_total 9\n"
      "# TYPE vllm:num_requests_waiting_seconds histogram\n"
      "vllm:num_requests_waiting_seconds_bucket{le=\"+Inf\"} 1\n"
      "vllm:num_requests_waiting_seconds_sum 1\n"
      "vllm:num_requests_waiting_seconds_count 1\n";
  FamilyFilter keep{"vllm:num_requests_waiting"};
  EXPECT_TRUE(filtered_matches_full(text, keep));
  auto parsed = parse_text(text, keep);
  ASSERT_TRUE(parsed);
  // "_total" is the counter spelling of a kept name, so that family is kept too (as
  // Exposition::find treats the two as one); find still prefers the exact name.
  EXPECT_EQ(family_names(*parsed), (std::vector<std::string>{"vllm:num_requests_waiting",
                                                             "vllm:num_requests_waiting_total"}));
  EXPECT_EQ(parsed->find("vllm:num_requests_waiting")->samples[0].value, 2);

  // Lines of the prefix families are skipped: broken labels there are not looked at.
  std::string broken = text;
  broken.replace(broken.find("reason=\"preempted\""), 18, "reason=preempted\\q");
  EXPECT_FALSE(parse_text(broken));
  EXPECT_TRUE(filtered_matches_full(text, keep));
  auto skipped = parse_text(broken, keep);
  ASSERT_TRUE(skipped) << skipped.error().message;
  EXPECT_TRUE(same_exposition(*skipped, *parsed));
}

TEST(FilteredParse, CountersByStemOrSampleName) {
  const std::string text =
      "# TYPE a counter\na_total 1\na_created 1.7e9\n"
      "# TYPE b_total counter\nb_total 2\nb_created 1.7e9\n"
      "c_total 3\n";
  for (std::string_view name : {"a", "a_total", "b", "b_total", "c", "c_total"}) {
    FamilyFilter keep{name};
    EXPECT_TRUE(filtered_matches_full(text, keep)) << name;
    auto parsed = parse_text(text, keep);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->families.size(), 1u) << name;
  }
  auto b = parse_text(text, FamilyFilter{"b"});
  ASSERT_TRUE(b);
  EXPECT_EQ(b->families[0].samples.size(), 2u);  // b_created joins the counter b_total
}

TEST(FilteredParse, HelpAndTypeLines) {
  const std::string text =
      "# HELP other Has \\q odd escapes and \"quotes\" {\n"
      "# TYPE other histogram\n"
      "# just a comment about kept {\n"
      "# HELP kept First line\\nsecond \\\\ line\n"
      "# TYPE kept gauge\n"
      "kept 1\n"
      "#TYPE other2 gauge\n"
      "other2 2\n";
  FamilyFilter keep{"kept"};
  EXPECT_TRUE(filtered_matches_full(text, keep));
  auto parsed = parse_text(text, keep);
  ASSERT_TRUE(parsed);
  ASSERT_EQ(parsed->families.size(), 1u);
  EXPECT_EQ(parsed->families[0].help, "First line\nsecond \\ line");
  EXPECT_EQ(parsed->families[0].type, MetricType::kGauge);

  // A kept family's HELP/TYPE errors are reported as by the full parse.
  for (std::string_view bad :
       {"# TYPE kept gauge\n# TYPE kept gauge\nkept 1\n", "# TYPE kept bogus\nkept 1\n",
        "# HELP kept a\n# HELP kept b\n", "kept 1\n# TYPE kept gauge\n"}) {
    auto full = parse_text(bad);
    auto filtered = parse_text(bad, keep);
    ASSERT_FALSE(full) << bad;
    ASSERT_FALSE(filtered) << bad;
    EXPECT_EQ(filtered.error().message, full.error().message);
  }
  // A skipped family's type is not read: documented.
  EXPECT_FALSE(parse_text("# TYPE other bogus\nkept 1\n"));
  EXPECT_TRUE(parse_text("# TYPE other bogus\nkept 1\n", keep));
  // Names are read on every HELP/TYPE line.
  auto bad_name = parse_text("kept 1\n# TYPE 9lives gauge\n", keep);
  ASSERT_FALSE(bad_name);
  EXPECT_EQ(bad_name.error().message, "line 2, column 8: invalid metric name");
}

TEST(FilteredParse, EscapedLabelValuesWithBracesAndNewlines) {
  const std::string text =
      "skipped{a=\"}\\\"}\\n{\",b=\"x\\\\\"} 1\n"
      "kept{a=\"}\",b=\"line\\nbreak \\\"q\\\" \\\\\"} 2\n"
      "skipped_too{a=\"} 3 \"} 4 1700000000000\n";
  FamilyFilter keep{"kept"};
  EXPECT_TRUE(filtered_matches_full(text, keep));
  auto parsed = parse_text(text, keep);
  ASSERT_TRUE(parsed);
  ASSERT_EQ(parsed->families.size(), 1u);
  const Sample& sample = parsed->families[0].samples.at(0);
  EXPECT_EQ(*sample.label("a"), "}");
  EXPECT_EQ(*sample.label("b"), "line\nbreak \"q\" \\");
  EXPECT_EQ(sample.value, 2);
}

TEST(FilteredParse, CrlfLineEnds) {
  std::string crlf;
  for (char c : page()) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  EXPECT_TRUE(filtered_matches_full(crlf, gateway_filter()));
  auto lf = parse_text(page(), gateway_filter());
  auto cr = parse_text(crlf, gateway_filter());
  ASSERT_TRUE(lf && cr);
  EXPECT_TRUE(same_exposition(*lf, *cr));
}

// --- Errors -----------------------------------------------------------------------------------

TEST(FilteredParse, MalformedKeptLineIsTheFullParsersError) {
  FamilyFilter keep{"kept"};
  for (std::string_view bad : {
           "other 1\n# TYPE kept gauge\nkept{a=\"b\" 1\n", "other 1\nkept{a=\"b\\q\"} 1\n",
           "other 1\n\nkept 1x\n", "other 1\nkept 1 2 3\n", "other 1\nkept{le=\"1\",le=\"2\"} 1\n",
           "other 1\nkept{a=\"b\"}\n", "# TYPE kept histogram\nkept_bucket{x=\"1\"} 1\n",
           "kept 1\nother 2\nkept 3\n",  // kept's lines are not grouped
       }) {
    auto full = parse_text(bad);
    auto filtered = parse_text(bad, keep);
    ASSERT_FALSE(full) << bad;
    ASSERT_FALSE(filtered) << bad;
    EXPECT_EQ(filtered.error().message, full.error().message) << bad;
  }
  auto cut = parse_text("a 1\nb 2\nkept{x=\"1\",", keep);
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.error().message.rfind("line 3, column ", 0), 0u) << cut.error().message;
}

TEST(FilteredParse, SkippedLinesAreCheckedForShapeOnly) {
  FamilyFilter keep{"kept"};
  // Passed over: defects inside labels, values that start like numbers, family rules.
  for (std::string_view fine : {
           "other{a=\"b\\q\"} 1\nkept 1\n",       // bad escape
           "other{9=\"b\",9=\"c\"} 1\nkept 1\n",  // bad and duplicate label names
           "other{a=b} 1\nkept 1\n",              // unquoted
           "other 1e\nkept 1\n",                  // a value that does not read as a double
           "other 0x1p3\nkept 1\n",               //
           "# TYPE other histogram\nother_bucket 1\nkept 1\n",  // no "le"
           "other 1\nx 1\nother 2\nkept 1\n",                   // not grouped
       }) {
    EXPECT_FALSE(parse_text(fine)) << fine;
    auto filtered = parse_text(fine, keep);
    ASSERT_TRUE(filtered) << fine << filtered.error().message;
    ASSERT_EQ(filtered->families.size(), 1u);
    EXPECT_EQ(filtered->families[0].samples.at(0).value, 1);
  }
  // Refused: what does not have a sample's shape at all.
  for (std::string_view bad : {
           "kept 1\nother{a=\"b\" 1\n",  // label set not closed
           "kept 1\nother\n",            // no value
           "kept 1\nother is not a number\n",
           "kept 1\nother 1 2 3\n",
           "kept 1\nother 1 now\n",
           "kept 1\n}}} not metrics {{{\n",
           "kept 1\nother-name 1\n",
           "kept 1\n<html><body>502 Bad Gateway</body></html>\n",
           "kept 1\nNot Found\n",
           "kept 1\n{\"error\": \"not found\"}\n",
       }) {
    auto filtered = parse_text(bad, keep);
    ASSERT_FALSE(filtered) << bad;
    EXPECT_EQ(filtered.error().message.rfind("line 2, column ", 0), 0u)
        << bad << filtered.error().message;
  }
  EXPECT_EQ(parse_text("kept 1\nother is\n", keep).error().message,
            "line 2, column 7: invalid value 'is'");
}

TEST(FilteredParse, ASkippedFamilyCollidingWithAKeptOneIsAnError) {
  // The documented exception: "x_count" is declared as its own gauge after the kept
  // histogram "x". The full parse accepts it; the filtered one sees x_count samples away
  // from their histogram.
  const std::string text =
      "# TYPE x histogram\nx_bucket{le=\"+Inf\"} 1\nx_sum 1\nx_count 1\n"
      "# TYPE x_count gauge\nx_count 5\n";
  EXPECT_TRUE(parse_text(text));
  auto filtered = parse_text(text, FamilyFilter{"x"});
  ASSERT_FALSE(filtered);
  EXPECT_EQ(filtered.error().message.rfind("line 6: ", 0), 0u) << filtered.error().message;
}

TEST(FilteredParse, WholeInputLimitsApply) {
  FamilyFilter keep{"kept"};
  EXPECT_FALSE(parse_text(std::string("other 1\n\0kept 1\n", 16), keep));
  ParseOptions small;
  small.max_bytes = 16;
  EXPECT_FALSE(parse_text("other 1\nother 2\nkept 1\n", keep, small));
  small = {};
  small.max_line_bytes = 10;
  auto long_line = parse_text("kept 1\nother{a=\"xxxxxxxxxxxx\"} 1\n", keep, small);
  ASSERT_FALSE(long_line);
  EXPECT_EQ(long_line.error().message.rfind("line 2: ", 0), 0u);
}

// --- Robustness: never crash, hang, or read out of bounds ------------------------------------

TEST(FilteredParseRobustness, EveryTruncationMatchesTheFullParseWhenThatSucceeds) {
  const std::string& text = page();
  for (std::size_t size = 0; size <= text.size(); ++size) {
    std::string prefix = text.substr(0, size);  // exactly `size` long, for ASan
    auto full = parse_text(prefix);
    auto filtered = parse_text(prefix, gateway_filter());
    if (full) {
      ASSERT_TRUE(filtered) << size << ": " << filtered.error().message;
      EXPECT_TRUE(same_exposition(*filtered, keep_families(*full, gateway_filter()))) << size;
    } else if (!filtered) {
      EXPECT_EQ(filtered.error().message.rfind("line ", 0), 0u) << filtered.error().message;
    }
  }
}

TEST(FilteredParseRobustness, MutatedPagesMatchTheFullParseWhenThatSucceeds) {
  std::mt19937 rng(4242);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> op(0, 2);
  int both_ok = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string text = page();
    for (int m = 0; m < 1 + i % 2; ++m) {
      std::uniform_int_distribution<std::size_t> at(0, text.size() - 1);
      std::size_t pos = at(rng);
      switch (op(rng)) {
        case 0:
          text[pos] = static_cast<char>(byte(rng));
          break;
        case 1:
          text.erase(pos, 1);
          break;
        default:
          text.insert(pos, 1, "\"\\{},= \n#_"[byte(rng) % 10]);
          break;
      }
    }
    auto full = parse_text(text);
    auto filtered = parse_text(text, gateway_filter());
    // Where the full parse succeeds the filtered one must too, and agree: so its errors are
    // a subset of the full parse's (this page has no colliding names, the one exception).
    if (!full) {
      if (!filtered) {
        EXPECT_EQ(filtered.error().message.rfind("line ", 0), 0u);
      }
      continue;
    }
    ASSERT_TRUE(filtered) << filtered.error().message << "\n" << text;
    EXPECT_TRUE(same_exposition(*filtered, keep_families(*full, gateway_filter())));
    ++both_ok;
  }
  EXPECT_GT(both_ok, 100);
}

TEST(FilteredParseRobustness, RandomGarbageAndPathologicalShapes) {
  std::mt19937 rng(99);
  std::uniform_int_distribution<int> length(0, 300);
  std::uniform_int_distribution<int> byte(0, 255);
  static constexpr std::string_view kAlphabet = "vlm:_abc0123{}=\",\\ \t\r\n#.+-eInfNaHELPTYPE";
  std::uniform_int_distribution<std::size_t> pick(0, kAlphabet.size() - 1);
  FamilyFilter keep{"vllm:a", "b"};
  for (int i = 0; i < 5000; ++i) {
    std::string input(static_cast<std::size_t>(length(rng)), ' ');
    for (char& c : input) c = i % 3 == 0 ? static_cast<char>(byte(rng)) : kAlphabet[pick(rng)];
    auto parsed = parse_text(input, keep);
    if (!parsed) {
      EXPECT_FALSE(parsed.error().message.empty());
    }
  }
  EXPECT_FALSE(parse_text(std::string(60000, '{'), keep));
  EXPECT_FALSE(parse_text("a{" + std::string(60000, ','), keep));
  EXPECT_FALSE(parse_text("a{b=\"" + std::string(60000, '\\'), keep));
  EXPECT_FALSE(parse_text("a{" + std::string(60000, '}'), keep));  // closed, but no value
  EXPECT_TRUE(parse_text(std::string(1 << 20, '\n'), keep));
  EXPECT_TRUE(parse_text("a " + std::string(60000, '0') + "\n", keep));
  EXPECT_FALSE(parse_text(std::string(17 << 20, 'a'), keep));  // over max_bytes
  std::string many;
  for (int i = 0; i < 20000; ++i) many += "m" + std::to_string(i) + "{a=\"}\"} 1\n";
  many += "b 5\n";
  auto parsed = parse_text(many, keep);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->find("b")->samples[0].value, 5);
}

}  // namespace
}  // namespace kgai::prom
