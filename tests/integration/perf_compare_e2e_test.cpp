// `kgai perf` twice against `kgai sim`, then `kgai perf compare` over both report folders.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "integration/process.h"

namespace kgai {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(PerfCompareE2E, TwoRunsComparedWithHtml) {
  testing::KgaiProcess sim(
      {"sim", "--host", "127.0.0.1", "--port", "0", "--time-scale", "10", "--seed", "3"});
  auto ports = sim.wait_for_ports(1);
  ASSERT_EQ(ports.size(), 1u) << sim.output();
  const std::string url = "http://127.0.0.1:" + std::to_string(ports[0]);
  const fs::path root =
      fs::temp_directory_path() / ("kgai-compare-e2e-" + std::to_string(::getpid()));
  fs::remove_all(root);

  for (const char* rate : {"5", "20"}) {
    const fs::path out = root / (std::string("rate") + rate);
    testing::KgaiProcess perf({"perf", "--url", url, "--stream", "--rate", rate, "--duration", "1",
                               "--input-len", "64", "--output-len", "8", "--seed", "1", "--out",
                               out.string(), "--quiet"});
    ASSERT_EQ(perf.wait_exit(std::chrono::seconds(60)), 0) << perf.output();
    const std::string html = slurp(out / "report.html");
    EXPECT_NE(html.find("TTFT vs throughput"), std::string::npos);
    EXPECT_NE(html.find("</html>"), std::string::npos);
  }

  const fs::path page = root / "x.html";
  testing::KgaiProcess compare({"perf", "compare", (root / "rate5").string(),
                                (root / "rate20").string(), "--out", page.string()});
  ASSERT_EQ(compare.wait_exit(), 0) << compare.output();
  const std::string& out = compare.output();
  EXPECT_NE(out.find("rate5"), std::string::npos) << out;
  EXPECT_NE(out.find("rate20"), std::string::npos) << out;
  EXPECT_NE(out.find("TTFT p99 (ms)"), std::string::npos) << out;
  // The benchmark must not have run: compare alone prints no summary.
  EXPECT_EQ(out.find("Serving Benchmark Result"), std::string::npos) << out;
  const std::string html = slurp(page);
  EXPECT_NE(html.find("<title>rate5</title>"), std::string::npos);
  EXPECT_NE(html.find("<title>rate20</title>"), std::string::npos);

  testing::KgaiProcess missing({"perf", "compare", (root / "nope").string()});
  EXPECT_EQ(missing.wait_exit(), 2);
  EXPECT_NE(missing.output().find("no such folder"), std::string::npos) << missing.output();
  fs::remove_all(root);
}

}  // namespace
}  // namespace kgai
