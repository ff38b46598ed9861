#include "eval/plots.h"

#include <algorithm>
#include <cmath>

namespace tenor::eval {
namespace {

constexpr int kLeft = 48, kRight = 12, kTop = 26, kBottom = 40;

/// Maps data coordinates into the plot area of `axes`.
struct Frame {
  const Axes& a;
  double px(double x) const {
    const double span = a.x_max > a.x_min ? a.x_max - a.x_min : 1.0;
    return kLeft + (x - a.x_min) / span * (a.width - kLeft - kRight);
  }
  double py(double y) const {
    const double span = a.y_max > a.y_min ? a.y_max - a.y_min : 1.0;
    return a.height - kBottom - (y - a.y_min) / span * (a.height - kTop - kBottom);
  }
};

std::string n(double v) { return svg_number(v); }

constexpr int kLegendRow = 15;

/// A generous estimate of a text's rendered width in sans-serif at `font_px` (0.62 em per
/// character, UTF-8 continuation bytes not counted), so that no label is cut off.
double text_width(const std::string& text, double font_px = 11.0) {
  size_t chars = 0;
  for (unsigned char ch : text) chars += (ch & 0xC0) != 0x80;
  return 0.62 * font_px * static_cast<double>(chars);
}

/// The width an svg needs for its title (13 px bold) and `labels` starting at `x` (11 px).
int fitted_width(int width, const std::string& title, const std::vector<std::string>& labels,
                 double x) {
  double need = text_width(title, 13.0) * 1.1 + 16;
  for (const auto& l : labels) need = std::max(need, x + text_width(l) + 8);
  return std::max(width, static_cast<int>(std::ceil(need)));
}

void open_svg(XmlWriter& w, int width, int height, const std::string& title) {
  w.open("svg", {{"xmlns", "http://www.w3.org/2000/svg"},
                 {"width", std::to_string(width)},
                 {"height", std::to_string(height)},
                 {"viewBox", "0 0 " + std::to_string(width) + " " + std::to_string(height)},
                 {"role", "img"}});
  w.element("title", {}, title);
  w.element("text", {{"x", n(width / 2.0)}, {"y", "16"}, {"text-anchor", "middle"}, {"class", "t"}},
            title);
}

/// A tick label: as many decimals as the step needs (0.25, not 0.2500000001).
std::string tick_label(double v, double step) {
  int digits = 0;
  while (digits < 6 && std::abs(step * std::pow(10.0, digits) -
                                std::round(step * std::pow(10.0, digits))) > 1e-9)
    ++digits;
  return svg_number(v, digits);
}

/// Frame, light grid lines and round tick values of both axes, and the axis labels.
void frame(XmlWriter& w, const Axes& a) {
  const Frame f{a};
  const double x0 = f.px(a.x_min), x1 = f.px(a.x_max), y0 = f.py(a.y_min), y1 = f.py(a.y_max);
  const auto xt = nice_ticks(a.x_min, a.x_max), yt = nice_ticks(a.y_min, a.y_max);
  const double xs = xt.size() > 1 ? xt[1] - xt[0] : 1.0, ys = yt.size() > 1 ? yt[1] - yt[0] : 1.0;
  for (double v : xt) {
    w.leaf("line", {{"x1", n(f.px(v))}, {"y1", n(y0)}, {"x2", n(f.px(v))}, {"y2", n(y1)},
                    {"stroke", "#eee"}});
    w.element("text", {{"x", n(f.px(v))}, {"y", n(y0 + 14)}, {"text-anchor", "middle"}},
              tick_label(v, xs));
  }
  for (double v : yt) {
    w.leaf("line", {{"x1", n(x0)}, {"y1", n(f.py(v))}, {"x2", n(x1)}, {"y2", n(f.py(v))},
                    {"stroke", "#eee"}});
    w.element("text", {{"x", n(x0 - 4)}, {"y", n(f.py(v) + 4)}, {"text-anchor", "end"}},
              tick_label(v, ys));
  }
  w.leaf("rect", {{"x", n(x0)},
                  {"y", n(y1)},
                  {"width", n(x1 - x0)},
                  {"height", n(y0 - y1)},
                  {"fill", "none"},
                  {"stroke", "#444"}});
  w.element("text", {{"x", n((x0 + x1) / 2)}, {"y", n(a.height - 6.0)}, {"text-anchor", "middle"}},
            a.x_label);
  w.element("text",
            {{"x", "12"},
             {"y", n((y0 + y1) / 2)},
             {"text-anchor", "middle"},
             {"transform", "rotate(-90 12 " + n((y0 + y1) / 2) + ")"}},
            a.y_label);
}

/// The legend below the plot area (the svg is kLegendRow taller per entry): one entry a row.
void legend(XmlWriter& w, int top, std::span<const LegendEntry> entries) {
  using Mark = LegendEntry::Mark;
  for (size_t i = 0; i < entries.size(); ++i) {
    const LegendEntry& e = entries[i];
    const double y = top + kLegendRow * (i + 0.5) + 4;
    const double x = kLeft;
    switch (e.mark) {
      case Mark::kLine:
      case Mark::kDashed:
        w.leaf("line", {{"x1", n(x)}, {"y1", n(y - 4)}, {"x2", n(x + 16)}, {"y2", n(y - 4)},
                        {"stroke", e.color}, {"stroke-width", "2"},
                        {"stroke-dasharray", e.mark == Mark::kDashed ? "4 3" : "none"}});
        break;
      case Mark::kDot:
        w.leaf("circle", {{"cx", n(x + 8)}, {"cy", n(y - 4)}, {"r", "3"}, {"fill", e.color}});
        break;
      case Mark::kBar:
      case Mark::kEmptyBox:
        w.leaf("rect", {{"x", n(x + 2)}, {"y", n(y - 10)}, {"width", "12"}, {"height", "10"},
                        {"fill", e.mark == Mark::kBar ? e.color : "none"},
                        {"fill-opacity", "0.4"}, {"stroke", e.color},
                        {"stroke-dasharray", e.mark == Mark::kEmptyBox ? "2 2" : "none"}});
        break;
    }
    w.element("text", {{"x", n(x + 22)}, {"y", n(y)}}, e.label);
  }
}

std::vector<LegendEntry> legend_of(const Axes& a, std::span<const Series> series) {
  std::vector<LegendEntry> entries;
  for (const Series& s : series)
    if (!s.name.empty())
      entries.push_back(
          {s.name, s.color, s.line ? LegendEntry::Mark::kLine : LegendEntry::Mark::kDot});
  entries.insert(entries.end(), a.legend.begin(), a.legend.end());
  return entries;
}

/// The reference lines of `a`: the diagonal, thresholds and vertical markers.
void reference_lines(XmlWriter& w, const Axes& a) {
  const Frame f{a};
  if (a.diagonal)
    w.leaf("line", {{"x1", n(f.px(a.x_min))},
                    {"y1", n(f.py(a.y_min))},
                    {"x2", n(f.px(a.x_max))},
                    {"y2", n(f.py(a.y_max))},
                    {"stroke", "#999"},
                    {"stroke-dasharray", "4 3"}});
  for (double h : a.hlines)
    w.leaf("line", {{"x1", n(f.px(a.x_min))},
                    {"y1", n(f.py(h))},
                    {"x2", n(f.px(a.x_max))},
                    {"y2", n(f.py(h))},
                    {"stroke", "#ff7f0e"},
                    {"stroke-dasharray", "5 3"}});
  for (double v : a.vlines)
    w.leaf("line", {{"x1", n(f.px(v))},
                    {"y1", n(f.py(a.y_min))},
                    {"x2", n(f.px(v))},
                    {"y2", n(f.py(a.y_max))},
                    {"stroke", "#555"},
                    {"stroke-dasharray", "2 3"}});
}

/// One series: its line and, when asked, a dot per point.
void draw_series(XmlWriter& w, const Frame& f, const Series& s) {
  std::string points;
  for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
    if (std::isnan(s.x[i]) || std::isnan(s.y[i])) continue;
    points += n(f.px(s.x[i])) + "," + n(f.py(s.y[i])) + " ";
  }
  if (!points.empty() && s.line)
    w.leaf("polyline",
           {{"points", points}, {"fill", "none"}, {"stroke", s.color}, {"stroke-width", "1.5"}});
  if (s.markers || !s.line)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
      if (!std::isnan(s.x[i]) && !std::isnan(s.y[i]))
        w.leaf("circle",
               {{"cx", n(f.px(s.x[i]))}, {"cy", n(f.py(s.y[i]))}, {"r", "2.5"}, {"fill", s.color}});
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int max_ticks) {
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi) || max_ticks < 1) return {lo};
  const double raw = (hi - lo) / max_ticks;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double m = 10;
  for (double candidate : {1.0, 2.0, 2.5, 5.0})
    if (candidate * mag >= raw * (1 - 1e-9)) {
      m = candidate;
      break;
    }
  // k * m / 10^d rather than k * m * 10^-d: 3 * 0.2 is 0.6000000000000001, 6 / 10 is 0.6.
  const double inverse = mag < 1 ? std::round(1 / mag) : 0.0;
  auto value = [&](double k) { return inverse > 0 ? k * m / inverse : k * m * mag; };
  const double step = value(1);
  std::vector<double> ticks;
  for (double k = std::ceil(lo / step - 1e-9); value(k) <= hi + step * 1e-9; k += 1)
    ticks.push_back(k == 0 ? 0.0 : value(k));
  return ticks;
}

double nice_ceil(double v, int max_ticks) {
  if (!(v > 0) || !std::isfinite(v)) return 1.0;
  const auto ticks = nice_ticks(0.0, v, max_ticks);
  const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : v;
  // A value a hair past a tick (a call of 30.04 s) ends on that tick: the 2 % of a step
  // drawn past the frame are under a pixel.
  return std::ceil(v / step - 0.02) * step;
}

std::string series_color(size_t k) {
  static const char* palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                  "#8c564b", "#e377c2", "#17becf", "#bcbd22"};
  return palette[k % (sizeof palette / sizeof *palette)];
}

void thin(std::vector<double>& x, std::vector<double>& y, size_t max_points) {
  if (x.size() <= max_points || max_points < 2) return;
  std::vector<double> tx, ty;
  for (size_t k = 0; k < max_points; ++k) {
    const size_t i = k * (x.size() - 1) / (max_points - 1);
    tx.push_back(x[i]);
    ty.push_back(y[i]);
  }
  x.swap(tx);
  y.swap(ty);
}

void line_plot(XmlWriter& w, const Axes& a, std::span<const Series> series) {
  const Frame f{a};
  const auto entries = legend_of(a, series);
  std::vector<std::string> labels;
  for (const auto& e : entries) labels.push_back(e.label);
  open_svg(w, fitted_width(a.width, a.title, labels, kLeft + 22),
           a.height + kLegendRow * static_cast<int>(entries.size()), a.title);
  for (const auto& [lo, hi] : a.x_bands)
    w.leaf("rect", {{"x", n(f.px(lo))},
                    {"y", n(f.py(a.y_max))},
                    {"width", n(std::max(1.0, f.px(hi) - f.px(lo)))},
                    {"height", n(f.py(a.y_min) - f.py(a.y_max))},
                    {"fill", "#d62728"},
                    {"fill-opacity", "0.18"}});
  frame(w, a);
  reference_lines(w, a);
  for (const Series& s : series) draw_series(w, f, s);
  legend(w, a.height, entries);
  w.close();
}

void confusion_heatmap(XmlWriter& w, const std::string& title, const ConfusionMatrix& cm,
                       std::span<const std::string> classes) {
  const int c = cm.num_classes, cell = c <= 4 ? 56 : 36, top = 40;
  double longest = 0;
  for (const auto& name : classes) longest = std::max(longest, text_width(name));
  const int left = std::max(90, static_cast<int>(std::ceil(longest)) + 10);
  const int height = top + c * cell + 50;
  const int width = fitted_width(left + c * cell + 20, title,
                                 {std::string("predicted (rows: true class)")}, left);
  open_svg(w, width, height, title);
  for (int i = 0; i < c; ++i) {
    double row = 0.0;
    for (int j = 0; j < c; ++j) row += cm.at(i, j);
    for (int j = 0; j < c; ++j) {
      const double share = row > 0 ? cm.at(i, j) / row : 0.0;
      // White -> blue by the row share (recall of the true class along the diagonal).
      const int shade = static_cast<int>(std::lround(255 * (1.0 - 0.8 * share)));
      const std::string fill =
          "rgb(" + std::to_string(shade) + "," + std::to_string(shade) + ",255)";
      const int x = left + j * cell, y = top + i * cell;
      w.open("g");
      w.element("title", {},
                classes[i] + " -> " + classes[j] + ": " + svg_number(cm.at(i, j), 0) + " (" +
                    svg_number(100 * share, 1) + "% of row)");
      w.leaf("rect", {{"x", std::to_string(x)},
                      {"y", std::to_string(y)},
                      {"width", std::to_string(cell)},
                      {"height", std::to_string(cell)},
                      {"fill", fill},
                      {"stroke", "#fff"}});
      w.element("text",
                {{"x", std::to_string(x + cell / 2)},
                 {"y", std::to_string(y + cell / 2 + 4)},
                 {"text-anchor", "middle"},
                 {"fill", share > 0.55 ? "#fff" : "#000"}},
                svg_number(cm.at(i, j), 0));
      w.close();
    }
    w.element("text",
              {{"x", std::to_string(left - 4)},
               {"y", std::to_string(top + i * cell + cell / 2 + 4)},
               {"text-anchor", "end"}},
              classes[i]);
  }
  for (int j = 0; j < c; ++j)
    w.element("text",
              {{"x", std::to_string(left + j * cell + cell / 2)},
               {"y", std::to_string(top + c * cell + 14)},
               {"text-anchor", "middle"}},
              classes[j]);
  w.element("text",
            {{"x", std::to_string(left + c * cell / 2)},
             {"y", std::to_string(height - 8)},
             {"text-anchor", "middle"}},
            "predicted (rows: true class)");
  w.close();
}

namespace {

/// A bin's count as a short label ("7", "312", "1.2k").
std::string count_label(int count) {
  return count < 1000 ? std::to_string(count) : svg_number(count / 1000.0, 1) + "k";
}

/// One bin: its accuracy bar with its count above it, the mean confidence as a dot, and a
/// tooltip; an empty bin as an empty dashed outline.
void reliability_bin(XmlWriter& w, const Frame& f, const ReliabilityBin& b) {
  const double x = f.px(b.lower) + 1, width = f.px(b.upper) - f.px(b.lower) - 2;
  w.open("g");
  if (b.count == 0) {
    w.element("title", {},
              "(" + svg_number(b.lower, 3) + ", " + svg_number(b.upper, 3) + "]: empty");
    w.leaf("rect", {{"x", n(x)}, {"y", n(f.py(1))}, {"width", n(width)},
                    {"height", n(f.py(0) - f.py(1))}, {"fill", "none"}, {"stroke", "#bbb"},
                    {"stroke-dasharray", "2 2"}});
    w.close();
    return;
  }
  w.element("title", {},
            "(" + svg_number(b.lower, 3) + ", " + svg_number(b.upper, 3) + "]: accuracy " +
                svg_number(b.accuracy, 3) + ", confidence " + svg_number(b.confidence, 3) +
                ", n = " + std::to_string(b.count));
  w.leaf("rect", {{"x", n(x)},
                  {"y", n(f.py(b.accuracy))},
                  {"width", n(width)},
                  {"height", n(f.py(0) - f.py(b.accuracy))},
                  {"fill", "#1f77b4"},
                  {"fill-opacity", "0.75"}});
  w.leaf("circle", {{"cx", n(f.px(b.confidence))},
                    {"cy", n(f.py(b.confidence))},
                    {"r", "2.5"},
                    {"fill", "#d62728"}});
  // The count inside the plot, just above the bar (below its top when the bar reaches 1).
  const double top = f.py(b.accuracy);
  w.element("text",
            {{"x", n(x + width / 2)},
             {"y", n(b.accuracy > 0.9 ? top + 10 : top - 3)},
             {"text-anchor", "middle"},
             {"class", "n"},
             {"fill", b.accuracy > 0.9 ? "#fff" : "#222"}},
            count_label(b.count));
  w.close();
}

}  // namespace

void reliability_diagram(XmlWriter& w, const std::string& title, const Calibration& cal) {
  Axes a;
  a.title = title + ", ECE " + (std::isfinite(cal.ece) ? svg_number(cal.ece, 3) : "n/a");
  a.x_label = "confidence (max probability)";
  a.y_label = "accuracy";
  a.diagonal = true;
  using Mark = LegendEntry::Mark;
  const std::vector<LegendEntry> entries = {
      {"accuracy per bin (number: segments in it)", "#1f77b4", Mark::kBar},
      {"mean confidence in the bin", "#d62728", Mark::kDot},
      {"perfect calibration", "#999", Mark::kDashed},
      {"empty bin", "#bbb", Mark::kEmptyBox}};
  const Frame f{a};
  std::vector<std::string> labels;
  for (const auto& e : entries) labels.push_back(e.label);
  open_svg(w, fitted_width(a.width, a.title, labels, kLeft + 22),
           a.height + kLegendRow * static_cast<int>(entries.size()), a.title);
  frame(w, a);
  for (const ReliabilityBin& b : cal.bins) reliability_bin(w, f, b);
  reference_lines(w, a);
  legend(w, a.height, entries);
  w.close();
}

void interval_bars(XmlWriter& w, const std::string& title, std::span<const BarRow> rows,
                   double overall, double overall_lo, double overall_hi) {
  double longest = 0;
  for (const BarRow& r : rows) longest = std::max(longest, text_width(r.label));
  const int left = std::max(150, static_cast<int>(std::ceil(longest)) + 12), right = 60,
            row_h = 20, top = 30;
  const int width = fitted_width(left + 310 + right, title, {}, 0),
            height = top + static_cast<int>(rows.size()) * row_h + 36;
  auto px = [&](double v) { return left + std::clamp(v, 0.0, 1.0) * (width - left - right); };
  open_svg(w, width, height, title);
  const double y_end = top + rows.size() * row_h;
  if (!std::isnan(overall_lo))
    w.leaf("rect", {{"x", n(px(overall_lo))},
                    {"y", std::to_string(top)},
                    {"width", n(std::max(1.0, px(overall_hi) - px(overall_lo)))},
                    {"height", n(y_end - top)},
                    {"fill", "#2ca02c"},
                    {"fill-opacity", "0.15"}});
  if (!std::isnan(overall))
    w.leaf("line", {{"x1", n(px(overall))},
                    {"y1", std::to_string(top)},
                    {"x2", n(px(overall))},
                    {"y2", n(y_end)},
                    {"stroke", "#2ca02c"}});
  for (size_t i = 0; i < rows.size(); ++i) {
    const BarRow& r = rows[i];
    const double y = top + i * row_h;
    w.element("text", {{"x", std::to_string(left - 6)}, {"y", n(y + 14)}, {"text-anchor", "end"}},
              r.label);
    if (std::isnan(r.value)) {
      w.element("text", {{"x", std::to_string(left + 4)}, {"y", n(y + 14)}, {"fill", "#777"}},
                "empty");
      continue;
    }
    const std::string color = r.flagged ? "#d62728" : "#1f77b4";
    w.leaf("rect", {{"x", std::to_string(left)},
                    {"y", n(y + 4)},
                    {"width", n(px(r.value) - left)},
                    {"height", "12"},
                    {"fill", color},
                    {"fill-opacity", "0.7"}});
    if (!std::isnan(r.lo))
      w.leaf("line", {{"x1", n(px(r.lo))},
                      {"y1", n(y + 10)},
                      {"x2", n(px(r.hi))},
                      {"y2", n(y + 10)},
                      {"stroke", "#000"},
                      {"stroke-width", "1.5"}});
    w.element("text", {{"x", std::to_string(width - right + 4)}, {"y", n(y + 14)}},
              svg_number(r.value, 3) + (r.flagged ? " !" : ""));
  }
  for (int t = 0; t <= 4; ++t)
    w.element("text", {{"x", n(px(t / 4.0))}, {"y", n(y_end + 14)}, {"text-anchor", "middle"}},
              svg_number(t / 4.0));
  w.element("text", {{"x", "8"}, {"y", n(y_end + 30)}},
            "macro-F1 (bars), call-bootstrap interval (whiskers), overall interval (band)");
  w.close();
}

}  // namespace tenor::eval
