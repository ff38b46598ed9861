// The real public sets in ../shared/data must validate with no errors.
// Skipped when ../shared/data is absent (e.g. a clone without the shared folder).
#include <gtest/gtest.h>

#include "data/stats.h"
#include "tests/data/fixtures.h"

namespace tenor::test {
namespace {

class RealdataValidate : public testing::TestWithParam<std::string> {};

TEST_P(RealdataValidate, NoErrors) {
  std::string shared = shared_data_dir();
  if (shared.empty()) GTEST_SKIP() << "../shared/data is absent";
  fs::path dir = fs::path(shared) / GetParam();
  if (!fs::exists(dir)) GTEST_SKIP() << dir << " is absent";
  auto result = data::validate_dataset(dir);
  EXPECT_EQ(result.diagnostics.error_count(), 0u) << result.diagnostics.to_text();
  EXPECT_GT(result.dataset.calls.size(), 100u);
  auto stats = data::dataset_stats(result.dataset, {100, 1, false});
  EXPECT_GT(stats["tasks"].size(), 0u);
}

INSTANTIATE_TEST_SUITE_P(SharedSets, RealdataValidate,
                         testing::Values("ravdess-anger", "epitome-empathy", "meld-anger"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (auto& c : name)
                             if (c == '-') c = '_';
                           return name;
                         });

}  // namespace
}  // namespace tenor::test
