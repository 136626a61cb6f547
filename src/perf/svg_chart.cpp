#include "perf/svg_chart.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <iterator>

#include <fmt/format.h>

namespace kgai::perf::svg {

namespace {

constexpr int kLeft = 64;  // room for y tick labels and the rotated y label
constexpr int kRight = 18;
constexpr int kTitle = 24;
constexpr int kBottom = 46;  // x tick labels and the x label
constexpr int kLegendRow = 16;
constexpr double kCharWidth = 6.2;  // average glyph width of the 11px sans-serif legend

// Decimals that tell ticks `step` apart, without noise digits.
int tick_precision(double step) {
  if (!(step > 0) || !std::isfinite(step)) return 0;
  return std::clamp(static_cast<int>(-std::floor(std::log10(step) + 1e-9)), 0, 6);
}

struct Range {
  double lo = 0, hi = 0;
  bool any = false;
  void add(double v) {
    if (!std::isfinite(v)) return;
    lo = any ? std::min(lo, v) : v;
    hi = any ? std::max(hi, v) : v;
    any = true;
  }
};

}  // namespace

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string number(double value, int precision) {
  if (!std::isfinite(value)) return "0";
  std::string s = fmt::format("{:.{}f}", value, std::max(0, precision));
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

std::string fixed(double value, int precision) {
  if (!std::isfinite(value)) return "-";
  std::string s = fmt::format("{:.{}f}", value, std::max(0, precision));
  if (s.starts_with("-") && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);
  return s;
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = 0, hi = 1;
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) {
    // One value: widen around it so it sits inside the axis rather than on its edge.
    const double pad = lo == 0 ? 1.0 : std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / std::max(1, target);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / magnitude;
  const double step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * magnitude;
  const double first = std::floor(lo / step + 1e-9) * step;
  std::vector<double> ticks;
  for (int i = 0; i < 100; ++i) {
    double v = first + i * step;  // multiples, not repeated sums, so ticks do not drift
    if (std::abs(v) < step * 1e-9) v = 0;
    ticks.push_back(v);
    if (v >= hi - step * 1e-9) break;
  }
  if (ticks.size() < 2) ticks.push_back(first + step);
  return ticks;
}

std::string_view color(size_t i) {
  static constexpr std::array<std::string_view, 10> kPalette = {
      "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
      "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};
  return kPalette[i % kPalette.size()];
}

std::string page(std::string_view title, std::string_view body) {
  // No child combinators (">") in the stylesheet: the tests check tag balance by scanning for
  // '<' and '>' and the page stays trivially parseable.
  static constexpr std::string_view kStyle = R"(
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px;
       color: #222; background: #fff; }
h1 { font-size: 22px; margin: 0 0 8px 0; }
h2 { font-size: 17px; margin: 28px 0 8px 0; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.meta { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; font-size: 14px; }
.meta dt { color: #666; }
.meta dd { margin: 0; }
.totals { display: flex; flex-wrap: wrap; gap: 10px; margin: 12px 0; }
.total { border: 1px solid #ddd; border-radius: 6px; padding: 6px 12px; min-width: 110px; }
.total .v { font-size: 18px; font-weight: 600; }
.total .k { font-size: 12px; color: #666; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
svg.chart { max-width: 100%; height: auto; border: 1px solid #eee; border-radius: 4px;
            font-size: 11px; }
svg.chart text { fill: #333; }
svg.chart .ctitle { font-size: 13px; font-weight: 600; }
svg.chart .alabel { font-size: 12px; fill: #555; }
svg.chart .grid line { stroke: #e6e6e6; }
svg.chart .frame { fill: none; stroke: #999; }
svg.chart .mark { stroke: #888; stroke-dasharray: 4 3; }
svg.chart .marklabel { font-size: 10px; fill: #777; }
svg.chart .nodata { font-size: 14px; fill: #999; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; white-space: nowrap; }
th { background: #f5f5f5; }
td.l, th.l { text-align: left; }
tr.all td { font-weight: 600; background: #fafafa; }
pre { background: #f7f7f7; padding: 8px; overflow-x: auto; font-size: 12px; }
.note { color: #666; font-size: 13px; }
)";
  return fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>{}</title>\n<style>{}</style>\n</head>\n<body>\n{}</body>\n</html>\n",
      escape(title), kStyle, body);
}

std::string render(const Chart& chart) {
  const double w = chart.width, h = chart.height;
  std::string out;
  auto px = [](double v) { return number(v, 1); };

  // Legend rows first: the plot area starts below them.
  struct LegendItem {
    double x, y;
    size_t series;
  };
  std::vector<LegendItem> legend;
  double lx = kLeft, ly = kTitle + 4;
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const double item = 22 + kCharWidth * static_cast<double>(chart.series[i].name.size()) + 14;
    if (lx + item > w - kRight && lx > kLeft) {
      lx = kLeft;
      ly += kLegendRow;
    }
    legend.push_back({lx, ly, i});
    lx += item;
  }
  const double top = legend.empty() ? kTitle + 8 : ly + kLegendRow + 6;
  const double left = kLeft, right = w - kRight, bottom = h - kBottom;

  fmt::format_to(std::back_inserter(out),
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {0} {1}\" width=\"{0}\" "
                 "height=\"{1}\" role=\"img\" class=\"chart\">\n",
                 chart.width, chart.height);
  fmt::format_to(std::back_inserter(out), "<title>{}</title>\n", escape(chart.title));
  fmt::format_to(std::back_inserter(out),
                 "<text x=\"{}\" y=\"16\" class=\"ctitle\" text-anchor=\"middle\">{}</text>\n",
                 px(w / 2), escape(chart.title));

  // On a log axis only positive values have a place.
  auto drawable = [&](double x, double y) {
    return std::isfinite(x) && std::isfinite(y) && (!chart.y_log || y > 0);
  };
  Range xr, yr;
  for (const auto& s : chart.series) {
    for (auto [x, y] : s.points) {
      if (drawable(x, y)) {
        xr.add(x);
        yr.add(y);
      }
    }
  }
  if (!xr.any || bottom - top < 20) {
    fmt::format_to(
        std::back_inserter(out),
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" class=\"nodata\">no data</text>\n"
        "</svg>\n",
        px(w / 2), px(h / 2));
    return out;
  }
  for (const auto& m : chart.marks) xr.add(m.x);
  if (chart.x_from_zero) xr.add(0);
  if (chart.y_from_zero && !chart.y_log) yr.add(0);
  const auto xt = nice_ticks(xr.lo, xr.hi, 6);
  std::vector<double> yt;
  if (chart.y_log) {
    double lo = std::pow(10.0, std::floor(std::log10(yr.lo)));
    double hi = std::pow(10.0, std::ceil(std::log10(yr.hi)));
    if (hi <= lo) hi = lo * 10;
    const bool few_decades = hi / lo <= 100.5;
    for (double d = lo; d <= hi * 1.0001; d *= 10) {
      yt.push_back(d);
      if (few_decades && d * 10 <= hi * 1.0001) {
        yt.push_back(2 * d);
        yt.push_back(5 * d);
      }
    }
  } else {
    yt = nice_ticks(yr.lo, yr.hi, 5);
  }
  const double x0 = xt.front(), x1 = xt.back(), y0 = yt.front(), y1 = yt.back();
  auto sx = [&](double x) { return left + (x - x0) / (x1 - x0) * (right - left); };
  auto sy = [&](double y) {
    if (chart.y_log) {
      return bottom - std::log10(y / y0) / std::log10(y1 / y0) * (bottom - top);
    }
    return bottom - (y - y0) / (y1 - y0) * (bottom - top);
  };
  const int xp = tick_precision(xt[1] - xt[0]);
  const int yp = chart.y_log ? tick_precision(y0) : tick_precision(yt[1] - yt[0]);

  out += "<g class=\"grid\">\n";
  for (double t : yt) {
    fmt::format_to(std::back_inserter(out),
                   "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\"/>"
                   "<text x=\"{3}\" y=\"{4}\" text-anchor=\"end\">{5}</text>\n",
                   px(left), px(sy(t)), px(right), px(left - 5), px(sy(t) + 4), number(t, yp));
  }
  for (double t : xt) {
    fmt::format_to(std::back_inserter(out),
                   "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>"
                   "<text x=\"{0}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>\n",
                   px(sx(t)), px(top), px(bottom), px(bottom + 15), number(t, xp));
  }
  out += "</g>\n";
  fmt::format_to(std::back_inserter(out),
                 "<rect class=\"frame\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>\n", px(left),
                 px(top), px(right - left), px(bottom - top));
  fmt::format_to(std::back_inserter(out),
                 "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" class=\"alabel\">{}</text>\n",
                 px((left + right) / 2), px(h - 8), escape(chart.x_label));
  fmt::format_to(std::back_inserter(out),
                 "<text transform=\"translate(14 {}) rotate(-90)\" text-anchor=\"middle\" "
                 "class=\"alabel\">{}</text>\n",
                 px((top + bottom) / 2), escape(chart.y_label));

  for (const auto& m : chart.marks) {
    if (!std::isfinite(m.x)) continue;
    fmt::format_to(std::back_inserter(out),
                   "<line class=\"mark\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>"
                   "<text class=\"marklabel\" x=\"{3}\" y=\"{4}\">{5}</text>\n",
                   px(sx(m.x)), px(top), px(bottom), px(sx(m.x) + 3), px(top + 10),
                   escape(m.label));
  }

  for (size_t i = 0; i < chart.series.size(); ++i) {
    const auto& s = chart.series[i];
    const std::string c(color(i));
    std::vector<std::pair<double, double>> pts;
    for (auto [x, y] : s.points) {
      if (drawable(x, y)) pts.emplace_back(x, y);
    }
    if (pts.empty()) continue;
    std::string line;
    for (size_t k = 0; k < pts.size(); ++k) {
      if (s.step && k > 0)
        line += fmt::format("{},{} ", px(sx(pts[k].first)), px(sy(pts[k - 1].second)));
      line += fmt::format("{},{} ", px(sx(pts[k].first)), px(sy(pts[k].second)));
    }
    line.pop_back();
    out += fmt::format("<g class=\"series\"><title>{}</title>\n", escape(s.name));
    if (s.line && pts.size() > 1) {
      out += fmt::format(
          "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.8\" points=\"{}\"/>\n", c, line);
    }
    // A lone point has no line to show it, so it always gets a marker.
    if (s.markers || !s.line || pts.size() == 1) {
      for (auto [x, y] : pts) {
        out += fmt::format(
            "<circle cx=\"{}\" cy=\"{}\" r=\"3.2\" fill=\"{}\"><title>{}: {} {} at {} {}</title>"
            "</circle>\n",
            px(sx(x)), px(sy(y)), c, escape(s.name), number(y, yp + 1), escape(chart.y_label),
            number(x, xp + 1), escape(chart.x_label));
      }
    }
    out += "</g>\n";
  }

  for (const auto& item : legend) {
    const std::string c(color(item.series));
    out += fmt::format(
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"{3}\" stroke-width=\"3\"/>"
        "<text x=\"{4}\" y=\"{5}\" class=\"legend\">{6}</text>\n",
        px(item.x), px(item.y + 6), px(item.x + 16), c, px(item.x + 20), px(item.y + 10),
        escape(chart.series[item.series].name));
  }
  out += "</svg>\n";
  return out;
}

}  // namespace kgai::perf::svg
