// FusedAdamW (train/optimizer.h): the fused CPU kernel updates as LibTorch's AdamW does, its
// state round-trips through AdamW's serialized form, and what the kernel cannot take falls
// back to AdamW's own step.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/torch_compat.h"
#include "train/optimizer.h"

namespace tenor::test {
namespace {

using train::FusedAdamW;
using Groups = std::vector<torch::optim::OptimizerParamGroup>;

/// Parameters of a small model: a matrix, a bias and an embedding-sized table.
std::vector<torch::Tensor> parameters() {
  torch::manual_seed(7);
  return {torch::randn({5, 3}).requires_grad_(), torch::randn({3}).requires_grad_(),
          torch::randn({40, 8}).requires_grad_()};
}

/// Two groups with their own rate and weight decay, as the trainer makes them (the model,
/// a pretrained encoder's block).
Groups groups(const std::vector<torch::Tensor>& p) {
  Groups g;
  g.emplace_back(std::vector<torch::Tensor>{p[0], p[1]},
                 std::make_unique<torch::optim::AdamWOptions>(
                     torch::optim::AdamWOptions(0.01).weight_decay(0.05)));
  g.emplace_back(std::vector<torch::Tensor>{p[2]},
                 std::make_unique<torch::optim::AdamWOptions>(
                     torch::optim::AdamWOptions(0.002).weight_decay(0.01)));
  return g;
}

/// Step `n`: gradients drawn from the step's own seed; at odd steps the bias has none
/// (a parameter that took no part in the batch keeps its value and its state).
void set_gradients(const std::vector<torch::Tensor>& p, int n) {
  torch::manual_seed(100 + n);
  for (size_t i = 0; i < p.size(); ++i) {
    if (i == 1 && n % 2 == 1) {
      p[i].mutable_grad() = torch::Tensor();
      continue;
    }
    p[i].mutable_grad() = torch::randn_like(p[i]);
  }
}

void run(torch::optim::Optimizer& optimizer, const std::vector<torch::Tensor>& p, int from,
         int to) {
  for (int n = from; n < to; ++n) {
    set_gradients(p, n);
    optimizer.step();
  }
}

/// {major, minor} of a version such as "2.11.0+cu130" (CMake's) or "1.13.0" (torch/version.h);
/// {-1, -1} when it does not start with two numbers.
std::pair<int, int> major_minor(const std::string& version) {
  int major = -1, minor = -1;
  if (std::sscanf(version.c_str(), "%d.%d", &major, &minor) != 2) return {-1, -1};
  return {major, minor};
}

/// The skip below must not hide a broken version check: core/torch_compat.h reads the version
/// from torch/version.h, and if that stopped being found the trainer would fall back to
/// AdamW's own step without a word. The version CMake found (2.4 and later have the kernel)
/// decides here; patch levels may differ between the two (Debian's say 1.13.0 in both).
TEST(FusedAdamW, IsOnWhereverTheLibTorchBuiltAgainstHasTheKernel) {
  const std::string found = TENOR_CMAKE_TORCH_VERSION;
  const auto [major, minor] = major_minor(found);
  ASSERT_GE(major, 1) << "CMake's LibTorch version: " << found;
  ASSERT_EQ(major_minor(compat::torch_version()), major_minor(found))
      << "torch/version.h (" << compat::torch_version() << ") and CMake (" << found
      << ") disagree on the LibTorch this build uses";
  EXPECT_EQ(compat::kFusedAdamW, major > 2 || (major == 2 && minor >= 4))
      << "CMake found LibTorch " << found << " but core/torch_compat.h "
      << (compat::kFusedAdamW ? "enables" : "does not enable") << " the fused AdamW step";
}

/// The AdamW state `optimizer` keeps for parameter `p`: keyed by its TensorImpl since
/// LibTorch 2, by that pointer printed as a string in Debian's 1.13.
const torch::optim::AdamWParamState& adamw_state(torch::optim::Optimizer& optimizer,
                                                 const torch::Tensor& p) {
#if defined(TORCH_VERSION_MAJOR) && TORCH_VERSION_MAJOR >= 2
  const auto key = p.unsafeGetTensorImpl();
#else
  const auto key = c10::guts::to_string(p.unsafeGetTensorImpl());
#endif
  return static_cast<const torch::optim::AdamWParamState&>(*optimizer.state().at(key));
}

TEST(FusedAdamW, UpdatesAsAdamWDoesToRounding) {
  if (!compat::kFusedAdamW)  // Debian's LibTorch 1.13 (the test above pins which builds)
    GTEST_SKIP() << "LibTorch " << compat::torch_version() << " has no fused AdamW kernel";
  const auto a = parameters(), b = parameters();
  torch::optim::AdamW reference(groups(a));
  FusedAdamW fused(groups(b));
  run(reference, a, 0, 30);
  run(fused, b, 0, 30);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-5, 1e-6)) << "parameter " << i;
    // Thirty updates moved every parameter well past the tolerance: a kernel that skipped
    // the weight decay or a bias correction would not pass.
    EXPECT_GT((a[i] - parameters()[i]).abs().max().item<double>(), 1e-2) << "parameter " << i;
    const auto& ra = adamw_state(reference, a[i]);
    const auto& rb = adamw_state(fused, b[i]);
    EXPECT_EQ(ra.step(), rb.step()) << "parameter " << i;
    EXPECT_TRUE(torch::allclose(ra.exp_avg(), rb.exp_avg(), 1e-5, 1e-7));
    EXPECT_TRUE(torch::allclose(ra.exp_avg_sq(), rb.exp_avg_sq(), 1e-5, 1e-7));
  }
  // The fused kernel ran: its rounding differs from AdamW's several ops somewhere in 320
  // values after 30 updates (were both the same code, every bit would agree).
  EXPECT_FALSE(torch::equal(a[2], b[2]));
  // The bias had a gradient at even steps only.
  EXPECT_EQ(adamw_state(fused, b[1]).step(), 15);
}

TEST(FusedAdamW, ResumesFromItsSavedStateBitForBit) {
  const auto whole = parameters(), resumed = parameters();
  FusedAdamW uninterrupted(groups(whole));
  run(uninterrupted, whole, 0, 20);

  FusedAdamW first(groups(resumed));
  run(first, resumed, 0, 9);
  std::stringstream saved;
  {
    torch::serialize::OutputArchive archive;
    first.save(archive);
    archive.save_to(saved);
  }
  FusedAdamW second(groups(resumed));
  {
    torch::serialize::InputArchive archive;
    archive.load_from(saved);
    second.load(archive);
  }
  run(second, resumed, 9, 20);
  for (size_t i = 0; i < whole.size(); ++i)
    EXPECT_TRUE(torch::equal(whole[i], resumed[i])) << "parameter " << i;
}

TEST(FusedAdamW, TakesAdamWsOwnStepForWhatTheKernelCannotTake) {
  // A transposed leaf is not contiguous: the whole step is AdamW's, so the two agree exactly.
  auto make = [] {
    torch::manual_seed(3);
    return std::vector<torch::Tensor>{torch::randn({4, 6}).t().requires_grad_(),
                                      torch::randn({6}).requires_grad_()};
  };
  const auto a = make(), b = make();
  ASSERT_FALSE(a[0].is_contiguous());
  torch::optim::AdamW reference(a, torch::optim::AdamWOptions(0.01));
  FusedAdamW fused(b, torch::optim::AdamWOptions(0.01));
  for (int n = 0; n < 5; ++n) {
    torch::manual_seed(n);
    for (size_t i = 0; i < a.size(); ++i) {
      a[i].mutable_grad() = torch::randn_like(a[i]);
      b[i].mutable_grad() = a[i].grad().clone();
    }
    reference.step();
    fused.step();
  }
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << i;
}

}  // namespace
}  // namespace tenor::test
