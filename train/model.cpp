#include "train/model.h"

#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/utils/rnn.h>
#include <torch/torch.h>

#include <cmath>

#include "core/error.h"
#include "data/features/tokenizer.h"

namespace tenor::train {

std::vector<std::string> modalities(const TaskSpec& t, bool speech_encoder) {
  std::vector<std::string> m;
  if (t.prosody) m.push_back("prosody");
  if (t.functionals) m.push_back("functionals");
  if (t.functionals && speech_encoder) m.push_back("speech_encoder");
  if (t.text) m.push_back("text");
  return m;
}
namespace F = torch::nn::functional;
namespace {

/// Time mask [B, T] (bool): t < len.
torch::Tensor time_mask(const torch::Tensor& len, int64_t steps) {
  return torch::arange(steps, len.options()).unsqueeze(0) < len.unsqueeze(1);
}

}  // namespace

torch::Tensor run_bigru(torch::nn::GRU& gru, const torch::Tensor& x, const torch::Tensor& len) {
  TORCH_CHECK(gru->options.bidirectional() && gru->options.batch_first(),
              "run_bigru: a batch-first bidirectional GRU");
  const int64_t b = x.size(0), steps = x.size(1);
  // Rows of length 0 run over one (zero) step and are masked out by the pooling.
  auto l = len.clamp_min(1).to(x.device()).unsqueeze(1);  // [B, 1]
  auto t = torch::arange(steps, l.options()).unsqueeze(0);
  auto valid = t < l;                                            // [B, T]
  auto order = torch::where(valid, l - 1 - t, t).unsqueeze(-1);  // reverses valid steps
  auto reversed = [&](const torch::Tensor& y) {
    return y.gather(1, order.expand({b, steps, y.size(2)}));
  };
  auto params = gru->named_parameters(/*recurse=*/false);
  auto h0 = torch::zeros({1, b, gru->options.hidden_size()}, x.options());
  auto direction = [&](const torch::Tensor& in, const std::string& suffix) {
    std::vector<torch::Tensor> w = {params["weight_ih" + suffix], params["weight_hh" + suffix],
                                    params["bias_ih" + suffix], params["bias_hh" + suffix]};
    return std::get<0>(torch::gru(in, h0, w, /*has_biases=*/true, /*num_layers=*/1,
                                  /*dropout=*/0.0, gru->is_training(), /*bidirectional=*/false,
                                  /*batch_first=*/true));
  };
  torch::Tensor h = x;
  for (int64_t layer = 0; layer < gru->options.num_layers(); ++layer) {
    const std::string s = "_l" + std::to_string(layer);
    h = torch::cat({direction(h, s), reversed(direction(reversed(h), s + "_reverse"))}, 2);
  }
  return h * valid.unsqueeze(-1).to(h.dtype());
}

namespace {

/// Output width of the encoders' bidirectional GRU: two directions of ceil(hidden / 2).
int bigru_width(const ModelConfig& c) { return 2 * (c.hidden / 2 + c.hidden % 2); }

torch::nn::GRU make_bigru(int input, const ModelConfig& c) {
  return torch::nn::GRU(torch::nn::GRUOptions(input, bigru_width(c) / 2)
                            .num_layers(c.gru_layers)
                            .batch_first(true)
                            .bidirectional(true));
}

torch::nn::Linear make_head(const TaskSpec& task, int hidden) {
  int out = task.type == data::TaskType::kBinary        ? 1
            : task.type == data::TaskType::kCategorical ? task.num_classes
                                                        : 1;
  return torch::nn::Linear(
      torch::nn::LinearOptions(hidden, out).bias(task.type != data::TaskType::kOrdinal));
}

/// Head logits: binary [B, 1], categorical [B, K], ordinal (CORAL, Cao et al. 2020:
/// one shared weight vector, K-1 ordered thresholds) [B, K-1].
torch::Tensor head_logits(const TaskSpec& task, torch::nn::Linear& head, const torch::Tensor& bias,
                          const torch::Tensor& h) {
  auto z = head->forward(h);
  if (task.type == data::TaskType::kOrdinal) return z + bias.unsqueeze(0);
  return z;
}

torch::Tensor ordinal_thresholds(int classes) { return torch::linspace(1.0, -1.0, classes - 1); }

/// Hashed unigrams and bigrams of the valid tokens (features::kBigramHashMultiplier),
/// their embeddings averaged: [B, dim], zeros where there is no token.
torch::Tensor ngram_bag(torch::nn::Embedding& table, const torch::Tensor& tokens,
                        const torch::Tensor& token_len, int64_t buckets) {
  const int64_t len = tokens.size(1);
  auto uni = tokens.remainder(buckets);
  auto valid_uni = time_mask(token_len, len);
  torch::Tensor ids = uni, valid = valid_uni;
  if (len > 1) {
    auto bi = (tokens.slice(1, 0, len - 1) * features::kBigramHashMultiplier +
               tokens.slice(1, 1, len))
                  .remainder(buckets);
    auto valid_bi = time_mask((token_len - 1).clamp_min(0), len - 1);
    ids = torch::cat({uni, bi}, 1), valid = torch::cat({valid_uni, valid_bi}, 1);
  }
  auto v = valid.to(table->weight.dtype()).unsqueeze(-1);
  return (table->forward(ids) * v).sum(1) / v.sum(1).clamp_min(1);
}

}  // namespace

Batch Batch::to(const torch::Device& device) const {
  Batch b = *this;
  for (torch::Tensor* t : {&b.frames, &b.frame_len, &b.functionals, &b.func_mask, &b.tokens,
                           &b.token_len, &b.ctx_tokens, &b.ctx_len, &b.labels, &b.text_ids,
                           &b.text_type_ids, &b.text_mask})
    if (t->defined()) *t = t->to(device);
  return b;
}

MaskedAttentionPoolImpl::MaskedAttentionPoolImpl(int dim) {
  // No bias: softmax over time is invariant to a constant added to every score, so a bias
  // would get a zero true gradient and only drift with rounding noise.
  score = register_module("score", torch::nn::Linear(torch::nn::LinearOptions(dim, 1).bias(false)));
}

torch::Tensor MaskedAttentionPoolImpl::forward(const torch::Tensor& h, const torch::Tensor& len) {
  TORCH_CHECK(h.dim() == 3 && len.dim() == 1 && h.size(0) == len.size(0),
              "pool: h [B, T, D], len [B]");
  auto mask = time_mask(len, h.size(1));
  auto s = score->forward(h).squeeze(-1).masked_fill(~mask, -1e9);
  auto w = torch::softmax(s, 1) * mask.to(h.dtype());
  return (w.unsqueeze(-1) * h).sum(1);
}

ProsodyEncoderImpl::ProsodyEncoderImpl(int features, const ModelConfig& c) {
  conv = register_module(
      "conv", torch::nn::Conv1d(torch::nn::Conv1dOptions(features, c.conv_channels, 5).padding(2)));
  gru = register_module("gru", make_bigru(c.conv_channels, c));
  pool = register_module("pool", MaskedAttentionPool(bigru_width(c)));
  proj = register_module("proj", torch::nn::Linear(bigru_width(c), c.hidden));
}

torch::Tensor ProsodyEncoderImpl::forward(const torch::Tensor& frames, const torch::Tensor& len) {
  TORCH_CHECK(frames.dim() == 3, "prosody: frames [B, T, F]");
  auto x = torch::relu(conv->forward(frames.transpose(1, 2))).transpose(1, 2);
  return torch::relu(proj->forward(pool->forward(run_bigru(gru, x, len), len)));
}

TextEncoderImpl::TextEncoderImpl(int vocab, const ModelConfig& c) {
  embed = register_module(
      "embed",
      torch::nn::Embedding(torch::nn::EmbeddingOptions(vocab, c.embedding_dim).padding_idx(0)));
  gru = register_module("gru", make_bigru(c.embedding_dim, c));
  pool = register_module("pool", MaskedAttentionPool(bigru_width(c)));
  proj = register_module("proj", torch::nn::Linear(bigru_width(c), c.hidden));
}

torch::Tensor TextEncoderImpl::forward(const torch::Tensor& tokens, const torch::Tensor& len) {
  TORCH_CHECK(tokens.dim() == 2, "text: tokens [B, L]");
  auto x = embed->forward(tokens);
  return torch::relu(proj->forward(pool->forward(run_bigru(gru, x, len), len)));
}

FusionModel::FusionModel(const ModelShape& shape, const ModelConfig& c) : config_(c) {
  tasks_ = shape.tasks;
  const bool transformer = c.use_text && shape.transformer.has_value();
  has_text_ = c.use_text && shape.vocab_size > 0;
  if (c.use_prosody) prosody = register_module("prosody", ProsodyEncoder(shape.lld_features, c));
  if (c.use_functionals)
    functionals =
        register_module("functionals", torch::nn::Linear(2 * shape.functional_features, c.hidden));
  if (transformer) {
    bert = register_module("bert", BertEncoder(*shape.transformer));
    bert_proj =
        register_module("bert_proj", torch::nn::Linear(shape.transformer->hidden_size, c.hidden));
  } else if (has_text_) {
    text = register_module("text", TextEncoder(shape.vocab_size, c));
  }
  gate = register_module("gate", torch::nn::Linear(3 * c.hidden, 3));
  if (has_text_ && !transformer && c.context_tokens > 0)
    context = register_module("context", torch::nn::Linear(2 * c.hidden, c.hidden));
  if (has_text_ && c.ngrams)
    ngrams = register_module("ngrams", torch::nn::Embedding(c.hash_buckets, c.hidden));
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden})));
  dropout = register_module("dropout", torch::nn::Dropout(c.dropout));
  const int head_in = c.hidden * (1 + (ngrams ? 1 : 0));
  for (const auto& t : tasks_) {
    heads.push_back(register_module("head_" + t.name, make_head(t, head_in)));
    ordinal_bias.push_back(
        t.type == data::TaskType::kOrdinal
            ? register_parameter("bias_" + t.name, ordinal_thresholds(t.num_classes))
            : torch::Tensor());
  }
}

std::vector<torch::Tensor> FusionModel::logits(const Batch& b) {
  const int64_t n = b.labels.size(0);
  const auto opts = b.functionals.options();
  auto zeros = torch::zeros({n, config_.hidden}, opts);
  auto no = torch::zeros({n}, opts);
  torch::Tensor emb_p = zeros, emb_f = zeros, emb_t = zeros, av_p = no, av_f = no, av_t = no;
  if (prosody) {
    emb_p = prosody->forward(b.frames, b.frame_len);
    av_p = (b.frame_len > 0).to(opts.dtype());
  }
  if (functionals) {
    emb_f = torch::relu(functionals->forward(torch::cat({b.functionals, b.func_mask}, 1)));
    av_f = (b.func_mask.sum(1) > 0).to(opts.dtype());
  }
  if (bert) {
    std::tie(emb_t, av_t) =
        transformer_text(*bert, *bert_proj, b, config_.encoder_trainable_layers == 0);
    av_t = av_t.to(opts.dtype());
  } else if (text) {
    emb_t = text->forward(b.tokens, b.token_len);
    av_t = (b.token_len > 0).to(opts.dtype());
    if (context && b.ctx_tokens.defined()) {
      // The previous segment through the same encoder; its product with this segment's
      // vector lets a head see whether the reply matches what it answers.
      auto c = text->forward(b.ctx_tokens, b.ctx_len);
      auto has = (b.ctx_len > 0).to(opts.dtype()).unsqueeze(1);
      emb_t = emb_t + has * torch::tanh(context->forward(torch::cat({c, emb_t * c}, 1)));
    }
  }
  auto avail = torch::stack({av_p, av_f, av_t}, 1);  // [B, 3]
  if (is_training() && config_.modality_dropout > 0) {
    // Hide one random available modality of a row with some chance, when it has two or more,
    // so the model learns to work when a modality is missing at inference.
    auto drop_row = (torch::rand({n}, opts) < config_.modality_dropout) & (avail.sum(1) >= 2);
    auto pick = torch::multinomial(avail + 1e-6, 1).squeeze(1);
    auto drop = torch::one_hot(pick, 3).to(opts.dtype()) * drop_row.unsqueeze(1).to(opts.dtype());
    avail = avail * (1 - drop);
  }
  auto embs = torch::stack({emb_p, emb_f, emb_t}, 1);  // [B, 3, H]
  auto gates = gate->forward(torch::cat({emb_p, emb_f, emb_t}, 1));
  torch::Tensor bag;  // zero where the text is absent or hidden by modality dropout
  if (ngrams)
    bag = ngram_bag(ngrams, b.tokens, b.token_len, config_.hash_buckets) *
          avail.select(1, 2).unsqueeze(1);
  std::vector<torch::Tensor> out;
  for (size_t k = 0; k < tasks_.size(); ++k) {
    const auto& t = tasks_[k];
    auto allowed =
        torch::tensor({float(t.prosody), float(t.functionals), float(t.text)}, opts).unsqueeze(0);
    auto a = avail * allowed;
    auto w = torch::softmax(gates.masked_fill(a == 0, -1e9), 1) * a;
    auto fused = (w.unsqueeze(-1) * embs).sum(1);
    auto h = norm->forward(fused);
    if (ngrams) h = torch::cat({h, t.text ? bag : torch::zeros_like(bag)}, 1);
    out.push_back(head_logits(t, heads[k], ordinal_bias[k], dropout->forward(h)));
  }
  return out;
}

std::pair<torch::Tensor, torch::Tensor> transformer_text(BertEncoderImpl& bert,
                                                         torch::nn::LinearImpl& proj,
                                                         const Batch& b, bool frozen) {
  auto pooled = frozen ? bert.frozen_pooled(b.text_ids, b.text_type_ids, b.text_mask)
                       : BertEncoderImpl::mean_pool(
                             bert.forward(b.text_ids, b.text_type_ids, b.text_mask), b.text_mask);
  auto own = (b.text_mask * (1 - b.text_type_ids)).sum(1) > 2;  // [CLS] segment [SEP]
  return {torch::relu(proj.forward(pooled)).to(b.functionals.scalar_type()), own};
}

LinearModel::LinearModel(const ModelShape& shape, const ModelConfig& c) : config_(c) {
  tasks_ = shape.tasks;
  ngrams = register_module("ngrams", torch::nn::Embedding(c.hash_buckets, c.hidden));
  const int in = 2 * shape.functional_features + c.hidden;
  for (const auto& t : tasks_) {
    heads.push_back(register_module("head_" + t.name, make_head(t, in)));
    ordinal_bias.push_back(
        t.type == data::TaskType::kOrdinal
            ? register_parameter("bias_" + t.name, ordinal_thresholds(t.num_classes))
            : torch::Tensor());
  }
}

std::vector<torch::Tensor> LinearModel::logits(const Batch& b) {
  const auto opts = b.functionals.options();
  const int64_t n = b.labels.size(0);
  torch::Tensor bag = torch::zeros({n, config_.hidden}, opts);
  if (config_.use_text && b.tokens.defined() && b.tokens.size(1) > 0)
    bag = ngram_bag(ngrams, b.tokens, b.token_len, config_.hash_buckets);
  torch::Tensor acoustic = config_.use_functionals
                               ? torch::cat({b.functionals, b.func_mask}, 1)
                               : torch::zeros({n, 2 * b.functionals.size(1)}, opts);
  std::vector<torch::Tensor> out;
  for (size_t k = 0; k < tasks_.size(); ++k) {
    const auto& t = tasks_[k];
    auto x = torch::cat({t.functionals ? acoustic : torch::zeros_like(acoustic),
                         t.text ? bag : torch::zeros_like(bag)},
                        1);
    out.push_back(head_logits(t, heads[k], ordinal_bias[k], x));
  }
  return out;
}

EnsembleModel::EnsembleModel(const ModelShape& shape, const ModelConfig& config) {
  tasks_ = shape.tasks;
  for (int i = 0; i < config.members; ++i)
    fusion.push_back(register_module("member" + std::to_string(i),
                                     std::make_shared<FusionModel>(shape, config)));
}

std::vector<torch::Tensor> EnsembleModel::mean_logits(
    const std::vector<std::vector<torch::Tensor>>& per_member) {
  std::vector<torch::Tensor> out;
  for (size_t t = 0; t < per_member.front().size(); ++t) {
    std::vector<torch::Tensor> task;
    for (const auto& member : per_member) task.push_back(member[t]);
    out.push_back(torch::stack(task).mean(0));
  }
  return out;
}

std::vector<torch::Tensor> EnsembleModel::logits(const Batch& b) {
  std::vector<std::vector<torch::Tensor>> per_member;
  for (auto& m : fusion) per_member.push_back(m->logits(b));
  return mean_logits(per_member);
}

std::vector<TaskModel*> EnsembleModel::members() {
  std::vector<TaskModel*> out;
  for (auto& m : fusion) out.push_back(m.get());
  return out;
}

FusionModel* as_fusion(TaskModel& model) {
  return dynamic_cast<FusionModel*>(model.members().front());
}

double clip_member_gradients(TaskModel& model, double max_norm) {
  double sum2 = 0;
  for (TaskModel* m : model.members()) {
    const double norm = torch::nn::utils::clip_grad_norm_(m->parameters(), max_norm);
    sum2 += norm * norm;
  }
  return std::sqrt(sum2);
}

std::shared_ptr<TaskModel> make_model(const ModelShape& shape, const ModelConfig& config) {
  if (config.type == "fusion" && config.members > 1)
    return std::make_shared<EnsembleModel>(shape, config);
  if (config.type == "fusion") return std::make_shared<FusionModel>(shape, config);
  if (config.type == "linear") return std::make_shared<LinearModel>(shape, config);
  throw ConfigError("unknown model.type '" + config.type + "'; use fusion or linear");
}

torch::Tensor task_probabilities(const TaskSpec& task, const torch::Tensor& logits) {
  auto z = logits.to(torch::kFloat);
  switch (task.type) {
    case data::TaskType::kBinary: {
      auto p = torch::sigmoid(z.squeeze(-1));
      return torch::stack({1 - p, p}, 1);
    }
    case data::TaskType::kCategorical:
      return torch::softmax(z, 1);
    case data::TaskType::kOrdinal: {
      // P(y > k) = sigmoid(z_k); P(y = c) = P(y > c-1) - P(y > c), clipped and renormalised.
      auto gt = torch::sigmoid(z);
      auto n = z.size(0);
      auto upper = torch::cat({torch::ones({n, 1}, z.options()), gt}, 1);
      auto lower = torch::cat({gt, torch::zeros({n, 1}, z.options())}, 1);
      auto p = (upper - lower).clamp_min(0);
      return p / p.sum(1, true).clamp_min(1e-12);
    }
  }
  return z;
}

torch::Tensor task_loss(const TaskSpec& task, const torch::Tensor& logits,
                        const torch::Tensor& labels, const torch::Tensor& class_weights,
                        const std::string& loss, double gamma) {
  auto rows = (labels >= 0).nonzero().squeeze(1);
  if (rows.numel() == 0) return {};
  auto z = logits.index_select(0, rows).to(torch::kFloat);
  auto y = labels.index_select(0, rows);
  torch::Tensor per_row;
  torch::Tensor p_true;  // probability of the true class, for focal loss
  switch (task.type) {
    case data::TaskType::kBinary: {
      auto target = y.to(torch::kFloat);
      per_row = F::binary_cross_entropy_with_logits(
          z.squeeze(-1), target,
          F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone));
      auto p = torch::sigmoid(z.squeeze(-1));
      p_true = target * p + (1 - target) * (1 - p);
      break;
    }
    case data::TaskType::kCategorical: {
      auto logp = torch::log_softmax(z, 1).gather(1, y.unsqueeze(1)).squeeze(1);
      per_row = -logp;
      p_true = logp.exp();
      break;
    }
    case data::TaskType::kOrdinal: {
      // CORAL: binary cross-entropy of each threshold task "y > k" (Cao et al. 2020).
      auto k = torch::arange(task.num_classes - 1, y.options()).unsqueeze(0);
      auto target = (y.unsqueeze(1) > k).to(torch::kFloat);
      per_row = F::binary_cross_entropy_with_logits(
                    z, target, F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone))
                    .sum(1);
      p_true = task_probabilities(task, z).gather(1, y.unsqueeze(1)).squeeze(1);
      break;
    }
  }
  if (loss == "focal" && gamma > 0)
    per_row = per_row * (1 - p_true.detach()).clamp_min(0).pow(gamma);
  auto w = class_weights.defined() && loss != "ce" ? class_weights.to(z.device()).index_select(0, y)
                                                   : torch::ones_like(per_row);
  return (per_row * w).sum() / w.sum().clamp_min(1e-12);
}

}  // namespace tenor::train
