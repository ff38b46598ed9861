#pragma once
// Pretrained BERT-family text encoders (Devlin et al. 2019) as native LibTorch modules:
// embeddings, post-LayerNorm self-attention blocks with exact (erf) GELU, mean pooling over
// the tokens (sentence-transformers). MPNet (Song et al. 2020) is the same network without
// token types, with positions that skip pad tokens and a relative position bias shared by
// every layer (T5's buckets). The parameters carry Hugging Face's BERT names (MPNet's are
// mapped on loading), so a model.safetensors loads directly (load_text_encoder); outputs equal
// Hugging Face `transformers` on the same weights and inputs within 1e-4 in fp32 (tests).

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <filesystem>
#include <limits>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace tenor::train {

/// The architecture of a BERT or MPNet encoder, from its config.json.
struct BertConfig {
  std::string model_type = "bert";  ///< "bert" or "mpnet"
  int vocab_size = 30522;
  int hidden_size = 384;
  int num_layers = 6;
  int num_heads = 12;
  int intermediate_size = 1536;
  int max_positions = 512;
  int type_vocab_size = 2;  ///< 0: no token type embeddings (MPNet)
  /// MPNet: buckets of the relative position bias added to every layer's attention scores
  /// (0: none, BERT).
  int relative_buckets = 0;
  /// MPNet: positions are pad_token_id + 1, + 2, ... over the ids that are not pad_token_id.
  int pad_token_id = 0;
  double layer_norm_eps = 1e-12;
  double dropout = 0.1;  ///< hidden and attention dropout while training

  /// Reads config.json; DataError naming the file, the key and the fix for a model this
  /// class does not reproduce (another model_type, activation or position embedding).
  /// MPNet's relative bias covers distances up to 128 (Hugging Face's max_distance).
  static BertConfig from_file(const std::filesystem::path& config_json);
  /// As a run's shape.json keeps it (every field above).
  nlohmann::json to_json() const;
  /// Throws DataError naming `source` when `j` is not what to_json wrote. A run written before
  /// MPNet (no model_type) is a BERT encoder.
  static BertConfig from_json(const nlohmann::json& j, const std::string& source);
  /// The most tokens a sequence may have: max_positions, less MPNet's first position.
  int max_tokens() const {
    return model_type == "mpnet" ? max_positions - pad_token_id - 1 : max_positions;
  }
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

/// T5's bidirectional bucket of each relative position (key position minus query position),
/// as Hugging Face's MPNet computes it (16 buckets a side, exact up to 8, logarithmic up to
/// 128): int64, the shape of `relative`.
torch::Tensor relative_position_bucket(const torch::Tensor& relative, int buckets);

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
  torch::nn::Embedding word{nullptr}, position{nullptr};
  torch::nn::Embedding token_type{nullptr};  ///< null when the encoder has no token types
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
  /// (bert::Tokens): the tokens of every row are the same as in a padded run. An encoder
  /// without token types (MPNet) does not read type_ids.
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& type_ids,
                        const torch::Tensor& mask);

  /// The mean of `hidden` [B, L, H] over the tokens of `mask` [B, L]: [B, H]
  /// (sentence-transformers' mean pooling; a row without tokens gives zeros).
  static torch::Tensor mean_pool(const torch::Tensor& hidden, const torch::Tensor& mask);

  /// A frozen encoder (model.encoder_trainable_layers: 0) as a fixed feature extractor: the
  /// mean-pooled vectors [B, H] float of right-padded rows, in eval mode (no dropout) and
  /// without gradients, each row alone, so that a row's vector never depends on the batch it
  /// is in. With keep_frozen_vectors(true) (training, where every epoch reads the same rows)
  /// each vector is kept, keyed by the row's ids and type ids, and a row read again costs a
  /// lookup; prediction keeps nothing.
  torch::Tensor frozen_pooled(const torch::Tensor& ids, const torch::Tensor& type_ids,
                              const torch::Tensor& mask);
  /// keep_frozen_vectors(true) also keeps the frozen bottom of a partly trained encoder: while
  /// the embeddings and the lowest blocks do not train (model.encoder_trainable_layers > 0,
  /// optim.encoder_frozen_epochs), forward computes their hidden states once per row, in eval
  /// mode and each row alone, and reads them back afterwards, so an epoch after the first runs
  /// only the blocks that train. `false` forgets everything kept. At most `max_bytes` are kept
  /// (vectors and states together); once that is full, further rows are computed each time
  /// they are read, as in prediction: the same numbers, at the cost of the layers they pass.
  void keep_frozen_vectors(bool keep,
                           int64_t max_bytes = std::numeric_limits<int64_t>::max());
  /// How many vectors frozen_pooled, and how many rows' bottom states forward, has computed
  /// (not looked up) so far.
  int64_t frozen_computed() const { return frozen_computed_; }
  /// The bytes of the vectors and states kept now, and how many computed ones were not kept
  /// because `max_bytes` was full (reads, counted again every epoch, not distinct rows).
  int64_t kept_bytes() const { return kept_bytes_; }
  int64_t not_kept() const { return not_kept_; }
  /// How many blocks from the first do not train, when the embeddings (and MPNet's relative
  /// position bias) do not train either; 0 otherwise.
  int frozen_depth() const;

  /// Makes the top `trainable` blocks train and freezes the rest (requires_grad false);
  /// -1: every block, the embeddings and MPNet's relative position bias; 0: nothing
  /// (model.encoder_trainable_layers). Returns the parameters that train by their depth below
  /// the top (0: the top block, n - 1: the first, n: the embeddings and the position bias,
  /// which every block reads), for layer-wise learning rates (optim.layer_decay); within a
  /// depth in parameters() order.
  std::map<int, std::vector<torch::Tensor>> train_top(int trainable);

  const BertConfig& config() const { return config_; }
  /// The encoder blocks, first to last (for layer-wise learning rates, freezing, export).
  std::vector<std::shared_ptr<bert::BlockImpl>> blocks() const;
  bert::EmbeddingsImpl& embeddings() const { return *embeddings_; }
  /// [buckets, heads] of MPNet's relative position bias (null for BERT).
  torch::nn::Embedding relative_attention_bias() const { return relative_bias_; }
  /// The position id of each token of `ids` [B, L]: 0, 1, ... (BERT) or MPNet's count over
  /// the non-pad ids from pad_token_id + 1.
  torch::Tensor position_ids(const torch::Tensor& ids) const;
  /// MPNet's relative position bias for L tokens, [1, heads, L, L] (undefined for BERT).
  torch::Tensor position_bias(int64_t length) const;

 private:
  BertConfig config_;
  std::shared_ptr<bert::EmbeddingsImpl> embeddings_;
  torch::nn::ModuleList layers_;
  torch::nn::Embedding relative_bias_{nullptr};
  /// forward; the frozen bottom read from bottom_ when `keep_bottom` (frozen_pooled keeps
  /// its own vectors instead).
  torch::Tensor encode(const torch::Tensor& ids, const torch::Tensor& type_ids,
                       const torch::Tensor& mask, bool keep_bottom);
  /// The hidden states of right-padded rows after the first `depth` blocks, from bottom_
  /// (computed there first when missing): [T, H], the mask's tokens in row-major order.
  torch::Tensor frozen_bottom(const torch::Tensor& ids, const torch::Tensor& type_ids,
                              const torch::Tensor& mask, int depth);

  /// Whether `v` fits in what max_kept_bytes_ leaves: if so its bytes are counted as kept,
  /// else it is counted in not_kept_.
  bool room_for(const torch::Tensor& v);
  /// Forgets bottom_'s states and gives their bytes back to the budget.
  void forget_bottom();

  bool keep_frozen_ = false;
  std::unordered_map<std::string, torch::Tensor> frozen_;  ///< row's ids and types -> [H]
  std::unordered_map<std::string, torch::Tensor> bottom_;  ///< row's ids and types -> [n, H]
  int bottom_depth_ = 0;  ///< the blocks bottom_'s states have been through
  int64_t frozen_computed_ = 0;
  int64_t max_kept_bytes_ = std::numeric_limits<int64_t>::max();
  int64_t kept_bytes_ = 0;
  int64_t not_kept_ = 0;
};
TORCH_MODULE(BertEncoder);

/// The name parameter `key` of an encoder of `config` has in a Hugging Face checkpoint: BERT's
/// are ours; MPNet names its attention attn.q/k/v/o and its LayerNorm attention.LayerNorm.
std::string checkpoint_key(std::string key, const BertConfig& config);

/// The encoder of a directory laid out by tools/text-encoders/fetch.sh (config.json,
/// model.safetensors), every parameter loaded. DataError naming the file and the fix when a
/// file is missing or damaged, or a weight is absent or of another shape.
BertEncoder load_text_encoder(const std::filesystem::path& dir);

/// Copies the weights of `dir`/model.safetensors into `encoder` (built from the same
/// config.json): the start of fine-tuning. Returns the SHA-256 of the weights file. The same
/// errors as load_text_encoder.
std::string load_text_encoder_weights(BertEncoderImpl& encoder, const std::filesystem::path& dir);

}  // namespace tenor::train
