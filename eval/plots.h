#pragma once

#include <span>
#include <string>
#include <utility>
#include <vector>

#include "eval/calibration.h"
#include "eval/metrics.h"
#include "eval/xml_writer.h"

namespace tenor::eval {

/// One line of a line plot.
struct Series {
  std::string name;
  std::vector<double> x, y;  ///< data coordinates; NaN points are skipped
  std::string color = "#1f77b4";
  bool markers = false;  ///< draw a dot per point
  bool line = true;      ///< join the points (false: dots only)
};

/// One entry of a plot's legend, drawn below the plot area (never over the data).
struct LegendEntry {
  enum class Mark { kLine, kDashed, kDot, kBar, kEmptyBox };
  std::string label;
  std::string color = "#1f77b4";
  Mark mark = Mark::kLine;
};

/// Frame, ranges and decorations of a plot (pixels for sizes, data units for the rest).
struct Axes {
  std::string title, x_label, y_label;
  double x_min = 0.0, x_max = 1.0, y_min = 0.0, y_max = 1.0;
  int width = 360, height = 280;
  bool diagonal = false;                           ///< dashed y = x reference line
  std::vector<double> hlines;                      ///< dashed horizontal lines (thresholds)
  std::vector<std::pair<double, double>> x_bands;  ///< shaded x ranges (labelled escalations)
  std::vector<double> vlines;                      ///< dotted vertical lines (best epoch)
  /// Legend entries after those of the named series (the bands, the threshold line).
  std::vector<LegendEntry> legend;
};

/// Round tick values within [lo, hi] (steps of 1, 2, 2.5 or 5 times a power of ten), at most
/// `max_ticks` + 1 of them, always including lo when lo is itself a multiple of the step.
std::vector<double> nice_ticks(double lo, double hi, int max_ticks = 5);
/// The smallest multiple of a round step (as nice_ticks chooses for [0, v]) that is >= v: an
/// axis end that is a tick, so that a time axis ends on a labelled value.
double nice_ceil(double v, int max_ticks = 5);

/// Each function writes one complete <svg> element into `w`.
void line_plot(XmlWriter& w, const Axes& axes, std::span<const Series> series);
/// Confusion matrix heat map, rows = truth, columns = prediction, shade = row share.
void confusion_heatmap(XmlWriter& w, const std::string& title, const ConfusionMatrix& cm,
                       std::span<const std::string> classes);
/// Reliability diagram: accuracy per confidence bin as bars against the diagonal, each bar
/// labelled with its number of segments, empty bins drawn as empty outlines, and a legend.
void reliability_diagram(XmlWriter& w, const std::string& title, const Calibration& calibration);

/// Colour of the k-th series of a plot (a qualitative palette, cycled).
std::string series_color(size_t k);

/// A horizontal bar with an interval whisker.
struct BarRow {
  std::string label;
  double value, lo, hi;  ///< NaN value = empty row
  bool flagged = false;  ///< drawn in red
};
/// Horizontal bars on [0, 1] with whiskers, and the overall interval as a shaded band.
void interval_bars(XmlWriter& w, const std::string& title, std::span<const BarRow> rows,
                   double overall, double overall_lo, double overall_hi);

/// Keeps at most `max_points` evenly spaced points (first and last always kept).
void thin(std::vector<double>& x, std::vector<double>& y, size_t max_points);

}  // namespace tenor::eval
