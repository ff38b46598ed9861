#include "eval/review_model.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <string>

#include "core/error.h"
#include "data/features/tokenizer.h"

namespace tenor::eval {
namespace {

/// Each row's standardisation group: its speaker's rows, or the pool of the rest.
std::vector<std::vector<size_t>> speaker_groups(const std::vector<std::string>& speakers) {
  std::map<std::string, std::vector<size_t>> by_speaker;
  for (size_t r = 0; r < speakers.size(); ++r) by_speaker[speakers[r]].push_back(r);
  std::vector<std::vector<size_t>> groups(1);  // groups[0]: the pool
  for (auto& [id, rows] : by_speaker) {
    if (id.empty() || rows.size() < size_t(kMinSpeakerSegments))
      groups[0].insert(groups[0].end(), rows.begin(), rows.end());
    else
      groups.push_back(std::move(rows));
  }
  return groups;
}

/// Hashed unigrams and bigrams of one row's tokens (train/model.cpp ngram_bag's hash,
/// features::kBigramHashMultiplier), each present bucket once.
std::vector<int64_t> ngram_buckets(const features::Store& store, size_t row) {
  const int64_t begin = store.token_offsets[row], end = store.token_offsets[row + 1];
  std::vector<int64_t> ids;
  for (int64_t i = begin; i < end; ++i) {
    const int64_t a = store.tokens[size_t(i)];
    ids.push_back(a % kReviewTextBuckets);
    if (i + 1 < end)
      ids.push_back((a * features::kBigramHashMultiplier + store.tokens[size_t(i + 1)]) % kReviewTextBuckets);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

using torch::Tensor;

/// The rows' inputs as tensors: dense [n, D] and the n-gram bag, sparse [n, buckets].
struct Design {
  Tensor dense, text;
};

Design design(const ReviewInputs& in, const std::vector<int64_t>& rows) {
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  const auto n = int64_t(rows.size());
  Design d;
  if (in.dense_columns > 0) {
    d.dense = torch::empty({n, in.dense_columns}, f64);
    auto* out = d.dense.data_ptr<double>();
    for (int64_t i = 0; i < n; ++i)
      std::copy_n(in.dense.begin() + rows[size_t(i)] * in.dense_columns, in.dense_columns,
                  out + i * in.dense_columns);
  }
  if (in.text_buckets > 0) {
    std::vector<int64_t> r, c;
    std::vector<double> v;
    for (int64_t i = 0; i < n; ++i) {
      const auto row = size_t(rows[size_t(i)]);
      for (int64_t j = in.text_offsets[row]; j < in.text_offsets[row + 1]; ++j) {
        r.push_back(i);
        c.push_back(in.text_columns[size_t(j)]);
        v.push_back(in.text_values[size_t(j)]);
      }
    }
    const auto nnz = int64_t(v.size());
    auto index = torch::stack({torch::tensor(r, torch::kInt64), torch::tensor(c, torch::kInt64)})
                     .reshape({2, nnz});
    d.text = torch::sparse_coo_tensor(index, torch::tensor(v, f64), {n, in.text_buckets}, f64)
                 .coalesce();
  }
  return d;
}

/// Weights of one multinomial logistic regression: dense [D, K], text [buckets, K], bias [K].
struct Weights {
  Tensor dense, text, bias;
};

Weights zero_weights(const ReviewInputs& in, int classes) {
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  return {torch::zeros({in.dense_columns, classes}, f64),
          torch::zeros({in.text_buckets, classes}, f64), torch::zeros({classes}, f64)};
}

Tensor logits(const Design& d, const Weights& w, int64_t n) {
  Tensor z = w.bias.unsqueeze(0).expand({n, w.bias.size(0)});
  if (d.dense.defined()) z = z + d.dense.mm(w.dense);
  if (d.text.defined()) z = z + torch::mm(d.text, w.text);
  return z;
}

/// Minimises the mean class-balanced cross-entropy (each class weighs as much in all, as the
/// trainer's `loss: balanced`) + penalty / 2 * ||weights||^2 (not the bias) from `w`, in place.
void fit(const Design& d, const Tensor& y, int classes, double penalty, Weights& w,
         int max_iterations) {
  const auto counts = torch::bincount(y, {}, classes).to(torch::kFloat64);
  const Tensor class_weight =
      torch::where(counts > 0, double(y.size(0)) / (classes * counts), torch::zeros_like(counts));
  for (Tensor* t : {&w.dense, &w.text, &w.bias}) t->set_requires_grad(true);
  torch::optim::LBFGS opt({w.dense, w.text, w.bias}, torch::optim::LBFGSOptions(1)
                                                         .max_iter(max_iterations)
                                                         .history_size(20)
                                                         .tolerance_grad(1e-6)
                                                         .tolerance_change(1e-10)
                                                         .line_search_fn("strong_wolfe"));
  auto closure = [&] {
    opt.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(
        logits(d, w, y.size(0)), y,
        torch::nn::functional::CrossEntropyFuncOptions().weight(class_weight));
    loss = loss + 0.5 * penalty * (w.dense.pow(2).sum() + w.text.pow(2).sum());
    loss.backward();
    return loss;
  };
  opt.step(closure);
  for (Tensor* t : {&w.dense, &w.text, &w.bias}) *t = t->detach();
}

Tensor probabilities(const Design& d, const Weights& w, int64_t n) {
  torch::NoGradGuard no_grad;
  return torch::softmax(logits(d, w, n), 1);
}

Tensor label_tensor(const std::vector<int>& labels, const std::vector<int64_t>& rows) {
  std::vector<int64_t> y;
  for (auto r : rows) y.push_back(labels[size_t(r)]);
  return torch::tensor(y, torch::kInt64);
}

std::vector<int64_t> labelled(const std::vector<int>& labels, const std::vector<int64_t>& rows) {
  std::vector<int64_t> out;
  for (auto r : rows)
    if (labels[size_t(r)] >= 0) out.push_back(r);
  return out;
}

/// One inner fold: its fitting rows and held-out rows, and the weights of its last fit.
struct InnerFold {
  Design fit_design, held_design;
  Tensor y, held_y;
  int64_t held_rows = 0;
  Weights w;
};

std::vector<InnerFold> inner_folds(const ReviewInputs& in, const std::vector<int>& labels,
                                   int classes, const std::vector<int64_t>& train,
                                   const std::vector<int>& inner_fold) {
  std::vector<InnerFold> out;
  int folds = 0;
  for (auto r : train) folds = std::max(folds, inner_fold[size_t(r)] + 1);
  for (int f = 0; f < folds; ++f) {
    std::vector<int64_t> fit_rows, held;
    for (auto r : train) (inner_fold[size_t(r)] == f ? held : fit_rows).push_back(r);
    if (fit_rows.empty() || held.empty()) continue;
    out.push_back({design(in, fit_rows), design(in, held), label_tensor(labels, fit_rows),
                   label_tensor(labels, held), int64_t(held.size()), zero_weights(in, classes)});
  }
  return out;
}

/// Held-out log loss summed over the inner folds, per penalty (options.penalties' order),
/// each fold's fits warm-started along the penalties. The path stops once two penalties in a
/// row are clearly (kPathStop) worse than the best so far: past its minimum the curve only
/// rises, and the weakest penalties converge slowest. Near the strongest penalties it is
/// flat (every model predicts about the class prior) and tiny ups and downs do not stop it.
/// The penalties not reached stay +inf.
std::vector<double> inner_losses(const ReviewInputs& in, const std::vector<int>& labels,
                                 int classes, const std::vector<int64_t>& train,
                                 const std::vector<int>& inner_fold,
                                 const ReviewModelOptions& options) {
  constexpr double kPathStop = 1.01;
  std::vector<double> loss(options.penalties.size(), std::numeric_limits<double>::infinity());
  auto folds = inner_folds(in, labels, classes, train, inner_fold);
  if (folds.empty()) return loss;
  size_t best = 0;
  int worse = 0;
  for (size_t p = 0; p < options.penalties.size() && worse < 2; ++p) {
    loss[p] = 0;
    for (auto& f : folds) {
      fit(f.fit_design, f.y, classes, options.penalties[p], f.w, options.max_iterations);
      const Tensor probs = probabilities(f.held_design, f.w, f.held_rows);
      loss[p] -= probs.gather(1, f.held_y.unsqueeze(1)).clamp_min(1e-15).log().sum().item<double>();
    }
    if (loss[p] < loss[best]) best = p;
    worse = loss[p] > kPathStop * loss[best] ? worse + 1 : 0;
  }
  return loss;
}

}  // namespace

std::vector<double> speaker_standardized_functionals(const features::Store& store,
                                                     const std::vector<std::string>& speakers) {
  const size_t rows = store.segments.size();
  if (speakers.size() != rows)
    throw UsageError("per-speaker standardisation needs one speaker per store row (" +
                     std::to_string(speakers.size()) + " for " + std::to_string(rows) + ")");
  const size_t cols = store.layout.functional_columns.size();
  std::vector<double> out(rows * cols, 0.0);
  // A value that is not finite counts as masked: one would turn the whole fit into NaN.
  auto usable = [&](size_t r, size_t c) {
    return store.functional_mask[r * cols + c] && std::isfinite(store.functionals[r * cols + c]);
  };
  for (const auto& group : speaker_groups(speakers)) {
    for (size_t c = 0; c < cols; ++c) {
      double n = 0, sum = 0, sum2 = 0;
      for (auto r : group)
        if (usable(r, c)) {
          const double v = store.functionals[r * cols + c];
          n += 1, sum += v, sum2 += v * v;
        }
      if (n == 0) continue;
      const double mean = sum / n, sd = std::sqrt(std::max(0.0, sum2 / n - mean * mean));
      if (!(sd > 1e-9 * std::max(1.0, std::abs(mean)))) continue;  // constant: 0
      for (auto r : group)
        if (usable(r, c)) out[r * cols + c] = (store.functionals[r * cols + c] - mean) / sd;
    }
  }
  return out;
}

ReviewInputs review_inputs(const features::Store& store, const std::vector<std::string>& speakers,
                           bool functionals, bool text) {
  ReviewInputs in;
  in.rows = int64_t(store.segments.size());
  const size_t rows = store.segments.size(), cols = store.layout.functional_columns.size();
  if (functionals && cols > 0) {
    const auto z = speaker_standardized_functionals(store, speakers);
    std::vector<size_t> varying;  // mask columns that tell rows apart
    for (size_t c = 0; c < cols; ++c)
      for (size_t r = 1; r < rows; ++r)
        if (store.functional_mask[r * cols + c] != store.functional_mask[c]) {
          varying.push_back(c);
          break;
        }
    in.dense_columns = int64_t(cols + varying.size());
    for (size_t r = 0; r < rows; ++r) {
      in.dense.insert(in.dense.end(), z.begin() + long(r * cols), z.begin() + long((r + 1) * cols));
      for (auto c : varying) in.dense.push_back(store.functional_mask[r * cols + c]);
    }
  }
  if (text && !store.tokens.empty()) {
    in.text_buckets = kReviewTextBuckets;
    in.text_offsets.push_back(0);
    for (size_t r = 0; r < rows; ++r) {
      const auto ids = ngram_buckets(store, r);
      for (auto id : ids) {
        in.text_columns.push_back(id);
        in.text_values.push_back(1.0 / std::sqrt(double(ids.size())));  // unit L2 norm
      }
      in.text_offsets.push_back(int64_t(in.text_columns.size()));
    }
  }
  return in;
}

FoldPrediction fit_and_predict(const ReviewInputs& inputs, const std::vector<int>& labels,
                               int classes, const std::vector<int64_t>& train_rows,
                               const std::vector<int64_t>& test,
                               const std::vector<int>& inner_fold,
                               const ReviewModelOptions& options) {
  TORCH_CHECK(!options.penalties.empty(), "fit_and_predict: no penalty to try");
  const std::vector<int64_t> train = labelled(labels, train_rows);
  const auto loss = inner_losses(inputs, labels, classes, train, inner_fold, options);
  // The first (strongest) penalty wins ties: without evidence, the simpler model.
  const size_t best = size_t(std::min_element(loss.begin(), loss.end()) - loss.begin());
  FoldPrediction out;
  out.penalty = options.penalties[best];
  Weights w = zero_weights(inputs, classes);
  if (!train.empty())
    fit(design(inputs, train), label_tensor(labels, train), classes, out.penalty, w,
        options.max_iterations);
  if (test.empty()) return out;
  const Tensor probs = probabilities(design(inputs, test), w, int64_t(test.size())).contiguous();
  out.probs.assign(probs.data_ptr<double>(), probs.data_ptr<double>() + probs.numel());
  return out;
}

}  // namespace tenor::eval
