#include "bar_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "html.h"

namespace mf::tools {
namespace {

// Sizes in SVG user units (pixels). The label column is as wide as the longest label: 11 px
// monospace is about 6.6 px a character (no font is embedded, so this is an estimate).
constexpr double kLabelCharWidth = 6.6;
constexpr double kTextCharWidth = 6.5;  // 12 px sans-serif, for placing the legend's entries
constexpr double kPlotWidth = 460;
constexpr double kValueWidth = 200;     // the time and the marks right of the longest bar
constexpr double kLegendHeight = 28;
constexpr double kHeaderHeight = 20;  // the y axis's title, over the labels (upright, it would not fit a short chart)
constexpr double kRowHeight = 18, kBarHeight = 12;
constexpr double kAxisHeight = 50;      // tick labels and the x axis's title under the bars

constexpr const char* kWinnerFill = "#2f9e44";
constexpr const char* kDefaultFill = "#f08c00";
constexpr const char* kOtherFill = "#adb5bd";

struct Layout {
  double plot_left, plot_top, plot_height, width, height;
  double axis_max;  // the time at the plot's right edge
  double tick_step;
};

// A step of 1, 2 or 5 × 10^k that cuts [0, top] into at most 5 intervals.
double tick_step(double top) {
  const double rough = top / 5;
  const double magnitude = std::pow(10.0, std::floor(std::log10(rough)));
  for (const double multiple : {1.0, 2.0, 5.0})
    if (multiple * magnitude >= rough) return multiple * magnitude;
  return 10 * magnitude;
}

// The largest time to scale by: a hostile database may hold an infinite one, drawn full width.
double largest_finite_time(const std::vector<Bar>& bars) {
  double top = 0.0;
  for (const auto& bar : bars)
    if (std::isfinite(bar.time_us)) top = std::max(top, bar.time_us);
  return top > 0.0 ? top : 1.0;
}

std::string label_of(const Bar& bar) {
  return characters(bar.label) <= kLabelCharacters ? bar.label
                                                   : first_characters(bar.label, kLabelCharacters - 1) + "\u2026";
}

Layout layout_of(const BarChart& chart) {
  std::size_t longest = 1;
  for (const auto& bar : chart.bars) longest = std::max(longest, characters(label_of(bar)));
  Layout l{};
  l.plot_left = 8 + double(std::max<std::size_t>(longest, 30)) * kLabelCharWidth + 8;  // 30: the title's width
  l.plot_top = kLegendHeight + kHeaderHeight;
  l.plot_height = double(chart.bars.size()) * kRowHeight + 6;
  l.width = l.plot_left + kPlotWidth + kValueWidth;
  l.height = l.plot_top + l.plot_height + kAxisHeight;
  const double top = largest_finite_time(chart.bars);
  l.tick_step = tick_step(top);
  l.axis_max = std::ceil(top / l.tick_step - 1e-9) * l.tick_step;
  return l;
}

std::string number(double value) { return fmt::format("{:.1f}", value); }

std::string tick_label(double value, double step) {
  const int decimals = step >= 1 ? 0 : int(std::ceil(-std::log10(step) - 1e-9));
  return fmt::format("{:.{}f}", value, decimals);
}

// A swatch and its text; `outline`: the default's colour around the swatch, or none.
std::string legend_entry(double x, double y, const char* fill, const char* outline, const std::string& text) {
  const std::string stroke = outline ? fmt::format(R"( stroke="{}" stroke-width="3")", outline) : "";
  return fmt::format(R"(<rect x="{}" y="{}" width="14" height="12" fill="{}"{}/><text x="{}" y="{}">{}</text>)",
                     number(x), number(y), fill, stroke, number(x + 19), number(y + 10), text);
}

std::string legend(const BarChart& chart) {
  const bool winner_is_default = std::any_of(chart.bars.begin(), chart.bars.end(),
                                             [](const Bar& b) { return b.winner && b.is_default; });
  struct Entry {
    const char* fill;
    const char* outline;
    const char* text;
  };
  std::vector<Entry> entries{{kWinnerFill, nullptr, "winner"}, {kDefaultFill, nullptr, "default configuration"}};
  if (winner_is_default) entries.push_back({kWinnerFill, kDefaultFill, "winner that is the default"});
  entries.push_back({kOtherFill, nullptr, "other configuration"});
  std::string out = R"(<g class="legend">)";
  double x = 8;
  for (const auto& e : entries) {
    out += legend_entry(x, 8, e.fill, e.outline, e.text);
    x += 19 + double(std::string_view(e.text).size()) * kTextCharWidth + 22;
  }
  return out + "</g>";
}

std::string axes(const Layout& l) {
  const double bottom = l.plot_top + l.plot_height, scale = kPlotWidth / l.axis_max;
  std::string out = R"(<g class="axes" font-size="11">)";
  for (double t = 0; t <= l.axis_max + l.tick_step / 2; t += l.tick_step) {
    const double x = l.plot_left + t * scale;
    out += fmt::format(R"(<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="#e9ecef"/>)"
                       R"(<line x1="{0}" y1="{2}" x2="{0}" y2="{3}" stroke="#495057"/>)"
                       R"(<text x="{0}" y="{4}" text-anchor="middle">{5}</text>)",
                       number(x), number(l.plot_top), number(bottom), number(bottom + 5), number(bottom + 17),
                       tick_label(t, l.tick_step));
  }
  out += fmt::format(R"(<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="#495057"/>)"
                     R"(<line x1="{0}" y1="{2}" x2="{3}" y2="{2}" stroke="#495057"/>)",
                     number(l.plot_left), number(l.plot_top), number(bottom), number(l.plot_left + kPlotWidth));
  out += fmt::format(R"(<text class="x-title" x="{}" y="{}" text-anchor="middle" font-size="12">)"
                     "time per configuration (\u00b5s): the fastest median of its measurements</text>",
                     number(l.plot_left + kPlotWidth / 2), number(bottom + 38));
  out += fmt::format(R"(<text class="y-title" x="{}" y="{}" text-anchor="end" font-size="12">)"
                     "configuration, fastest first</text>",
                     number(l.plot_left - 6), number(l.plot_top - 6));
  return out + "</g>";
}

std::string marks_of(const Bar& bar) {
  if (bar.winner && bar.is_default) return "  winner = default";
  if (bar.winner) return "  winner";
  if (bar.is_default) return "  default";
  return "";
}

std::string bar_element(const Bar& bar, std::size_t row, const Layout& l) {
  const double y = l.plot_top + 3 + double(row) * kRowHeight;
  const double width = std::isfinite(bar.time_us) ? bar.time_us * kPlotWidth / l.axis_max : kPlotWidth;
  const char* fill = bar.winner ? kWinnerFill : bar.is_default ? kDefaultFill : kOtherFill;
  const bool outlined = bar.winner && bar.is_default;
  const std::string kind = std::string(bar.winner ? " winner" : "") + (bar.is_default ? " default" : "");
  return fmt::format(
      R"(<g class="bar{}"><title>{}</title>)"
      R"(<text x="{}" y="{}" text-anchor="end" font-family="monospace" font-size="11">{}</text>)"
      R"(<rect x="{}" y="{}" width="{}" height="{}" fill="{}"{}/>)"
      R"(<text x="{}" y="{}" font-size="11"{}>{:.2f} &#181;s{}</text></g>)",
      kind, escaped(bar.detail), number(l.plot_left - 6), number(y + kBarHeight - 2), escaped(label_of(bar)),
      number(l.plot_left), number(y), number(std::max(width, 1.0)), number(kBarHeight), fill,
      outlined ? fmt::format(R"( stroke="{}" stroke-width="3")", kDefaultFill) : "", number(l.plot_left + width + 5),
      number(y + kBarHeight - 2), bar.winner || bar.is_default ? R"( font-weight="bold")" : "", bar.time_us,
      marks_of(bar));
}

}  // namespace

std::string svg_bar_chart(const BarChart& chart) {
  const Layout l = layout_of(chart);
  std::string out = fmt::format(
      R"(<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{0}" height="{1}" viewBox="0 0 {0} {1}" )"
      R"(role="img" font-family="sans-serif" font-size="12" fill="#212529">)"
      R"(<title>{2}</title><rect width="{0}" height="{1}" fill="#ffffff"/>)",
      number(l.width), number(l.height), escaped(chart.title));
  out += legend(chart) + axes(l);
  for (std::size_t row = 0; row < chart.bars.size(); ++row) out += bar_element(chart.bars[row], row, l);
  return out + "</svg>";
}

}  // namespace mf::tools
