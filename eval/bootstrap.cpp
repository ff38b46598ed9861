#include "eval/bootstrap.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "core/error.h"
#include "core/text.h"

namespace tenor::eval {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

constexpr std::array<MetricInfo, kNumMetrics> kMetricInfos = {{
    {Metric::kAccuracy, "accuracy", true},
    {Metric::kMacroF1, "macro_f1", true},
    {Metric::kUar, "uar", true},
    {Metric::kQwk, "qwk", true},
    {Metric::kMae, "mae", false},
    {Metric::kAuroc, "auroc", true},
    {Metric::kAuprc, "auprc", true},
}};

size_t idx(Metric m) { return static_cast<size_t>(m); }

}  // namespace

std::span<const MetricInfo> metric_infos() { return kMetricInfos; }

const MetricInfo& metric_info(const std::string& name) {
  std::vector<std::string> names;
  for (const MetricInfo& m : kMetricInfos) {
    if (name == m.name) return m;
    names.emplace_back(m.name);
  }
  std::string hint = nearest(name, names);
  throw UsageError("unknown metric '" + printable(name) + "' (known: " + join(names, ", ") + ")" +
                   (hint.empty() ? "" : "; did you mean '" + hint + "'?"));
}

bool applies(Metric metric, data::TaskType type) {
  switch (metric) {
    case Metric::kQwk:
    case Metric::kMae:
      return type == data::TaskType::kOrdinal;
    case Metric::kAuroc:
    case Metric::kAuprc:
      return type == data::TaskType::kBinary;
    default:
      return true;
  }
}

int predict(std::span<const double> row, data::TaskType type, double threshold) {
  if (type == data::TaskType::kBinary) return row[1] >= threshold ? 1 : 0;
  return static_cast<int>(std::max_element(row.begin(), row.end()) - row.begin());
}

CallResampler::CallResampler(size_t num_calls, uint64_t seed)
    : engine_(seed), n_(num_calls), reject_below_(num_calls ? (0 - n_) % n_ : 0) {}

uint64_t CallResampler::draw() {
  // Unbiased: accept x only in [2^64 mod n, 2^64), a range of a whole multiple of n values.
  for (;;) {
    uint64_t x = engine_();
    if (x >= reject_below_) return x % n_;
  }
}

void CallResampler::next(std::vector<double>& weights) {
  weights.assign(n_, 0.0);
  for (uint64_t i = 0; i < n_; ++i) weights[draw()] += 1.0;
}

Interval percentile_interval(std::vector<double> values, double confidence) {
  std::erase_if(values, [](double v) { return std::isnan(v); });
  Interval out{kNaN, kNaN, static_cast<int>(values.size())};
  if (values.size() < 2) return out;
  std::sort(values.begin(), values.end());
  // Linear interpolation between order statistics (Hyndman & Fan type 7, numpy's default).
  auto quantile = [&](double q) {
    const double h = (values.size() - 1) * q;
    const size_t lo = static_cast<size_t>(std::floor(h));
    const size_t hi = std::min(lo + 1, values.size() - 1);
    return values[lo] + (h - lo) * (values[hi] - values[lo]);
  };
  const double alpha = 1.0 - confidence;
  out.lo = quantile(alpha / 2);
  out.hi = quantile(1.0 - alpha / 2);
  return out;
}

TaskSample::TaskSample(const EvalSet& set, const TaskPredictions& task,
                       std::span<const double> probs, double threshold,
                       std::span<const uint32_t> segments, bool all_if_empty)
    : type_(task.type), num_classes_(static_cast<int>(task.num_classes())) {
  const size_t c = task.num_classes();
  std::vector<uint32_t> all;
  if (segments.empty() && all_if_empty) {
    all.resize(set.segments.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint32_t>(i);
    segments = all;
  }
  // Group labelled segments by call (in order of first appearance).
  std::unordered_map<std::string, uint32_t> call_index;
  std::vector<std::vector<uint32_t>> call_cells;
  std::vector<double> scores;
  std::vector<uint8_t> positive;
  std::vector<uint32_t> call_of;
  for (uint32_t i : segments) {
    const int truth = task.labels[i];
    if (truth < 0) continue;
    ++num_labelled_;
    auto [it, inserted] =
        call_index.try_emplace(set.segments.call_ids[i], static_cast<uint32_t>(call_ids_.size()));
    if (inserted) {
      call_ids_.push_back(set.segments.call_ids[i]);
      call_cells.emplace_back();
    }
    std::span<const double> row(probs.data() + i * c, c);
    const int pred = predict(row, type_, threshold);
    call_cells[it->second].push_back(static_cast<uint32_t>(truth * num_classes_ + pred));
    if (type_ == data::TaskType::kBinary) {
      scores.push_back(row[1]);
      positive.push_back(truth == 1);
      call_of.push_back(it->second);
    }
  }
  cell_offsets_.push_back(0);
  for (auto& cells : call_cells) {
    std::sort(cells.begin(), cells.end());
    for (size_t j = 0; j < cells.size(); ++j) {
      if (j > 0 && cells[j] == cells[j - 1]) {
        cell_counts_.back() += 1.0;
      } else {
        cells_.push_back(cells[j]);
        cell_counts_.push_back(1.0);
      }
    }
    cell_offsets_.push_back(static_cast<uint32_t>(cells_.size()));
  }
  if (type_ == data::TaskType::kBinary) ranked_ = RankedScores(scores, positive, call_of);
}

ConfusionMatrix TaskSample::confusion(std::span<const double> call_weight) const {
  ConfusionMatrix cm(num_classes_);
  for (size_t k = 0; k < call_ids_.size(); ++k) {
    const double w = call_weight[k];
    if (w == 0.0) continue;
    for (uint32_t j = cell_offsets_[k]; j < cell_offsets_[k + 1]; ++j)
      cm.counts[cells_[j]] += w * cell_counts_[j];
  }
  return cm;
}

MetricValues TaskSample::metrics(std::span<const double> call_weight) const {
  MetricValues v;
  v.fill(kNaN);
  const ClassificationMetrics m = classification_metrics(confusion(call_weight));
  v[idx(Metric::kAccuracy)] = m.accuracy;
  v[idx(Metric::kMacroF1)] = m.macro_f1;
  v[idx(Metric::kUar)] = m.uar;
  if (type_ == data::TaskType::kOrdinal) {
    v[idx(Metric::kQwk)] = m.qwk;
    v[idx(Metric::kMae)] = m.mae;
  }
  if (type_ == data::TaskType::kBinary) {
    v[idx(Metric::kAuroc)] = ranked_.auroc(call_weight);
    v[idx(Metric::kAuprc)] = ranked_.average_precision(call_weight);
  }
  return v;
}

MetricValues TaskSample::point() const {
  std::vector<double> ones(call_ids_.size(), 1.0);
  return metrics(ones);
}

BootstrapResult bootstrap(const TaskSample& sample, const BootstrapConfig& config) {
  BootstrapResult r;
  r.point = sample.point();
  r.resamples = config.resamples;
  std::array<std::vector<double>, kNumMetrics> draws;
  for (auto& d : draws) d.reserve(config.resamples);
  CallResampler resampler(sample.num_calls(), config.seed);
  std::vector<double> weights;
  for (int b = 0; b < config.resamples && sample.num_calls() > 0; ++b) {
    resampler.next(weights);
    const MetricValues v = sample.metrics(weights);
    for (int m = 0; m < kNumMetrics; ++m) draws[m].push_back(v[m]);
  }
  for (int m = 0; m < kNumMetrics; ++m)
    r.intervals[m] = percentile_interval(std::move(draws[m]), config.confidence);
  return r;
}

PairedResult paired_bootstrap(const TaskSample& a, const TaskSample& b,
                              const BootstrapConfig& config) {
  if (a.call_ids() != b.call_ids() || a.num_labelled() != b.num_labelled())
    throw DataError(
        "paired bootstrap: the two runs cover different calls or labelled segments; compare "
        "runs on the same segments and labels");
  PairedResult r;
  r.a = a.point();
  r.b = b.point();
  r.resamples = config.resamples;
  for (int m = 0; m < kNumMetrics; ++m) r.delta[m] = r.b[m] - r.a[m];
  std::array<std::vector<double>, kNumMetrics> deltas;
  CallResampler resampler(a.num_calls(), config.seed);
  std::vector<double> weights;
  for (int s = 0; s < config.resamples && a.num_calls() > 0; ++s) {
    resampler.next(weights);  // the same resample for both runs
    const MetricValues va = a.metrics(weights), vb = b.metrics(weights);
    for (int m = 0; m < kNumMetrics; ++m) deltas[m].push_back(vb[m] - va[m]);
  }
  for (int m = 0; m < kNumMetrics; ++m) {
    const double d = r.delta[m];
    // Two-sided p: twice the share of defined resamples whose delta does not keep the
    // observed sign (<= 0 when the observed delta is > 0, >= 0 when it is < 0).
    size_t defined = 0, flipped = 0;
    for (double x : deltas[m]) {
      if (std::isnan(x)) continue;
      ++defined;
      if ((d > 0 && x <= 0) || (d < 0 && x >= 0)) ++flipped;
    }
    if (std::isnan(d) || defined == 0)
      r.p_value[m] = kNaN;
    else if (d == 0.0)
      r.p_value[m] = 1.0;
    else
      r.p_value[m] = std::min(1.0, 2.0 * static_cast<double>(flipped) / defined);
    r.delta_intervals[m] = percentile_interval(std::move(deltas[m]), config.confidence);
  }
  return r;
}

}  // namespace tenor::eval
