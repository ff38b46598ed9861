#include "train/optimizer.h"

#include <memory>
#include <tuple>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "core/torch_compat.h"

namespace tenor::train {

#if TENOR_TORCH_FUSED_ADAMW
namespace {

/// Whether the fused kernel may update every parameter with a gradient: dense, contiguous,
/// float or double, on the CPU, and no amsgrad (tenor never sets it; AdamW's own step keeps
/// its running maximum).
bool fusable(const std::vector<torch::optim::OptimizerParamGroup>& groups) {
  for (const auto& group : groups) {
    if (static_cast<const torch::optim::AdamWOptions&>(group.options()).amsgrad()) return false;
    for (const auto& p : group.params()) {
      const auto& g = p.grad();
      if (!g.defined()) continue;
      const auto type = p.scalar_type();
      if (!p.device().is_cpu() || g.is_sparse() || !p.is_contiguous() || !g.is_contiguous() ||
          (type != at::kFloat && type != at::kDouble) || g.scalar_type() != type)
        return false;
    }
  }
  return true;
}

}  // namespace
#endif

torch::Tensor FusedAdamW::step(LossClosure closure) {
#if TENOR_TORCH_FUSED_ADAMW
  if (!fusable(param_groups())) return AdamW::step(std::move(closure));
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure != nullptr) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups()) {
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
    std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs, steps;
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      auto& slot = state()[p.unsafeGetTensorImpl()];
      if (!slot) {  // as AdamW::step starts a parameter's state
        auto fresh = std::make_unique<torch::optim::AdamWParamState>();
        fresh->step(0);
        fresh->exp_avg(torch::zeros_like(p, at::MemoryFormat::Preserve));
        fresh->exp_avg_sq(torch::zeros_like(p, at::MemoryFormat::Preserve));
        slot = std::move(fresh);
      }
      auto& s = static_cast<torch::optim::AdamWParamState&>(*slot);
      s.step(s.step() + 1);
      params.push_back(p);
      grads.push_back(p.grad());
      exp_avgs.push_back(s.exp_avg());
      exp_avg_sqs.push_back(s.exp_avg_sq());
      // The kernel reads the step count (for the bias corrections) from a float tensor, as
      // Python keeps it; the count itself stays AdamW's int64, so checkpoints do not change.
      steps.push_back(torch::full({}, double(s.step()), torch::kFloat));
    }
    if (params.empty()) continue;
    at::_fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, /*max_exp_avg_sqs=*/{}, steps,
                      o.lr(), std::get<0>(o.betas()), std::get<1>(o.betas()), o.weight_decay(),
                      o.eps(), /*amsgrad=*/false, /*maximize=*/false);
  }
  return loss;
#else  // LibTorch 1.13: AdamW's own step
  return AdamW::step(std::move(closure));
#endif
}

}  // namespace tenor::train
