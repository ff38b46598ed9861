// The built-in fold model of `tenor data review` (eval/review_model.h): per-speaker
// standardisation of the functionals, the penalty chosen by inner cross-validation, and a fit
// that is deterministic and never reads the held-out rows' labels.
#include "eval/review_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>

#include "core/torch_compat.h"

namespace tenor::eval {
namespace {

/// A store of `rows` segments with `cols` functionals (all unmasked), no tokens.
features::Store store_of(size_t rows, size_t cols) {
  features::Store s;
  for (size_t c = 0; c < cols; ++c) s.layout.functional_columns.push_back("f" + std::to_string(c));
  s.segments.resize(rows);
  s.functionals.assign(rows * cols, 0.0f);
  s.functional_mask.assign(rows * cols, 1);
  return s;
}

TEST(ReviewModel, StandardisesEachSpeakerOnItsOwnSegments) {
  // Speakers a and b (5 segments each) say the same thing, b louder and wider by nature;
  // c has 2 segments (too few: pooled with the 3 segments without a speaker_id).
  features::Store s = store_of(15, 2);
  std::vector<std::string> speakers(15);
  const float base[5] = {1, 2, 3, 4, 10};
  for (size_t i = 0; i < 5; ++i) {
    speakers[i] = "a";
    s.functionals[i * 2] = base[i];
    speakers[5 + i] = "b";
    s.functionals[(5 + i) * 2] = 100 + 3 * base[i];
  }
  for (size_t i = 10; i < 15; ++i) {
    speakers[i] = i < 12 ? "c" : "";
    s.functionals[i * 2] = float(i);
    s.functionals[i * 2 + 1] = 7;  // constant in the pool: 0
  }
  s.functional_mask[14 * 2] = 0;  // masked: 0, and not in the pool's statistics
  s.functionals[13 * 2 + 1] = std::numeric_limits<float>::quiet_NaN();  // as if masked
  const auto z = speaker_standardized_functionals(s, speakers);
  for (size_t i = 0; i < 5; ++i) EXPECT_NEAR(z[i * 2], z[(5 + i) * 2], 1e-12) << i;
  double sum = 0, sum2 = 0;
  for (size_t i = 0; i < 5; ++i) sum += z[i * 2], sum2 += z[i * 2] * z[i * 2];
  EXPECT_NEAR(sum / 5, 0.0, 1e-12);
  EXPECT_NEAR(sum2 / 5, 1.0, 1e-12);
  // The pool: 10, 11, 12, 13 (14 masked): mean 11.5, sd sqrt(1.25).
  EXPECT_NEAR(z[10 * 2], (10 - 11.5) / std::sqrt(1.25), 1e-6);
  EXPECT_EQ(z[14 * 2], 0.0);
  for (size_t i = 10; i < 15; ++i) EXPECT_EQ(z[i * 2 + 1], 0.0) << i;
}

/// 160 rows of 8 Gaussian functionals; labels = [x0 + noise > 0] (`signal`) or coin flips.
struct Problem {
  ReviewInputs inputs;
  std::vector<int> labels, inner_fold;
  std::vector<int64_t> train, test;
};

Problem problem(bool signal) {
  compat::set_cpu_threads(1);  // as the review: small problems run fastest on one thread
  constexpr size_t kRows = 160, kCols = 8;
  features::Store s = store_of(kRows, kCols);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  std::bernoulli_distribution coin(0.5);
  Problem p;
  for (size_t r = 0; r < kRows; ++r) {
    for (size_t c = 0; c < kCols; ++c) s.functionals[r * kCols + c] = normal(rng);
    const float x0 = s.functionals[r * kCols];
    p.labels.push_back(signal ? int(x0 + 0.3f * normal(rng) > 0) : int(coin(rng)));
    p.inner_fold.push_back(int(r % 3));
    (r % 5 == 0 ? p.test : p.train).push_back(int64_t(r));
  }
  p.inputs = review_inputs(s, std::vector<std::string>(kRows), true, true);
  return p;
}

TEST(ReviewModel, InnerCrossValidationChoosesThePenalty) {
  const ReviewModelOptions options;  // penalties 10 .. 1e-5, strongest first
  // Labels that no feature predicts: every weaker penalty only fits noise, so the held-out
  // log loss is lowest at the strongest.
  const Problem noise = problem(false);
  EXPECT_EQ(fit_and_predict(noise.inputs, noise.labels, 2, noise.train, noise.test,
                            noise.inner_fold, options).penalty,
            options.penalties.front());
  // A clear signal: a weak penalty, and the held-out rows classified.
  const Problem clear = problem(true);
  const auto fitted =
      fit_and_predict(clear.inputs, clear.labels, 2, clear.train, clear.test, clear.inner_fold);
  EXPECT_LE(fitted.penalty, 0.1);
  ASSERT_EQ(fitted.probs.size(), clear.test.size() * 2);
  size_t right = 0;
  for (size_t i = 0; i < clear.test.size(); ++i) {
    EXPECT_NEAR(fitted.probs[2 * i] + fitted.probs[2 * i + 1], 1.0, 1e-9);
    right += (fitted.probs[2 * i + 1] > 0.5) == bool(clear.labels[size_t(clear.test[i])]);
  }
  EXPECT_GE(right, clear.test.size() * 9 / 10);
}

TEST(ReviewModel, DeterministicAndBlindToTheHeldOutLabels) {
  Problem p = problem(true);
  const auto a = fit_and_predict(p.inputs, p.labels, 2, p.train, p.test, p.inner_fold);
  const auto b = fit_and_predict(p.inputs, p.labels, 2, p.train, p.test, p.inner_fold);
  EXPECT_EQ(a.probs, b.probs);  // bit for bit
  EXPECT_EQ(a.penalty, b.penalty);
  for (auto r : p.test) p.labels[size_t(r)] = 1 - p.labels[size_t(r)];
  const auto c = fit_and_predict(p.inputs, p.labels, 2, p.train, p.test, p.inner_fold);
  EXPECT_EQ(a.probs, c.probs);
}

// A task that may read neither modality (an agent task on a store without transcripts): no
// weights but the bias, which balanced classes put at 1/K, not a crash.
TEST(ReviewModel, ATaskWithNoInputPredictsBalancedClasses) {
  Problem p = problem(true);
  p.inputs = review_inputs(store_of(160, 8), std::vector<std::string>(160), /*functionals=*/false,
                           /*text=*/true);
  EXPECT_EQ(p.inputs.dense_columns, 0);
  EXPECT_EQ(p.inputs.text_buckets, 0);
  const auto fitted = fit_and_predict(p.inputs, p.labels, 2, p.train, p.test, p.inner_fold);
  ASSERT_EQ(fitted.probs.size(), p.test.size() * 2);
  for (double v : fitted.probs) EXPECT_NEAR(v, 0.5, 1e-4);
}

}  // namespace
}  // namespace tenor::eval
