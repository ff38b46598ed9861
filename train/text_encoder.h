#pragma once
// Pretrained BERT-family text encoders (Devlin et al. 2019) as native LibTorch modules:
// embeddings, post-LayerNorm self-attention blocks with exact (erf) GELU, mean pooling over
// the tokens (sentence-transformers). The parameters carry Hugging Face's names, so a
// model.safetensors loads directly (load_text_encoder); outputs equal Hugging Face
// `transformers` on the same weights and inputs within 1e-4 in fp32 (tests).

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace tenor::train {

/// The architecture of a BERT encoder, from its config.json.
struct BertConfig {
  int vocab_size = 30522;
  int hidden_size = 384;
  int num_layers = 6;
  int num_heads = 12;
  int intermediate_size = 1536;
  int max_positions = 512;
  int type_vocab_size = 2;
  double layer_norm_eps = 1e-12;
  double dropout = 0.1;  ///< hidden and attention dropout while training

  /// Reads config.json; DataError naming the file, the key and the fix for a model this
  /// class does not reproduce (another model_type, activation or position embedding).
  static BertConfig from_file(const std::filesystem::path& config_json);
  /// As a run's shape.json keeps it (every field above).
  nlohmann::json to_json() const;
  /// Throws DataError naming `source` when `j` is not what to_json wrote.
  static BertConfig from_json(const nlohmann::json& j, const std::string& source);
  bool operator==(const BertConfig&) const = default;
};

/// The encoder names tools/text-encoders/fetch.sh knows (model.text_encoder).
const std::vector<std::string>& known_text_encoders();

/// The directory of model.text_encoder `name_or_dir`: a known name lives where fetch.sh lays
/// it out (${XDG_CACHE_HOME:-$HOME/.cache}/tenor/text-encoders/NAME); anything else is a
/// directory. Checks that config.json, tokenizer.json and model.safetensors are there:
/// ConfigError naming the key, the value and the fix (fetch it; the nearest known name).
std::filesystem::path resolve_text_encoder(const std::string& name_or_dir);

/// Every tensor of a .safetensors file (copied out of the file, on CPU). DataError naming
/// the file and the fix when it is truncated, damaged or holds a dtype tenor does not read.
std::map<std::string, torch::Tensor> read_safetensors(const std::filesystem::path& file);

/// The parts of a BERT encoder, named as Hugging Face names them (the ONNX emitter walks them).
namespace bert {

/// Where a batch's tokens sit when the encoder runs unpadded: hidden states are [T, H] for
/// the T tokens of the mask, and only attention lays them out as [B, L] again. Linear layers,
/// LayerNorm and GELU (nearly all the work) then skip the padding. Empty (`index` undefined)
/// when the batch has no padding: states stay [B, L, H].
struct Tokens {
  torch::Tensor index;  ///< [T] int64: the flat positions (row * L + position) of the tokens
  int64_t rows = 0, length = 0;
  torch::Tensor additive_mask;  ///< [B, 1, 1, L]: 0 on tokens, the lowest float on padding
  bool packed() const { return index.defined(); }
};

/// dense, then LayerNorm over (dense(x) + residual): an attention or block output.
struct DenseNormImpl : torch::nn::Module {
  DenseNormImpl(int in, int out, const BertConfig& c);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual);
  torch::nn::Linear dense{nullptr};
  torch::nn::LayerNorm norm{nullptr};  ///< "LayerNorm"
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(DenseNorm);

struct SelfAttentionImpl : torch::nn::Module {
  explicit SelfAttentionImpl(const BertConfig& c);
  /// x [B, L, H] (or [T, H] when `tokens` is packed) -> the same shape. Query, key and value
  /// are one matrix product (their weights concatenated).
  torch::Tensor forward(const torch::Tensor& x, const Tokens& tokens);
  torch::nn::Linear query{nullptr}, key{nullptr}, value{nullptr};
  torch::nn::Dropout dropout{nullptr};
  int heads, head_dim;
};
TORCH_MODULE(SelfAttention);

struct AttentionImpl : torch::nn::Module {
  explicit AttentionImpl(const BertConfig& c);
  SelfAttention self{nullptr};
  DenseNorm output{nullptr};
};
TORCH_MODULE(Attention);

struct IntermediateImpl : torch::nn::Module {
  explicit IntermediateImpl(const BertConfig& c);
  torch::nn::Linear dense{nullptr};
};
TORCH_MODULE(Intermediate);

/// One post-LayerNorm transformer block: attention, then GELU feed-forward.
struct BlockImpl : torch::nn::Module {
  explicit BlockImpl(const BertConfig& c);
  torch::Tensor forward(const torch::Tensor& x, const Tokens& tokens);
  Attention attention{nullptr};
  Intermediate intermediate{nullptr};
  DenseNorm output{nullptr};
};
TORCH_MODULE(Block);

/// word + token type + absolute position embeddings, then LayerNorm.
struct EmbeddingsImpl : torch::nn::Module {
  explicit EmbeddingsImpl(const BertConfig& c);
  /// ids, type_ids and positions of the same shape -> that shape + [H].
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& type_ids,
                        const torch::Tensor& positions);
  torch::nn::Embedding word{nullptr}, position{nullptr}, token_type{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(Embeddings);

}  // namespace bert

class BertEncoderImpl : public torch::nn::Module {
 public:
  explicit BertEncoderImpl(const BertConfig& config);

  /// ids, type_ids and mask [B, L] int64 (mask 1 on tokens, 0 on padding) -> the last
  /// hidden states [B, L, hidden_size], zeros on padding. A batch with padding runs unpadded
  /// (bert::Tokens): the tokens of every row are the same as in a padded run.
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& type_ids,
                        const torch::Tensor& mask);

  /// The mean of `hidden` [B, L, H] over the tokens of `mask` [B, L]: [B, H]
  /// (sentence-transformers' mean pooling; a row without tokens gives zeros).
  static torch::Tensor mean_pool(const torch::Tensor& hidden, const torch::Tensor& mask);

  const BertConfig& config() const { return config_; }
  /// The encoder blocks, first to last (for layer-wise learning rates, freezing, export).
  std::vector<std::shared_ptr<bert::BlockImpl>> blocks() const;
  bert::EmbeddingsImpl& embeddings() const { return *embeddings_; }

 private:
  BertConfig config_;
  std::shared_ptr<bert::EmbeddingsImpl> embeddings_;
  torch::nn::ModuleList layers_;
};
TORCH_MODULE(BertEncoder);

/// The encoder of a directory laid out by tools/text-encoders/fetch.sh (config.json,
/// model.safetensors), every parameter loaded. DataError naming the file and the fix when a
/// file is missing or damaged, or a weight is absent or of another shape.
BertEncoder load_text_encoder(const std::filesystem::path& dir);

/// Copies the weights of `dir`/model.safetensors into `encoder` (built from the same
/// config.json): the start of fine-tuning. Returns the SHA-256 of the weights file. The same
/// errors as load_text_encoder.
std::string load_text_encoder_weights(BertEncoderImpl& encoder, const std::filesystem::path& dir);

}  // namespace tenor::train
