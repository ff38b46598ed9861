#pragma once
// ONNX emitters for every layer the trainer builds (train/model.h), each the exact forward
// math of its LibTorch module in ONNX opset 17 nodes. Weights become initializers named by
// their module paths, i.e. the checkpoint keys ("prosody.gru.weight_ih_l0"); layouts that
// ONNX wants differently (GRU gate order, transposed Linear weights) are derived in the
// graph from those initializers (ONNX Runtime folds them at session start), so every
// initializer is a checkpoint tensor as it is.

#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/modules/rnn.h>

#include <string>
#include <vector>

#include "export/graph_builder.h"
#include "train/config.h"
#include "train/input_transform.h"
#include "train/model.h"

namespace tenor::onnx_export {

/// Names of the graph inputs (what an integrator feeds: raw store values, see docs/export.md).
struct InputNames {
  std::string frames = "frames";            ///< [B, T, F_lld] float, raw LLDs
  std::string frame_len = "frame_len";      ///< [B] int64, valid frames per row (0: no audio)
  std::string functionals = "functionals";  ///< [B, F] float, raw functionals
  std::string func_mask = "func_mask";      ///< [B, F] float 0/1, 1 where defined
  std::string tokens = "tokens";            ///< [B, L] int64 SentencePiece ids
  std::string token_len = "token_len";      ///< [B] int64, valid tokens (0: no text)
  /// Models with model.context_tokens only: the previous segment's tokens in the call.
  std::string ctx_tokens = "ctx_tokens";  ///< [B, C] int64 SentencePiece ids
  std::string ctx_len = "ctx_len";        ///< [B] int64, valid tokens (0: no previous segment)
  /// Models with model.text_encoder only: train::transcript_ids of each segment (the
  /// tokenizer.json of the bundle gives them), used as given.
  std::string text_ids = "text_ids";            ///< [B, W] int64 WordPiece ids
  std::string text_type_ids = "text_type_ids";  ///< [B, W] int64, 0 segment, 1 context
  std::string text_mask = "text_mask";          ///< [B, W] int64, 1 token, 0 padding
  /// Runs with speaker_normalization "call" only: each row's speaker statistics in its call
  /// (train::speaker_statistics; docs/export.md gives the recipe).
  std::string speaker_lld_mean = "speaker_lld_mean";    ///< [B, F_lld] float
  std::string speaker_func_mean = "speaker_func_mean";  ///< [B, F] float
  std::string speaker_func_count = "speaker_func_count";  ///< [B, F] float, segments defining it
};

/// Values after the in-graph normalisation: the LibTorch `Batch` (train/data.h make_batch).
struct Normalized {
  std::string frames;          ///< [B, T', F] normalised, 0 at t >= frame_len; T' <= max_frames
  std::string frame_len;       ///< [B] int64, min(frame_len, max_frames)
  std::string functionals;     ///< [B, F] normalised and clipped to [-10, 10], 0 where masked
  std::string func_mask;       ///< [B, F] float, store mask and not dropped
  std::string tokens;          ///< [B, L'] int64, 0 at t >= token_len; L' <= max_tokens
  std::string token_len;       ///< [B] int64, min(token_len, max_tokens)
  std::string ctx_tokens;      ///< [B, C'] int64, C' <= context_tokens ("" without context)
  std::string ctx_len;         ///< [B] int64, min(ctx_len, context_tokens)
  std::string text_ids, text_type_ids, text_mask;  ///< as given ("" without model.text_encoder)
};

/// Declares the six graph inputs (dynamic batch, frames and tokens axes) and those the
/// transform reads besides: the two context inputs (reads_context_tokens), the three text_*
/// inputs (model.text_encoder) and the three speaker_* inputs (per_speaker).
void declare_inputs(GraphBuilder& g, const InputNames& in, int lld_features,
                    int functional_features, const train::InputTransform& transform);

/// make_batch's transform in the graph: the run's input transform (statistics, cuts,
/// loudness handling, speaker centring; ctx_* when transform.context_tokens > 0).
Normalized emit_normalization(GraphBuilder& g, const InputNames& in,
                              const train::InputTransform& transform);

/// "prefix.name" (just `name` when prefix is empty): a module path, the initializer names.
std::string join_path(const std::string& prefix, const std::string& name);

/// x [..., in] -> [..., out]: x W^T + b (Gemm for 2-D x, MatMul + Add otherwise).
std::string emit_linear(GraphBuilder& g, const std::string& path, torch::nn::LinearImpl& m,
                        const std::string& x, bool two_d);
/// x [B, C, T] -> [B, C', T] (Conv, stride 1, zero padding as configured).
std::string emit_conv1d(GraphBuilder& g, const std::string& path, torch::nn::Conv1dImpl& m,
                        const std::string& x);
/// Batch-first GRU over the valid steps: x [B, T, In], len [B] int64 -> [B, T, D * H] with
/// ONNX GRU nodes (one per layer; gates reordered r,z,n -> z,r,h; linear_before_reset = 1;
/// sequence_lens = max(len, 1) as LibTorch's packing does).
std::string emit_gru(GraphBuilder& g, const std::string& path, torch::nn::GRUImpl& m,
                     const std::string& x, const std::string& len);
/// h [B, T, D], len [B] -> [B, D] (masked softmax attention: Where / Softmax / Mul / ReduceSum).
std::string emit_attention_pool(GraphBuilder& g, const std::string& path,
                                train::MaskedAttentionPoolImpl& m, const std::string& h,
                                const std::string& len);
/// x [..., D] -> LayerNormalization over the last axis.
std::string emit_layer_norm(GraphBuilder& g, const std::string& path, torch::nn::LayerNormImpl& m,
                            const std::string& x);
/// ids [...] int64 -> [..., E] (Gather).
std::string emit_embedding(GraphBuilder& g, const std::string& path, torch::nn::EmbeddingImpl& m,
                           const std::string& ids);
std::string emit_prosody_encoder(GraphBuilder& g, const std::string& path,
                                 train::ProsodyEncoderImpl& m, const std::string& frames,
                                 const std::string& len);
std::string emit_text_encoder(GraphBuilder& g, const std::string& path, train::TextEncoderImpl& m,
                              const std::string& tokens, const std::string& len);
/// task_probabilities: logits -> [B, K] (binary: Sigmoid + Concat; categorical: Softmax;
/// ordinal CORAL: Sigmoid + Concat + Sub + Relu + normalise).
std::string emit_probabilities(GraphBuilder& g, const train::TaskSpec& task,
                               const std::string& logits);

/// How the graph is written, beyond the model's math.
struct GraphOptions {
  /// The pretrained text encoder's Linear layers as dynamically quantised int8 MatMuls
  /// (emit_bert_encoder; `tenor export --quantize int8`); everything else stays fp32.
  bool int8_encoder = false;
};

/// Logits per task of a FusionModel, EnsembleModel (the mean of its members') or LinearModel
/// (eval mode: dropout is the identity).
/// Throws ExportError naming any module of another type, UsageError for int8_encoder on a
/// model without a pretrained text encoder.
std::vector<std::string> emit_task_logits(GraphBuilder& g, train::TaskModel& model,
                                          const train::ModelConfig& config, const Normalized& in,
                                          const GraphOptions& options = {});

/// Whether the model reads a pretrained text encoder (model.text_encoder).
bool has_text_encoder(train::TaskModel& model);

/// Throws ExportError naming the first module (by path and type) that has no ONNX mapping.
void check_supported(train::TaskModel& model);

/// Throws ExportError naming the first model parameter that did not become an initializer.
void check_all_parameters_exported(train::TaskModel& model, const GraphBuilder& g);

/// The whole model: raw inputs (those `transform` reads) -> normalisation -> logits ->
/// "prob_<task>" [B, K] outputs. `metadata` become metadata_props. Runs check_model.
onnx::ModelProto build_onnx_model(train::TaskModel& model, const train::ModelShape& shape,
                                  const train::ModelConfig& config,
                                  const train::InputTransform& transform,
                                  const std::vector<std::pair<std::string, std::string>>& metadata,
                                  const GraphOptions& options = {});

/// "prob_<task>".
std::string prob_output_name(const std::string& task);

}  // namespace tenor::onnx_export
