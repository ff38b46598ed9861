#include "train/text_encoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>

#include <nlohmann/json.hpp>

#include <torch/torch.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/fetch_cache.h"
#include "core/sha256.h"
#include "core/text.h"

namespace tenor::train {
namespace fs = std::filesystem;
using nlohmann::json;
namespace nn = torch::nn;

BertConfig BertConfig::from_file(const fs::path& config_json) {
  const std::string file = config_json.string();
  const json j = json::parse(read_file(config_json), nullptr, false);
  if (!j.is_object())
    throw DataError(file + " is not valid JSON; fetch the encoder again (tools/text-encoders/fetch.sh)");
  auto refuse = [&](const std::string& what) {
    throw DataError(file + ": " + what + "; tenor reproduces BERT and MPNet encoders "
                    "(model_type bert or mpnet, gelu, BERT's absolute positions): use such an "
                    "encoder");
  };
  BertConfig c;
  c.model_type = j.value("model_type", "");
  if (c.model_type != "bert" && c.model_type != "mpnet")
    refuse("model_type '" + c.model_type + "' is neither bert nor mpnet");
  if (j.value("hidden_act", "gelu") != "gelu") refuse("hidden_act is not gelu");
  if (j.value("position_embedding_type", "absolute") != "absolute")
    refuse("position_embedding_type is not absolute");
  const bool mpnet = c.model_type == "mpnet";
  try {
    c.vocab_size = j.at("vocab_size");
    c.hidden_size = j.at("hidden_size");
    c.num_layers = j.at("num_hidden_layers");
    c.num_heads = j.at("num_attention_heads");
    c.intermediate_size = j.at("intermediate_size");
    c.max_positions = j.at("max_position_embeddings");
    c.type_vocab_size = mpnet ? 0 : j.value("type_vocab_size", 2);
    c.layer_norm_eps = j.value("layer_norm_eps", 1e-12);
    c.dropout = j.value("hidden_dropout_prob", 0.1);
    if (mpnet) {
      c.relative_buckets = j.value("relative_attention_num_buckets", 32);
      c.pad_token_id = j.value("pad_token_id", 1);
    }
  } catch (const json::exception& e) {
    throw DataError(file + ": " + e.what() + "; fetch the encoder again");
  }
  if (c.num_heads <= 0 || c.hidden_size % c.num_heads != 0)
    refuse("hidden_size " + std::to_string(c.hidden_size) + " is not a multiple of " +
           std::to_string(c.num_heads) + " heads");
  if (mpnet && (c.relative_buckets < 2 || c.pad_token_id < 0 || c.pad_token_id >= c.vocab_size ||
                c.pad_token_id + 1 >= c.max_positions))
    refuse("relative_attention_num_buckets or pad_token_id is out of range");
  return c;
}

json BertConfig::to_json() const {
  return {{"model_type", model_type},
          {"relative_buckets", relative_buckets},
          {"pad_token_id", pad_token_id},
          {"vocab_size", vocab_size},
          {"hidden_size", hidden_size},
          {"num_layers", num_layers},
          {"num_heads", num_heads},
          {"intermediate_size", intermediate_size},
          {"max_positions", max_positions},
          {"type_vocab_size", type_vocab_size},
          {"layer_norm_eps", layer_norm_eps},
          {"dropout", dropout}};
}

BertConfig BertConfig::from_json(const json& j, const std::string& source) {
  BertConfig c;
  try {
    c.vocab_size = j.at("vocab_size");
    c.hidden_size = j.at("hidden_size");
    c.num_layers = j.at("num_layers");
    c.num_heads = j.at("num_heads");
    c.intermediate_size = j.at("intermediate_size");
    c.max_positions = j.at("max_positions");
    c.type_vocab_size = j.at("type_vocab_size");
    c.layer_norm_eps = j.at("layer_norm_eps");
    c.dropout = j.at("dropout");
    c.model_type = j.value("model_type", "bert");  // runs before MPNet were BERT's
    c.relative_buckets = j.value("relative_buckets", 0);
    c.pad_token_id = j.value("pad_token_id", 0);
  } catch (const json::exception& e) {
    throw DataError(source + ": the text encoder's configuration is damaged (" + e.what() +
                    "); restore the file, or train the run again");
  }
  if (c.num_heads <= 0 || c.hidden_size <= 0 || c.hidden_size % c.num_heads != 0 ||
      c.num_layers < 0 || c.vocab_size <= 0 || c.max_positions <= 0 ||
      (c.model_type != "bert" && c.model_type != "mpnet") || c.relative_buckets < 0 ||
      (c.model_type == "mpnet") != (c.relative_buckets > 0))
    throw DataError(source + ": the text encoder's configuration is inconsistent; restore "
                    "the file, or train the run again");
  return c;
}

const std::vector<std::string>& known_text_encoders() {
  static const std::vector<std::string> names = {"minilm-l6", "mpnet-base"};
  return names;
}

fs::path resolve_text_encoder(const std::string& value) {
  const auto& known = known_text_encoders();
  const bool is_name = std::find(known.begin(), known.end(), value) != known.end();
  fs::path dir = value;
  if (is_name) dir = fetch_cache_dir() / "text-encoders" / value;
  std::error_code ec;
  if (!is_name && !fs::is_directory(dir, ec)) {
    const std::string near = nearest(value, known);
    throw ConfigError("model.text_encoder: '" + value +
                      "' is neither a known encoder (" + join(known, ", ") +
                      ") nor a directory" + (near.empty() ? "" : "; did you mean '" + near + "'?"));
  }
  for (const char* f : {"config.json", "tokenizer.json", "model.safetensors"})
    if (!fs::is_regular_file(dir / f, ec))
      throw ConfigError("model.text_encoder: " + dir.string() + " has no " + f + "; " +
                        (is_name ? "fetch the encoder with `tools/text-encoders/fetch.sh " +
                                       value + "`"
                                 : std::string("give a directory laid out like "
                                               "tools/text-encoders/fetch.sh lays one out "
                                               "(config.json, tokenizer.json, model.safetensors)")));
  return dir;
}

// --- safetensors ---------------------------------------------------------------------------

namespace {

torch::ScalarType scalar_type(const std::string& dtype, const std::string& file) {
  if (dtype == "F32") return torch::kFloat;
  if (dtype == "F16") return torch::kHalf;
  if (dtype == "BF16") return torch::kBFloat16;
  if (dtype == "F64") return torch::kDouble;
  if (dtype == "I64") return torch::kLong;
  if (dtype == "I32") return torch::kInt;
  throw DataError(file + " holds a tensor of dtype " + dtype +
                  ", which tenor does not read (F32, F16, BF16, F64, I64, I32)");
}

}  // namespace

std::map<std::string, torch::Tensor> read_safetensors(const fs::path& path) {
  const std::string file = path.string();
  const std::string bytes = read_file(path);
  auto damaged = [&](const std::string& what) {
    return DataError(file + " is damaged (" + what + "); fetch the encoder again");
  };
  if (bytes.size() < 8) throw damaged("shorter than its 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(bytes[size_t(i)]);  // little-endian
  if (n > bytes.size() - 8) throw damaged("header length past the end of the file");
  const json header = json::parse(bytes.substr(8, n), nullptr, false);
  if (!header.is_object()) throw damaged("the header is not JSON");
  const size_t base = 8 + n;
  std::map<std::string, torch::Tensor> out;
  for (const auto& [name, t] : header.items()) {
    if (name == "__metadata__") continue;
    try {
      const auto type = scalar_type(t.at("dtype"), file);
      const auto shape = t.at("shape").get<std::vector<int64_t>>();
      const auto range = t.at("data_offsets").get<std::vector<size_t>>();
      int64_t count = 1;
      for (int64_t d : shape) count *= d;
      if (range.size() != 2 || range[1] < range[0] || base + range[1] > bytes.size() ||
          range[1] - range[0] != size_t(count) * torch::elementSize(type))
        throw damaged("tensor " + name + " lies outside the file or has the wrong size");
      auto tensor = torch::empty(shape, torch::TensorOptions().dtype(type));
      std::memcpy(tensor.data_ptr(), bytes.data() + base + range[0], range[1] - range[0]);
      out[name] = tensor;
    } catch (const json::exception& e) {
      throw damaged(std::string("tensor ") + name + ": " + e.what());
    }
  }
  return out;
}

// --- modules -------------------------------------------------------------------------------

namespace bert {

torch::Tensor relative_position_bucket(const torch::Tensor& relative, int buckets) {
  // Hugging Face's MPNetEncoder.relative_position_bucket, op for op in float32 (a bucket
  // boundary falls where the logarithm is an integer: another order could round it away).
  constexpr int64_t max_distance = 128;
  const int64_t half = buckets / 2, max_exact = half / 2;
  auto n = -relative;
  auto ret = (n < 0).to(torch::kLong) * half;
  n = n.abs();
  auto large = max_exact + (torch::log(n.to(torch::kFloat) / double(max_exact)) /
                            std::log(double(max_distance) / double(max_exact)) *
                            double(half - max_exact))
                               .to(torch::kLong);
  large = torch::min(large, torch::full_like(large, half - 1));
  return ret + torch::where(n < max_exact, n, large);
}

DenseNormImpl::DenseNormImpl(int in, int out, const BertConfig& c) {
  dense = register_module("dense", nn::Linear(in, out));
  norm = register_module("LayerNorm",
                         nn::LayerNorm(nn::LayerNormOptions({out}).eps(c.layer_norm_eps)));
  dropout = register_module("dropout", nn::Dropout(c.dropout));
}

torch::Tensor DenseNormImpl::forward(const torch::Tensor& x, const torch::Tensor& residual) {
  return norm(dropout(dense(x)) + residual);
}

SelfAttentionImpl::SelfAttentionImpl(const BertConfig& c)
    : heads(c.num_heads), head_dim(c.hidden_size / c.num_heads) {
  query = register_module("query", nn::Linear(c.hidden_size, c.hidden_size));
  key = register_module("key", nn::Linear(c.hidden_size, c.hidden_size));
  value = register_module("value", nn::Linear(c.hidden_size, c.hidden_size));
  dropout = register_module("dropout", nn::Dropout(c.dropout));
}

torch::Tensor SelfAttentionImpl::forward(const torch::Tensor& x, const Tokens& tokens) {
  auto qkv = torch::nn::functional::linear(
      x, torch::cat({query->weight, key->weight, value->weight}),
      torch::cat({query->bias, key->bias, value->bias}));
  const int64_t b = tokens.rows, l = tokens.length, width = heads * head_dim;
  if (tokens.packed())
    qkv = torch::zeros({b * l, 3 * width}, qkv.options()).index_copy(0, tokens.index, qkv);
  auto split = qkv.view({b, l, 3, heads, head_dim}).permute({2, 0, 3, 1, 4});  // [3, B, h, L, d]
  auto q = split[0], k = split[1], v = split[2];
  auto scores = torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(double(head_dim)) +
                tokens.additive_mask;
  auto probs = dropout(torch::softmax(scores, -1));
  auto context = torch::matmul(probs, v).transpose(1, 2).reshape({b * l, width});
  return tokens.packed() ? context.index_select(0, tokens.index) : context.view({b, l, width});
}

AttentionImpl::AttentionImpl(const BertConfig& c) {
  self = register_module("self", SelfAttention(c));
  output = register_module("output", DenseNorm(c.hidden_size, c.hidden_size, c));
}

IntermediateImpl::IntermediateImpl(const BertConfig& c) {
  dense = register_module("dense", nn::Linear(c.hidden_size, c.intermediate_size));
}

BlockImpl::BlockImpl(const BertConfig& c) {
  attention = register_module("attention", Attention(c));
  intermediate = register_module("intermediate", Intermediate(c));
  output = register_module("output", DenseNorm(c.intermediate_size, c.hidden_size, c));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, const Tokens& tokens) {
  auto a = attention->output(attention->self(x, tokens), x);
  auto i = torch::gelu(intermediate->dense(a));  // exact (erf) GELU, as BERT's "gelu"
  return output(i, a);
}

EmbeddingsImpl::EmbeddingsImpl(const BertConfig& c) {
  word = register_module("word_embeddings", nn::Embedding(c.vocab_size, c.hidden_size));
  position = register_module("position_embeddings", nn::Embedding(c.max_positions, c.hidden_size));
  if (c.type_vocab_size > 0)
    token_type =
        register_module("token_type_embeddings", nn::Embedding(c.type_vocab_size, c.hidden_size));
  norm = register_module(
      "LayerNorm", nn::LayerNorm(nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)));
  dropout = register_module("dropout", nn::Dropout(c.dropout));
}

torch::Tensor EmbeddingsImpl::forward(const torch::Tensor& ids, const torch::Tensor& type_ids,
                                      const torch::Tensor& positions) {
  auto x = word(ids) + position(positions);
  if (token_type) x = x + token_type(type_ids);
  return dropout(norm(x));
}

}  // namespace bert

BertEncoderImpl::BertEncoderImpl(const BertConfig& config) : config_(config) {
  embeddings_ = register_module("embeddings", bert::Embeddings(config));
  auto encoder = std::make_shared<nn::Module>();
  layers_ = nn::ModuleList();
  for (int i = 0; i < config.num_layers; ++i) layers_->push_back(bert::Block(config));
  encoder->register_module("layer", layers_);
  if (config.relative_buckets > 0)
    relative_bias_ = encoder->register_module(
        "relative_attention_bias", nn::Embedding(config.relative_buckets, config.num_heads));
  register_module("encoder", encoder);
}

torch::Tensor BertEncoderImpl::position_ids(const torch::Tensor& ids) const {
  const int64_t b = ids.size(0), l = ids.size(1);
  if (config_.model_type != "mpnet") return torch::arange(l, ids.options()).expand({b, l});
  auto real = ids.ne(config_.pad_token_id).to(torch::kLong);
  return torch::cumsum(real, 1) * real + config_.pad_token_id;
}

torch::Tensor BertEncoderImpl::position_bias(int64_t length) const {
  if (!relative_bias_) return {};
  const auto& w = relative_bias_->weight;
  auto at = torch::arange(length, w.options().dtype(torch::kLong));
  auto buckets = bert::relative_position_bucket(at.unsqueeze(0) - at.unsqueeze(1),
                                                config_.relative_buckets);
  return torch::embedding(w, buckets).permute({2, 0, 1}).unsqueeze(0);  // [1, h, L, L]
}

torch::Tensor BertEncoderImpl::forward(const torch::Tensor& ids, const torch::Tensor& type_ids,
                                       const torch::Tensor& mask) {
  return encode(ids, type_ids, mask, keep_frozen_);
}

torch::Tensor BertEncoderImpl::encode(const torch::Tensor& ids, const torch::Tensor& type_ids,
                                      const torch::Tensor& mask, bool keep_bottom) {
  if (ids.size(1) > config_.max_tokens())
    throw std::invalid_argument("BertEncoder: " + std::to_string(ids.size(1)) +
                                " tokens, more than the " + std::to_string(config_.max_tokens()) +
                                " its positions allow");
  const int64_t b = ids.size(0), l = ids.size(1);
  bert::Tokens tokens{torch::Tensor(), b, l, torch::Tensor()};
  const bool padded = mask.numel() > 0 && mask.min().item<int64_t>() == 0;
  if (padded) tokens.index = mask.reshape(-1).nonzero().squeeze(1);  // padding: run unpadded
  const int depth = keep_bottom ? frozen_depth() : 0;
  if (keep_bottom && depth != bottom_depth_) {  // more or fewer blocks train: the kept are stale
    forget_bottom();
    bottom_depth_ = depth;
  }
  torch::Tensor x;
  if (depth > 0) {
    x = frozen_bottom(ids, type_ids, mask, depth);
    if (!padded) x = x.view({b, l, x.size(-1)});
  } else if (padded) {
    auto pick = [&](const torch::Tensor& t) { return t.reshape(-1).index_select(0, tokens.index); };
    x = embeddings_->forward(pick(ids), pick(type_ids), pick(position_ids(ids)));
  } else {
    x = embeddings_->forward(ids, type_ids, position_ids(ids));
  }
  // Padding gets the lowest float added to its scores: softmax gives it weight 0.
  const double lowest = std::numeric_limits<float>::lowest();
  tokens.additive_mask = (1.0 - mask.to(x.dtype())).mul(lowest).view({b, 1, 1, l});
  // MPNet: the relative position bias goes with the mask into every layer's scores.
  if (relative_bias_) tokens.additive_mask = tokens.additive_mask + position_bias(l).to(x.dtype());
  for (size_t i = size_t(depth); i < layers_->size(); ++i)
    x = layers_[i]->as<bert::BlockImpl>()->forward(x, tokens);
  if (!tokens.packed()) return x;
  return torch::zeros({b * l, x.size(-1)}, x.options())
      .index_copy(0, tokens.index, x)
      .view({b, l, x.size(-1)});
}

torch::Tensor BertEncoderImpl::mean_pool(const torch::Tensor& hidden, const torch::Tensor& mask) {
  auto m = mask.to(hidden.dtype()).unsqueeze(-1);
  return (hidden * m).sum(1) / m.sum(1).clamp_min(1e-9);
}

namespace {

/// A row's key in the kept vectors and states: its first `n` ids and type ids.
std::string row_key(const torch::Tensor& host_ids, const torch::Tensor& host_types, int64_t row,
                    int64_t n) {
  const auto* id = host_ids[row].data_ptr<int64_t>();
  const auto* type = host_types[row].data_ptr<int64_t>();
  std::string key(reinterpret_cast<const char*>(id), size_t(n) * sizeof(int64_t));
  key.append(reinterpret_cast<const char*>(type), size_t(n) * sizeof(int64_t));
  return key;
}

/// Each row's token count, [B] int64 on the CPU; std::invalid_argument unless every row's
/// tokens come first (right padding), as the kept vectors and states assume.
torch::Tensor right_padded_lengths(const torch::Tensor& mask) {
  const auto host = mask.to(torch::kCPU).to(torch::kLong);
  const auto lengths = host.sum(1);
  const auto prefix = torch::arange(host.size(1), host.options()).unsqueeze(0) <
                      lengths.unsqueeze(1);
  if (!torch::equal(prefix.to(torch::kLong), host))
    throw std::invalid_argument("BertEncoder: the rows are not right-padded");
  return lengths;
}

/// Each row's tensor of a right-padded batch: found in `kept` by the row's ids and type ids,
/// else compute(row, tokens), counted in `computed` and kept when keep(tensor) says so. A row
/// without tokens gets `empty`, neither computed nor kept.
std::vector<torch::Tensor> kept_or_computed(
    std::unordered_map<std::string, torch::Tensor>& kept,
    const std::function<bool(const torch::Tensor&)>& keep, const torch::Tensor& ids,
    const torch::Tensor& type_ids, const torch::Tensor& mask, const torch::Tensor& empty,
    int64_t& computed, const std::function<torch::Tensor(int64_t, int64_t)>& compute) {
  const auto lengths = right_padded_lengths(mask);
  const auto host_ids = ids.to(torch::kCPU).contiguous();
  const auto host_types = type_ids.to(torch::kCPU).contiguous();
  std::vector<torch::Tensor> rows;
  for (int64_t i = 0; i < ids.size(0); ++i) {
    const int64_t n = lengths[i].item<int64_t>();
    std::string key = row_key(host_ids, host_types, i, n);
    if (auto it = kept.find(key); it != kept.end()) {
      rows.push_back(it->second);
      continue;
    }
    if (n == 0) {
      rows.push_back(empty);
      continue;
    }
    auto v = compute(i, n);
    ++computed;
    if (keep(v)) kept.emplace(std::move(key), v);
    rows.push_back(std::move(v));
  }
  return rows;
}

}  // namespace

int BertEncoderImpl::frozen_depth() const {
  auto trains = [](const nn::Module& m) {
    const auto params = m.parameters();
    return std::any_of(params.begin(), params.end(),
                       [](const torch::Tensor& p) { return p.requires_grad(); });
  };
  if (trains(*embeddings_) || (relative_bias_ && relative_bias_->weight.requires_grad())) return 0;
  int depth = 0;
  for (const auto& layer : *layers_) {
    if (trains(*layer)) break;
    ++depth;
  }
  return depth;
}

torch::Tensor BertEncoderImpl::frozen_bottom(const torch::Tensor& ids,
                                             const torch::Tensor& type_ids,
                                             const torch::Tensor& mask, int depth) {
  torch::NoGradGuard no_grad;
  const bool training = is_training();
  eval();  // no dropout: a row's states are the same every epoch
  const auto rows = kept_or_computed(
      bottom_, [this](const torch::Tensor& v) { return room_for(v); }, ids, type_ids, mask,
      torch::zeros({0, config_.hidden_size}, ids.options().dtype(torch::kFloat)),
      frozen_computed_, [&](int64_t i, int64_t n) {
        const auto row_ids = ids.slice(0, i, i + 1).slice(1, 0, n);
        auto x = embeddings_->forward(row_ids, type_ids.slice(0, i, i + 1).slice(1, 0, n),
                                      position_ids(row_ids));
        bert::Tokens alone{torch::Tensor(), 1, n, torch::zeros({1, 1, 1, n}, x.options())};
        if (relative_bias_)
          alone.additive_mask = alone.additive_mask + position_bias(n).to(x.dtype());
        for (int k = 0; k < depth; ++k)
          x = layers_[size_t(k)]->as<bert::BlockImpl>()->forward(x, alone);
        return x.view({n, x.size(-1)});
      });
  train(training);
  return torch::cat(rows);
}

torch::Tensor BertEncoderImpl::frozen_pooled(const torch::Tensor& ids,
                                             const torch::Tensor& type_ids,
                                             const torch::Tensor& mask) {
  torch::NoGradGuard no_grad;
  const bool training = is_training();
  eval();
  const auto rows = kept_or_computed(
      frozen_, [this](const torch::Tensor& v) { return keep_frozen_ && room_for(v); }, ids,
      type_ids, mask,
      torch::zeros({config_.hidden_size}, ids.options().dtype(torch::kFloat)),  // mean of none
      frozen_computed_, [&](int64_t i, int64_t n) {
        const auto row_mask = mask.slice(0, i, i + 1).slice(1, 0, n);
        return mean_pool(encode(ids.slice(0, i, i + 1).slice(1, 0, n),
                                type_ids.slice(0, i, i + 1).slice(1, 0, n), row_mask, false),
                         row_mask)
            .squeeze(0)
            .to(torch::kFloat);
      });
  train(training);
  return torch::stack(rows);
}

bool BertEncoderImpl::room_for(const torch::Tensor& v) {
  const int64_t bytes = v.numel() * int64_t(v.element_size());
  if (bytes > max_kept_bytes_ - kept_bytes_) {
    ++not_kept_;
    return false;
  }
  kept_bytes_ += bytes;
  return true;
}

void BertEncoderImpl::forget_bottom() {
  for (const auto& [key, v] : bottom_) kept_bytes_ -= v.numel() * int64_t(v.element_size());
  bottom_.clear();
}

void BertEncoderImpl::keep_frozen_vectors(bool keep, int64_t max_bytes) {
  keep_frozen_ = keep;
  max_kept_bytes_ = max_bytes;
  if (keep) return;
  frozen_.clear();
  bottom_.clear();
  kept_bytes_ = 0;
}

std::vector<std::shared_ptr<bert::BlockImpl>> BertEncoderImpl::blocks() const {
  std::vector<std::shared_ptr<bert::BlockImpl>> out;
  for (const auto& layer : *layers_) out.push_back(std::dynamic_pointer_cast<bert::BlockImpl>(layer));
  return out;
}

std::map<int, std::vector<torch::Tensor>> BertEncoderImpl::train_top(int trainable) {
  const auto blocks = this->blocks();
  const int n = int(blocks.size());
  std::unordered_map<const void*, int> block_depth;
  for (int i = 0; i < n; ++i)
    for (const auto& p : blocks[size_t(i)]->parameters())
      block_depth[p.unsafeGetTensorImpl()] = n - 1 - i;
  std::map<int, std::vector<torch::Tensor>> by_depth;
  for (auto& p : parameters()) {
    const auto it = block_depth.find(p.unsafeGetTensorImpl());
    const int depth = it == block_depth.end() ? n : it->second;
    const bool trains = trainable < 0 || depth < trainable;
    p.requires_grad_(trains);
    if (trains) by_depth[depth].push_back(p);
  }
  return by_depth;
}

// --- loading -------------------------------------------------------------------------------

std::string checkpoint_key(std::string key, const BertConfig& config) {
  if (config.model_type != "mpnet") return key;
  static const std::pair<const char*, const char*> renames[] = {
      {".attention.self.query.", ".attention.attn.q."},
      {".attention.self.key.", ".attention.attn.k."},
      {".attention.self.value.", ".attention.attn.v."},
      {".attention.output.dense.", ".attention.attn.o."},
      {".attention.output.LayerNorm.", ".attention.LayerNorm."}};
  for (const auto& [ours, theirs] : renames)
    if (const size_t at = key.find(ours); at != std::string::npos)
      return key.replace(at, std::strlen(ours), theirs);
  return key;
}

BertEncoder load_text_encoder(const fs::path& dir) {
  for (const char* f : {"config.json", "model.safetensors"})
    if (!fs::exists(dir / f))
      throw DataError(dir.string() + " has no " + f + "; lay the encoder out with " +
                      "tools/text-encoders/fetch.sh");
  BertEncoder encoder(BertConfig::from_file(dir / "config.json"));
  load_text_encoder_weights(*encoder, dir);
  encoder->eval();
  return encoder;
}

std::string load_text_encoder_weights(BertEncoderImpl& encoder, const fs::path& dir) {
  const fs::path weights = dir / "model.safetensors";
  if (!fs::exists(weights))
    throw DataError(dir.string() + " has no model.safetensors; lay the encoder out with " +
                    "tools/text-encoders/fetch.sh");
  const std::string sha = sha256_file(weights);
  auto tensors = read_safetensors(weights);
  torch::NoGradGuard no_grad;
  for (auto& p : encoder.named_parameters()) {
    const std::string key = checkpoint_key(p.key(), encoder.config());
    auto it = tensors.find(key);
    if (it == tensors.end())  // a BertFor* or MPNetFor* checkpoint
      it = tensors.find(encoder.config().model_type + "." + key);
    if (it == tensors.end())
      throw DataError(weights.string() + " has no weight " + key +
                      "; it does not match config.json: fetch the encoder again");
    if (it->second.sizes() != p.value().sizes())
      throw DataError(weights.string() + ": " + key + " has shape " +
                      c10::str(it->second.sizes()) + ", config.json gives " +
                      c10::str(p.value().sizes()) + "; the files do not belong together: fetch "
                      "the encoder again");
    p.value().copy_(it->second.to(p.value().dtype()));
  }
  return sha;
}

}  // namespace tenor::train
