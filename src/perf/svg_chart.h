// A small SVG line-chart writer for the HTML reports: axes with round tick values, unit
// labels, polylines with markers, a legend and vertical marks (stage boundaries). Output is
// plain inline SVG with <title> tooltips, so a report needs no scripts or network access.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kgai::perf::svg {

// Text escaped for HTML and XML (element content and quoted attributes).
std::string escape(std::string_view text);

// A number for markup or a label: fixed to `precision` decimals with trailing zeros trimmed;
// non-finite values print as "0" in markup so a chart never contains "nan" or "inf".
std::string number(double value, int precision = 2);

// A table cell: exactly `precision` decimals so columns line up; "-" for non-finite values.
std::string fixed(double value, int precision);

// Round tick values covering [lo, hi] (the 1-2-5 series), about `target` of them. The first
// tick is <= lo and the last >= hi; a degenerate or non-finite range still gives 2+ ticks.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y), drawn in this order
  bool markers = true;                            // a dot per point (with its values as a tooltip)
  bool line = true;                               // false: a scatter of dots only
  bool step = false;                              // draw as a step function (counts over time)
};

struct Mark {
  double x = 0;
  std::string label;
};

struct Chart {
  std::string title;
  std::string x_label;  // with its unit, e.g. "output tokens/s"
  std::string y_label;
  std::vector<Series> series;
  std::vector<Mark> marks;  // dashed vertical lines
  bool x_from_zero = true;  // include 0 in the x range
  bool y_from_zero = true;
  // A logarithmic y axis (decades, with 2 and 5 between when the range spans few of them):
  // for latencies that go from tens of milliseconds to seconds. Points with y <= 0 are dropped.
  bool y_log = false;
  int width = 560;
  int height = 320;
};

// The chart as an <svg> element. Non-finite points are dropped; a chart with no points says
// "no data" instead of drawing axes around nothing.
std::string render(const Chart& chart);

// A complete HTML document around `body` with the reports' shared inline stylesheet (system
// fonts only, so nothing is fetched). `title` is escaped here; `body` is markup.
std::string page(std::string_view title, std::string_view body);

// The colour of series `i`, shared by every chart so a run or percentile keeps its colour.
std::string_view color(size_t i);

}  // namespace kgai::perf::svg
