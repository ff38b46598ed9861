#pragma once
// Prosody-plus-text models (LibTorch). Submodule names are stable: they are the
// checkpoint keys and, later, the ONNX initializer names (a test pins them).

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/modules/rnn.h>
#include <torch/nn/pimpl.h>

#include <optional>
#include <string>
#include <vector>

#include "data/schema.h"
#include "train/config.h"
#include "train/text_encoder.h"

namespace tenor::train {

/// One output of the model: a task from the dataset schema.
struct TaskSpec {
  std::string name;
  data::TaskType type = data::TaskType::kBinary;
  int num_classes = 2;
  std::string speaker;  ///< role whose segments carry the label
  /// Modalities this task may use: prosody, functionals, text. Agent tasks are text-only
  /// unless ModelConfig::agent_prosody (compliance: EU AI Act art. 5(1)(f)).
  bool prosody = true, functionals = true, text = true;
  /// The class names in the order of the model's outputs (from the store it was trained on;
  /// empty in runs written before they were recorded, whose classes count by position only).
  std::vector<std::string> classes = {};
};

/// The modalities a task reads, as result.json, a bundle's labels.json and its model card state
/// them (compliance): "prosody", "functionals", "speech_encoder" (pretrained speech-encoder
/// states among the functionals, `speech_encoder`: the store has them), "text".
std::vector<std::string> modalities(const TaskSpec& task, bool speech_encoder);

/// What the data gives the model: dimensions and task list.
struct ModelShape {
  int lld_features = 0;
  int functional_features = 0;
  int vocab_size = 0;          ///< 0: no text in the store
  /// model.text_encoder: the architecture of the pretrained encoder the model fine-tunes.
  std::optional<BertConfig> transformer;
  std::vector<TaskSpec> tasks;
};

/// A padded batch. Absent modalities have zero lengths.
struct Batch {
  torch::Tensor frames;          ///< [B, T, F_lld] float (normalised)
  torch::Tensor frame_len;       ///< [B] int64
  torch::Tensor functionals;     ///< [B, F] float (normalised, 0 where undefined)
  torch::Tensor func_mask;       ///< [B, F] float 0/1
  torch::Tensor tokens;          ///< [B, L] int64, 0 = padding
  torch::Tensor token_len;       ///< [B] int64
  torch::Tensor ctx_tokens;      ///< [B, C] int64: the previous segment's (model.context_tokens)
  torch::Tensor ctx_len;         ///< [B] int64, 0 = no context
  /// model.text_encoder: WordPiece ids [B, L] int64 ([CLS] segment [SEP] (context [SEP])),
  /// their token types (0: the segment, 1: the context) and mask (1: token, 0: padding).
  torch::Tensor text_ids, text_type_ids, text_mask;
  torch::Tensor labels;          ///< [B, K] int64, -1 = no label for task k
  std::vector<int64_t> index;    ///< rows of the store
  Batch to(const torch::Device& device) const;
};

/// A batch-first bidirectional GRU over the valid steps of each row: x [B, T, D], len [B]
/// -> [B, T, 2H], zeros at t >= len. Equal to running it on packed sequences, but each
/// direction runs on the padded batch (the reverse one over each row reversed within its
/// length), which on CPU is about twice as fast as LibTorch's packed path.
torch::Tensor run_bigru(torch::nn::GRU& gru, const torch::Tensor& x, const torch::Tensor& len);

/// Attention pooling over valid time steps: softmax(w . h_t) over t < len. The score has
/// no bias (a constant shift of every score leaves the softmax unchanged).
class MaskedAttentionPoolImpl : public torch::nn::Module {
 public:
  explicit MaskedAttentionPoolImpl(int dim);
  /// h: [B, T, D], len: [B] -> [B, D] (zeros where len == 0)
  torch::Tensor forward(const torch::Tensor& h, const torch::Tensor& len);
  torch::nn::Linear score{nullptr};
};
TORCH_MODULE(MaskedAttentionPool);

/// Conv front + bidirectional GRU + masked attention pooling over frame LLDs.
class ProsodyEncoderImpl : public torch::nn::Module {
 public:
  ProsodyEncoderImpl(int features, const ModelConfig& config);
  /// frames: [B, T, F], len: [B] -> [B, hidden]
  torch::Tensor forward(const torch::Tensor& frames, const torch::Tensor& len);
  torch::nn::Conv1d conv{nullptr};
  torch::nn::GRU gru{nullptr};
  MaskedAttentionPool pool{nullptr};
  torch::nn::Linear proj{nullptr};
};
TORCH_MODULE(ProsodyEncoder);

/// Embedding + bidirectional GRU + masked attention pooling over token ids.
class TextEncoderImpl : public torch::nn::Module {
 public:
  TextEncoderImpl(int vocab, const ModelConfig& config);
  /// tokens: [B, L] int64, len: [B] -> [B, hidden]
  torch::Tensor forward(const torch::Tensor& tokens, const torch::Tensor& len);
  torch::nn::Embedding embed{nullptr};
  torch::nn::GRU gru{nullptr};
  MaskedAttentionPool pool{nullptr};
  torch::nn::Linear proj{nullptr};
};
TORCH_MODULE(TextEncoder);

/// The model's interface: logits per task (binary: [B, 1]; ordinal: [B, K-1] cumulative
/// CORAL logits; categorical: [B, K]) and probabilities [B, K] for every task.
class TaskModel : public torch::nn::Module {
 public:
  virtual std::vector<torch::Tensor> logits(const Batch& batch) = 0;
  /// The models that train each on its own loss: the members of an ensemble (model.members),
  /// or this model alone. Training takes a loss on each one's logits and clips each one's
  /// gradients on their own (clip_member_gradients).
  virtual std::vector<TaskModel*> members() { return {this}; }
  /// Tokens of the previous segment the model reads (model.context_tokens), 0 for none.
  virtual int context_tokens() const { return 0; }
  const std::vector<TaskSpec>& tasks() const { return tasks_; }

 protected:
  std::vector<TaskSpec> tasks_;
};

/// Gated fusion of prosody, functionals and text; works with any modality missing.
class FusionModel : public TaskModel {
 public:
  FusionModel(const ModelShape& shape, const ModelConfig& config);
  std::vector<torch::Tensor> logits(const Batch& batch) override;
  int context_tokens() const override {
    return context || bert ? config_.context_tokens : 0;
  }

  ProsodyEncoder prosody{nullptr};
  torch::nn::Linear functionals{nullptr};  ///< [values, mask] -> hidden
  TextEncoder text{nullptr};
  torch::nn::Linear gate{nullptr};  ///< 3 modality embeddings -> 3 gate logits
  /// model.context_tokens: [c, t * c] -> hidden, c the text encoder's vector of the previous
  /// segment; tanh of it is added to the text vector t where there is a previous segment.
  torch::nn::Linear context{nullptr};
  /// Hashed uni/bigram bag (model.ngrams), concatenated to the fused vector of text tasks.
  torch::nn::Embedding ngrams{nullptr};
  /// model.text_encoder: the pretrained encoder ("bert", Hugging Face's parameter names
  /// below it) and the projection of its mean-pooled output to `hidden`; replaces `text`.
  BertEncoder bert{nullptr};
  torch::nn::Linear bert_proj{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Dropout dropout{nullptr};
  std::vector<torch::nn::Linear> heads;  ///< "head_<task>"
  std::vector<torch::Tensor>
      ordinal_bias;  ///< "bias_<task>": [K-1] CORAL thresholds (ordinal tasks)

 private:
  ModelConfig config_;
  bool has_text_ = false;
};

/// The honest baseline: logistic regression on functionals and hashed token
/// uni- and bigrams (bag of n-grams), one linear head per task.
class LinearModel : public TaskModel {
 public:
  LinearModel(const ModelShape& shape, const ModelConfig& config);
  std::vector<torch::Tensor> logits(const Batch& batch) override;

  torch::nn::Embedding ngrams{nullptr};  ///< hashed uni/bigram -> vector (averaged per segment)
  std::vector<torch::nn::Linear> heads;  ///< "head_<task>" over [functionals, mask, n-grams]
  std::vector<torch::Tensor> ordinal_bias;

 private:
  ModelConfig config_;
};

/// model.members > 1: a deep ensemble (Lakshminarayanan et al. 2017) of fusion models
/// "member0", "member1", ... (checkpoint keys "member0.prosody.conv.weight"), each from its
/// own random start and with its own dropout draws, trained together on the same batches
/// (one augmentation and feature extraction for all), each on its own loss. Its logits are
/// the mean of the members' logits, per task: what the run is selected, calibrated, scored
/// and exported on.
class EnsembleModel : public TaskModel {
 public:
  EnsembleModel(const ModelShape& shape, const ModelConfig& config);
  std::vector<torch::Tensor> logits(const Batch& batch) override;
  std::vector<TaskModel*> members() override;
  int context_tokens() const override { return fusion.front()->context_tokens(); }
  /// The mean over members of each task's logits: `per_member[m][task]`.
  static std::vector<torch::Tensor> mean_logits(
      const std::vector<std::vector<torch::Tensor>>& per_member);

  std::vector<std::shared_ptr<FusionModel>> fusion;  ///< "member<i>"
};

/// The fusion model that `model` is or, for an ensemble, its first member (they share one
/// layout); nullptr for other models.
FusionModel* as_fusion(TaskModel& model);

/// Clips the gradients of each member (TaskModel::members) to `max_norm` on its own (an
/// infinite max_norm measures only), so that one member's large step does not shrink the
/// others'. Returns the norm over all gradients before clipping.
double clip_member_gradients(TaskModel& model, double max_norm);

/// The text vector of a pretrained encoder's batch: relu(proj(mean over the tokens of its
/// last hidden states)), and whether each row has a segment text (more than the two special
/// tokens of the first sentence, type 0). `frozen` (model.encoder_trainable_layers: 0): the
/// encoder is a fixed feature extractor (BertEncoderImpl::frozen_pooled).
std::pair<torch::Tensor, torch::Tensor> transformer_text(BertEncoderImpl& bert,
                                                         torch::nn::LinearImpl& proj,
                                                         const Batch& batch, bool frozen);

/// The one factory. Throws ConfigError for an unknown type.
std::shared_ptr<TaskModel> make_model(const ModelShape& shape, const ModelConfig& config);

/// Probabilities [B, K] from a task's logits.
torch::Tensor task_probabilities(const TaskSpec& task, const torch::Tensor& logits);

/// Loss of one task on the labelled rows (labels >= 0); `class_weights` [K] or undefined.
/// Returns an undefined tensor when no row is labelled.
torch::Tensor task_loss(const TaskSpec& task, const torch::Tensor& logits,
                        const torch::Tensor& labels, const torch::Tensor& class_weights,
                        const std::string& loss, double focal_gamma);

}  // namespace tenor::train
