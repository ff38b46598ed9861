#pragma once
// AdamW with one fused kernel per parameter on the CPU.
//
// LibTorch's C++ AdamW updates each parameter with about seven tensor ops (decay, two moment
// updates, a square root, a division, an add, the update), each a pass over memory and some a
// new temporary. ATen has had a fused AdamW kernel for the CPU since 2.4 (at::_fused_adamw_,
// what Python's `AdamW(fused=True)` calls): one vectorised pass per parameter. FusedAdamW is
// torch::optim::AdamW with step() replaced by that kernel where it applies, so the options, the
// per-parameter state and the serialized form (checkpoints, resume) are AdamW's own.
// It applies to dense contiguous float CPU parameters; everything else (a CUDA parameter,
// a sparse gradient, amsgrad, LibTorch 1.13) takes AdamW's own step, so a run is never
// refused for it. The two agree to rounding, not to the bit (tests/train/optimizer_test.cpp);
// a run resumed by the same binary takes the same path and stays bit-identical.
#include <torch/optim/adamw.h>

#include <vector>

namespace tenor::train {

class FusedAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;

  /// The fused update where the kernel applies (compat::kFusedAdamW and every parameter
  /// with a gradient dense, contiguous, float or double, on the CPU), else AdamW's own.
  torch::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace tenor::train
