#pragma once
// An exponential moving average of a model's weights during training (Polyak and Juditsky,
// SIAM J. Control Optim. 30(4), 1992; the "shadow variables" of TensorFlow's
// ExponentialMovingAverage; timm's ModelEma): `optim.ema_decay`. The dev split scores the
// averaged weights and best.pt holds them, so the epoch kept depends less on where in its
// last few steps the optimizer happened to stop (on a small dev split one clip decides it).

#include <torch/nn/module.h>

#include <cstdint>
#include <map>
#include <string>

namespace tenor::train {

class WeightAverage {
 public:
  /// The average starts at the model's current weights. `decay` in (0, 1).
  WeightAverage(const torch::nn::Module& model, double decay);

  /// Restarts the average at the model's current weights (a fresh run, once its starting
  /// weights are loaded: pretrained encoder, word vectors, rank 0's weights).
  void reset(const torch::nn::Module& model);

  /// After optimizer step `step` (0 for the first): average = d * average + (1 - d) * weights
  /// with d = min(decay, (1 + step) / (10 + step)), TensorFlow's warm-up, so that the
  /// random initial weights fade within the first steps. Floating-point parameters and
  /// buffers are averaged, other buffers copied. A weight that did not change (a frozen
  /// layer) keeps its exact value.
  void update(const torch::nn::Module& model, int64_t step);

  /// Exchanges the model's weights with the average, in place (the optimizer keeps its
  /// parameter tensors): twice restores both.
  void swap(torch::nn::Module& model);

  /// The averaged tensors by checkpoint key ("model.NAME" for parameters, "buffer.NAME" for
  /// buffers, as save_checkpoint names the model's own), for last.pt and its resume.
  std::map<std::string, torch::Tensor>& tensors() { return average_; }
  const std::map<std::string, torch::Tensor>& tensors() const { return average_; }

  double decay() const { return decay_; }

 private:
  double decay_;
  std::map<std::string, torch::Tensor> average_;
};

/// The model holds the average while this lives (dev scoring, best-k checkpoints), its
/// training weights again after. No-op for nullptr.
class AveragedWeights {
 public:
  AveragedWeights(WeightAverage* average, torch::nn::Module& model);
  ~AveragedWeights();
  AveragedWeights(const AveragedWeights&) = delete;
  AveragedWeights& operator=(const AveragedWeights&) = delete;

 private:
  WeightAverage* average_;
  torch::nn::Module& model_;
};

}  // namespace tenor::train
