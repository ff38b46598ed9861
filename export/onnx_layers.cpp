#include "export/onnx_layers.h"

#include <torch/torch.h>

#include <algorithm>
#include <tuple>
#include <utility>
#include <variant>

#include "core/error.h"
#include "data/features/tokenizer.h"
#include "export/onnx_bert.h"

namespace tenor::onnx_export {
namespace {

using onnx::TensorProto;

/// Adds a model tensor as an initializer under its module path (once).
std::string weight(GraphBuilder& g, const std::string& name, const torch::Tensor& t) {
  if (g.has_initializer(name)) return name;
  auto c = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
  return g.initializer(name, c.sizes().vec(), c.data_ptr<float>());
}

/// Time mask [B, T] bool: t < len, with T the size of axis 1 of `x`.
std::string time_mask(GraphBuilder& g, const std::string& x, const std::string& len) {
  auto steps = g.squeeze(g.dim(x, 1), {0});
  auto range = g.op("Range", {g.const_i64({0}, true), steps, g.const_i64({1}, true)});
  return g.op("Less", {g.unsqueeze(range, {0}), g.unsqueeze(len, {1})});
}

/// [B, n] float zeros with B taken from axis 0 of `like`.
std::string zeros_bn(GraphBuilder& g, const std::string& like, int64_t n) {
  return g.zeros(g.op("Concat", {g.dim(like, 0), g.const_i64({n})}, {Attr::integer("axis", 0)}));
}

std::string head_type_name(const torch::nn::Module& m) { return m.name(); }

}  // namespace

std::string join_path(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

std::string prob_output_name(const std::string& task) { return "prob_" + task; }

void declare_inputs(GraphBuilder& g, const InputNames& in, int lld, int func,
                    const train::InputTransform& transform) {
  g.input(in.frames, TensorProto::FLOAT, {"batch", "frames", lld});
  g.input(in.frame_len, TensorProto::INT64, {"batch"});
  g.input(in.functionals, TensorProto::FLOAT, {"batch", func});
  g.input(in.func_mask, TensorProto::FLOAT, {"batch", func});
  g.input(in.tokens, TensorProto::INT64, {"batch", "tokens"});
  g.input(in.token_len, TensorProto::INT64, {"batch"});
  if (!transform.wordpiece_sha256.empty())
    for (const auto& name : {in.text_ids, in.text_type_ids, in.text_mask})
      g.input(name, TensorProto::INT64, {"batch", "text_tokens"});
  if (transform.per_speaker()) {
    g.input(in.speaker_lld_mean, TensorProto::FLOAT, {"batch", lld});
    g.input(in.speaker_func_mean, TensorProto::FLOAT, {"batch", func});
    g.input(in.speaker_func_count, TensorProto::FLOAT, {"batch", func});
  }
  if (!transform.reads_context_tokens()) return;
  g.input(in.ctx_tokens, TensorProto::INT64, {"batch", "ctx_tokens"});
  g.input(in.ctx_len, TensorProto::INT64, {"batch"});
}

Normalized emit_normalization(GraphBuilder& g, const InputNames& in,
                              const train::InputTransform& s) {
  Normalized out;
  const int64_t fl = int64_t(s.norm.lld_mean.size()), ff = int64_t(s.norm.func_mean.size());
  auto axis1 = g.const_i64({1});
  auto zero_i = g.const_i64({0});
  // Frames: cut to max_frames (make_batch), zero past the length, then (x - mean) / std,
  // less the speaker's mean in the call under speaker normalisation (mean 0 then), where
  // level columns of a loudness-normalised run subtract the segment's own mean over its
  // valid frames instead (their stored mean is 0).
  auto frames = g.op("Slice", {in.frames, zero_i, g.const_i64({s.max_frames}), axis1});
  out.frame_len = g.op("Min", {in.frame_len, g.const_i64({s.max_frames}, true)}, {}, "frame_len");
  auto mask = g.unsqueeze(time_mask(g, frames, out.frame_len), {2});  // [B, T, 1]
  auto x = g.op("Where", {mask, frames, g.scalar_f32(0)});
  auto mean = g.const_f32(s.norm.lld_mean, {fl});
  auto centred = g.op("Sub", {x, mean});
  const bool loudness = s.normalize_loudness && !s.level_lld_columns.empty();
  std::vector<float> sel(size_t(fl), 0.0f);  // the level columns of a loudness-normalised run
  if (loudness)
    for (int c : s.level_lld_columns) sel[size_t(c)] = 1.0f;
  if (s.per_speaker()) {
    std::vector<float> others(static_cast<size_t>(fl));
    for (size_t c = 0; c < others.size(); ++c) others[c] = 1.0f - sel[c];
    auto speaker = g.op("Mul", {g.unsqueeze(in.speaker_lld_mean, {1}), g.const_f32(others, {fl})});
    centred = g.op("Sub", {centred, speaker});
  }
  if (loudness) {
    auto count = g.cast(g.op("Max", {out.frame_len, g.const_i64({1}, true)}), TensorProto::FLOAT);
    auto seg_mean = g.op("Div", {g.reduce_sum(x, {1}, true), g.unsqueeze(count, {1, 2})});
    centred = g.op("Sub", {centred, g.op("Mul", {seg_mean, g.const_f32(sel, {fl})})});
  }
  auto normed = g.op("Div", {centred, g.const_f32(s.norm.lld_std, {fl})});
  if (std::find(s.norm.lld_dropped.begin(), s.norm.lld_dropped.end(), 1) !=
      s.norm.lld_dropped.end()) {  // columns drop_features hides read 0
    std::vector<float> kept(size_t(fl), 1.0f);
    for (size_t c = 0; c < kept.size(); ++c)
      if (s.norm.lld_dropped[c]) kept[c] = 0.0f;
    normed = g.op("Mul", {normed, g.const_f32(kept, {fl})});
  }
  out.frames = g.op("Where", {mask, normed, g.scalar_f32(0)}, {}, "frames_norm");

  // Functionals: clip((v - mean) / std, -10, 10) where defined and not dropped, else 0;
  // under speaker normalisation less the speaker's mean, and defined only where at least
  // kSpeakerMinSegments of the speaker's segments define the column.
  std::vector<float> keep(size_t(ff), 1.0f);
  for (size_t c = 0; c < s.norm.func_dropped.size(); ++c)
    if (s.norm.func_dropped[c]) keep[c] = 0.0f;
  auto func_mask = g.op("Mul", {in.func_mask, g.const_f32(keep, {ff})});
  auto func_centred = g.op("Sub", {in.functionals, g.const_f32(s.norm.func_mean, {ff})});
  if (s.per_speaker()) {
    auto enough = g.op("GreaterOrEqual",
                       {in.speaker_func_count, g.scalar_f32(float(train::kSpeakerMinSegments))});
    func_mask = g.op("Mul", {func_mask, g.cast(enough, TensorProto::FLOAT)});
    func_centred = g.op("Sub", {func_centred, in.speaker_func_mean});
  }
  out.func_mask = g.op("Identity", {func_mask}, {}, "func_mask_norm");
  auto defined = g.op("Greater", {out.func_mask, g.scalar_f32(0)});
  auto z = g.op("Div", {func_centred, g.const_f32(s.norm.func_std, {ff})});
  z = g.op("Clip", {z, g.scalar_f32(-10), g.scalar_f32(10)});
  out.functionals = g.op("Where", {defined, z, g.scalar_f32(0)}, {}, "functionals_norm");

  // Tokens: cut to max_tokens, 0 past the length (LibTorch pads with 0).
  auto tokens = g.op("Slice", {in.tokens, zero_i, g.const_i64({s.max_tokens}), axis1});
  out.token_len = g.op("Min", {in.token_len, g.const_i64({s.max_tokens}, true)}, {}, "token_len");
  out.tokens = g.op("Where", {time_mask(g, tokens, out.token_len), tokens, g.const_i64({0}, true)},
                    {}, "tokens_norm");
  if (s.reads_context_tokens()) {  // the same for the previous segment, cut to context_tokens
    auto ctx = g.op("Slice", {in.ctx_tokens, zero_i, g.const_i64({s.context_tokens}), axis1});
    out.ctx_len = g.op("Min", {in.ctx_len, g.const_i64({s.context_tokens}, true)}, {}, "ctx_len");
    out.ctx_tokens = g.op("Where", {time_mask(g, ctx, out.ctx_len), ctx, g.const_i64({0}, true)},
                          {}, "ctx_tokens_norm");
  }
  if (!s.wordpiece_sha256.empty())  // tokenised and cut outside (train::transcript_ids)
    out.text_ids = in.text_ids, out.text_type_ids = in.text_type_ids, out.text_mask = in.text_mask;
  return out;
}

std::string emit_linear(GraphBuilder& g, const std::string& path, torch::nn::LinearImpl& m,
                        const std::string& x, bool two_d) {
  auto w = weight(g, path + ".weight", m.weight);
  const bool has_bias = m.bias.defined() && m.bias.numel() > 0;
  if (two_d) {
    std::vector<std::string> in = {x, w};
    if (has_bias) in.push_back(weight(g, path + ".bias", m.bias));
    return g.op("Gemm", in, {Attr::integer("transB", 1)}, path);
  }
  auto y = g.op("MatMul", {x, g.transpose(w, {1, 0})}, {}, path);
  return has_bias ? g.op("Add", {y, weight(g, path + ".bias", m.bias)}) : y;
}

std::string emit_conv1d(GraphBuilder& g, const std::string& path, torch::nn::Conv1dImpl& m,
                        const std::string& x) {
  const auto& o = m.options;
  // The padding is a variant (c10::variant in 1.13, std::variant in 2.x): unqualified get
  // finds the right one by ADL.
  using std::get;
  if (o.padding().index() != 0 || (*o.stride())[0] != 1 || (*o.dilation())[0] != 1 ||
      o.groups() != 1)
    throw ExportError("module " + path +
                      " (Conv1d) uses padding mode/stride/dilation/groups "
                      "the ONNX writer does not map; only stride 1, dilation 1, groups 1 and "
                      "explicit zero padding are exported");
  const int64_t pad = (*get<0>(o.padding()))[0];
  std::vector<std::string> in = {x, weight(g, path + ".weight", m.weight)};
  if (m.bias.defined() && m.bias.numel() > 0) in.push_back(weight(g, path + ".bias", m.bias));
  return g.op("Conv", in,
              {Attr::integers("pads", {pad, pad}), Attr::integers("strides", {1}),
               Attr::integers("dilations", {1}), Attr::integer("group", 1),
               Attr::integers("kernel_shape", {m.weight.size(2)})},
              path);
}

std::string emit_gru(GraphBuilder& g, const std::string& path, torch::nn::GRUImpl& m,
                     const std::string& x, const std::string& len) {
  const auto& o = m.options;
  if (!o.batch_first())
    throw ExportError("module " + path +
                      " (GRU) is not batch_first; the trainer only builds "
                      "batch-first GRUs");
  const int64_t hidden = o.hidden_size();
  const int dirs = o.bidirectional() ? 2 : 1;
  auto params = m.named_parameters(/*recurse=*/false);
  auto seq_lens = g.cast(g.op("Max", {len, g.const_i64({1}, true)}), TensorProto::INT32);
  auto h = g.transpose(x, {1, 0, 2});  // [T, B, In]
  auto sizes = g.const_i64({hidden, hidden, hidden});
  // PyTorch stacks the gates r, z, n; ONNX wants z, r, h.
  auto reorder = [&](const std::string& w) {
    auto parts = g.op_n("Split", {w, sizes}, 3, {Attr::integer("axis", 0)});
    return g.op("Concat", {parts[1], parts[0], parts[2]}, {Attr::integer("axis", 0)});
  };
  for (int64_t l = 0; l < o.num_layers(); ++l) {
    std::vector<std::string> ws, rs, bs;
    for (int d = 0; d < dirs; ++d) {
      const std::string sfx = "_l" + std::to_string(l) + (d == 1 ? "_reverse" : "");
      auto get_param = [&](const std::string& n) -> torch::Tensor {
        auto* p = params.find(n + sfx);
        if (!p) throw ExportError("module " + path + " (GRU) has no parameter " + n + sfx);
        return *p;
      };
      ws.push_back(
          g.unsqueeze(reorder(weight(g, path + ".weight_ih" + sfx, get_param("weight_ih"))), {0}));
      rs.push_back(
          g.unsqueeze(reorder(weight(g, path + ".weight_hh" + sfx, get_param("weight_hh"))), {0}));
      std::string bi, bh;
      if (o.bias()) {
        bi = reorder(weight(g, path + ".bias_ih" + sfx, get_param("bias_ih")));
        bh = reorder(weight(g, path + ".bias_hh" + sfx, get_param("bias_hh")));
      } else {
        bi = bh = g.const_f32(std::vector<float>(size_t(3 * hidden), 0.0f), {3 * hidden});
      }
      bs.push_back(g.unsqueeze(g.op("Concat", {bi, bh}, {Attr::integer("axis", 0)}), {0}));
    }
    auto cat = [&](const std::vector<std::string>& v) {
      return v.size() == 1 ? v[0] : g.op("Concat", v, {Attr::integer("axis", 0)});
    };
    auto y = g.op_n("GRU", {h, cat(ws), cat(rs), cat(bs), seq_lens}, 1,
                    {Attr::integer("hidden_size", hidden),
                     Attr::string("direction", dirs == 2 ? "bidirectional" : "forward"),
                     Attr::integer("linear_before_reset", 1)},
                    path + "_l" + std::to_string(l))[0];                           // [T, D, B, H]
    h = g.op("Reshape", {g.transpose(y, {0, 2, 1, 3}), g.const_i64({0, 0, -1})});  // [T, B, DH]
  }
  return g.transpose(h, {1, 0, 2});
}

std::string emit_attention_pool(GraphBuilder& g, const std::string& path,
                                train::MaskedAttentionPoolImpl& m, const std::string& h,
                                const std::string& len) {
  auto mask = time_mask(g, h, len);  // [B, T]
  // The score is h . w without a bias: softmax over time is shift-invariant, so the model has
  // none (train/model.cpp) and the graph maps only the weight.
  const std::string score = join_path(path, "score");
  if (m.score->bias.defined() && m.score->bias.numel() > 0)
    throw ExportError("module " + score +
                      " has a bias; the attention pool is exported without one (rebuild the "
                      "model with train::MaskedAttentionPool)");
  auto v = weight(g, score + ".weight", m.score->weight);  // [1, D]
  auto s = g.squeeze(g.op("MatMul", {h, g.transpose(v, {1, 0})}, {}, score), {2});
  s = g.op("Where", {mask, s, g.scalar_f32(-1e9f)});
  auto w = g.op(
      "Mul", {g.op("Softmax", {s}, {Attr::integer("axis", 1)}), g.cast(mask, TensorProto::FLOAT)});
  return g.reduce_sum(g.op("Mul", {g.unsqueeze(w, {2}), h}), {1}, false);
}

std::string emit_layer_norm(GraphBuilder& g, const std::string& path, torch::nn::LayerNormImpl& m,
                            const std::string& x) {
  const auto& shape = m.options.normalized_shape();
  if (shape.size() != 1)
    throw ExportError("module " + path + " (LayerNorm) normalises over " +
                      std::to_string(shape.size()) + " axes; only the last axis is exported");
  std::string scale, bias;
  if (m.options.elementwise_affine()) {
    scale = weight(g, path + ".weight", m.weight);
    bias = weight(g, path + ".bias", m.bias);
  } else {
    scale = g.const_f32(std::vector<float>(size_t(shape[0]), 1.0f), {shape[0]});
    bias = g.const_f32(std::vector<float>(size_t(shape[0]), 0.0f), {shape[0]});
  }
  return g.op("LayerNormalization", {x, scale, bias},
              {Attr::integer("axis", -1), Attr::real("epsilon", float(m.options.eps()))}, path);
}

std::string emit_embedding(GraphBuilder& g, const std::string& path, torch::nn::EmbeddingImpl& m,
                           const std::string& ids) {
  if (m.options.max_norm())
    throw ExportError("module " + path +
                      " (Embedding) uses max_norm, which renormalises "
                      "weights at lookup; it has no ONNX mapping");
  return g.op("Gather", {weight(g, path + ".weight", m.weight), ids}, {Attr::integer("axis", 0)},
              path);
}

std::string emit_prosody_encoder(GraphBuilder& g, const std::string& path,
                                 train::ProsodyEncoderImpl& m, const std::string& frames,
                                 const std::string& len) {
  auto x = g.op("Relu",
                {emit_conv1d(g, join_path(path, "conv"), *m.conv, g.transpose(frames, {0, 2, 1}))});
  auto h = emit_gru(g, join_path(path, "gru"), *m.gru, g.transpose(x, {0, 2, 1}), len);
  auto pooled = emit_attention_pool(g, join_path(path, "pool"), *m.pool, h, len);
  return g.op("Relu", {emit_linear(g, join_path(path, "proj"), *m.proj, pooled, true)});
}

std::string emit_text_encoder(GraphBuilder& g, const std::string& path, train::TextEncoderImpl& m,
                              const std::string& tokens, const std::string& len) {
  auto x = emit_embedding(g, join_path(path, "embed"), *m.embed, tokens);
  auto h = emit_gru(g, join_path(path, "gru"), *m.gru, x, len);
  auto pooled = emit_attention_pool(g, join_path(path, "pool"), *m.pool, h, len);
  return g.op("Relu", {emit_linear(g, join_path(path, "proj"), *m.proj, pooled, true)});
}

std::string emit_probabilities(GraphBuilder& g, const train::TaskSpec& task,
                               const std::string& logits) {
  switch (task.type) {
    case data::TaskType::kBinary: {
      auto p = g.op("Sigmoid", {logits});  // [B, 1]
      return g.op("Concat", {g.op("Sub", {g.scalar_f32(1), p}), p}, {Attr::integer("axis", 1)});
    }
    case data::TaskType::kCategorical:
      return g.op("Softmax", {logits}, {Attr::integer("axis", 1)});
    case data::TaskType::kOrdinal: {
      // CORAL: P(y > k) = sigmoid(z_k); P(y = c) = P(y > c-1) - P(y > c), clipped at 0 and
      // renormalised (Cao et al. 2020), as task_probabilities does.
      auto gt = g.op("Sigmoid", {logits});
      auto ones = zeros_bn(g, logits, 1);
      ones = g.op("Add", {ones, g.scalar_f32(1)});
      auto upper = g.op("Concat", {ones, gt}, {Attr::integer("axis", 1)});
      auto lower = g.op("Concat", {gt, zeros_bn(g, logits, 1)}, {Attr::integer("axis", 1)});
      auto p = g.op("Relu", {g.op("Sub", {upper, lower})});
      auto total = g.op("Max", {g.reduce_sum(p, {1}, true), g.scalar_f32(1e-12f)});
      return g.op("Div", {p, total});
    }
  }
  throw ExportError("task '" + task.name + "' has a head type the ONNX writer does not know");
}

namespace {

/// `at`: the module path of the model the head belongs to ("" or an ensemble's "member0.").
std::string head_logits(GraphBuilder& g, const train::TaskSpec& t, torch::nn::Linear& head,
                        const torch::Tensor& bias, const std::string& h,
                        const std::string& at = "") {
  auto z = emit_linear(g, at + "head_" + t.name, *head, h, true);
  if (t.type == data::TaskType::kOrdinal)
    z = g.op("Add", {z, weight(g, at + "bias_" + t.name, bias)});
  return z;
}

/// Hashed unigrams and bigrams (features::kBigramHashMultiplier) of the valid tokens, their
/// embeddings averaged: [B, dim], as ngram_bag in train/model.cpp.
std::string ngram_bag(GraphBuilder& g, const std::string& path, torch::nn::EmbeddingImpl& table,
                      const train::ModelConfig& c, const Normalized& in) {
  auto buckets = g.const_i64({c.hash_buckets}, true);
  auto uni = g.op("Mod", {in.tokens, buckets}, {Attr::integer("fmod", 0)});
  auto valid_uni = time_mask(g, in.tokens, in.token_len);
  auto axis1 = g.const_i64({1});
  auto big = g.const_i64({INT64_MAX});
  auto left = g.op("Slice", {in.tokens, g.const_i64({0}), g.const_i64({-1}), axis1});
  auto right = g.op("Slice", {in.tokens, g.const_i64({1}), big, axis1});
  auto bi = g.op("Mod",
                 {g.op("Add", {g.op("Mul", {left, g.const_i64({features::kBigramHashMultiplier}, true)}), right}), buckets},
                 {Attr::integer("fmod", 0)});
  auto bi_len =
      g.op("Max", {g.op("Sub", {in.token_len, g.const_i64({1}, true)}), g.const_i64({0}, true)});
  auto valid_bi = time_mask(g, left, bi_len);
  auto ids = g.op("Concat", {uni, bi}, {Attr::integer("axis", 1)});
  auto valid = g.op("Concat", {valid_uni, valid_bi}, {Attr::integer("axis", 1)});
  auto v = g.unsqueeze(g.cast(valid, TensorProto::FLOAT), {2});
  auto summed = g.reduce_sum(g.op("Mul", {emit_embedding(g, path, table, ids), v}), {1}, false);
  return g.op("Div", {summed, g.op("Max", {g.reduce_sum(v, {1}, false), g.scalar_f32(1)})});
}

/// The fusion model's text vector and its availability [B] (float): a pretrained encoder's
/// (train::transformer_text: relu(proj(mean pool)); text where the segment has pieces), or
/// the GRU text encoder's with its context layer.
std::pair<std::string, std::string> fusion_text(GraphBuilder& g, train::FusionModel& m,
                                                const std::string& at, const Normalized& in,
                                                const GraphOptions& o) {
  auto positive = [&](const std::string& len) {
    return g.cast(g.op("Greater", {len, g.const_i64({0}, true)}), TensorProto::FLOAT);
  };
  if (m.bert) {
    if (in.text_ids.empty())
      throw ExportError(
          "the model reads a pretrained text encoder (model.text_encoder) but the graph has no "
          "text_ids input; this is a bug: InputTransform::wordpiece_sha256 disagrees with the "
          "model");
    auto hidden = emit_bert_encoder(g, at + "bert", *m.bert, in.text_ids, in.text_type_ids,
                                    in.text_mask, o.int8_encoder);
    auto pooled = emit_mean_pool(g, hidden, in.text_mask);
    auto own = g.op("Mul", {in.text_mask, g.op("Sub", {g.const_i64({1}, true), in.text_type_ids})});
    return {g.op("Relu", {emit_linear(g, at + "bert_proj", *m.bert_proj, pooled, true)}),
            g.cast(g.op("Greater", {g.reduce_sum(own, {1}, false), g.const_i64({2}, true)}),
                   TensorProto::FLOAT)};
  }
  auto emb_t = emit_text_encoder(g, at + "text", *m.text, in.tokens, in.token_len);
  if (m.context) {
    if (in.ctx_tokens.empty())
      throw ExportError(
          "the model reads context (model.context_tokens) but the graph has no "
          "ctx_tokens input; this is a bug: InputTransform::context_tokens disagrees with "
          "the model");
    auto ctx = emit_text_encoder(g, at + "text", *m.text, in.ctx_tokens, in.ctx_len);
    auto has = g.unsqueeze(positive(in.ctx_len), {1});
    auto x = g.op("Concat", {ctx, g.op("Mul", {emb_t, ctx})}, {Attr::integer("axis", 1)});
    emb_t = g.op(
        "Add",
        {emb_t,
         g.op("Mul", {has, g.op("Tanh", {emit_linear(g, at + "context", *m.context, x, true)})})});
  }
  return {emb_t, positive(in.token_len)};
}

/// `at`: the model's module path, "" or an ensemble member's ("member0.").
std::vector<std::string> fusion_logits(GraphBuilder& g, train::FusionModel& m,
                                       const std::string& at, const train::ModelConfig& c,
                                       const Normalized& in, const GraphOptions& o) {
  auto zeros = zeros_bn(g, in.functionals, c.hidden);
  auto no = g.squeeze(zeros_bn(g, in.functionals, 1), {1});
  std::string emb_p = zeros, emb_f = zeros, emb_t = zeros, av_p = no, av_f = no, av_t = no;
  auto positive = [&](const std::string& len) {
    return g.cast(g.op("Greater", {len, g.const_i64({0}, true)}), TensorProto::FLOAT);
  };
  if (m.prosody) {
    emb_p = emit_prosody_encoder(g, at + "prosody", *m.prosody, in.frames, in.frame_len);
    av_p = positive(in.frame_len);
  }
  if (m.functionals) {
    auto x = g.op("Concat", {in.functionals, in.func_mask}, {Attr::integer("axis", 1)});
    emb_f = g.op("Relu", {emit_linear(g, at + "functionals", *m.functionals, x, true)});
    av_f = g.cast(g.op("Greater", {g.reduce_sum(in.func_mask, {1}, false), g.scalar_f32(0)}),
                  TensorProto::FLOAT);
  }
  if (m.bert || m.text) std::tie(emb_t, av_t) = fusion_text(g, m, at, in, o);
  auto avail =
      g.op("Concat", {g.unsqueeze(av_p, {1}), g.unsqueeze(av_f, {1}), g.unsqueeze(av_t, {1})},
           {Attr::integer("axis", 1)}, "avail");  // [B, 3]
  auto embs =
      g.op("Concat", {g.unsqueeze(emb_p, {1}), g.unsqueeze(emb_f, {1}), g.unsqueeze(emb_t, {1})},
           {Attr::integer("axis", 1)});  // [B, 3, H]
  auto gates = emit_linear(g, at + "gate", *m.gate,
                           g.op("Concat", {emb_p, emb_f, emb_t}, {Attr::integer("axis", 1)}), true);
  const std::string bag = m.ngrams ? ngram_bag(g, at + "ngrams", *m.ngrams, c, in) : "";
  std::vector<std::string> out;
  const auto& tasks = m.tasks();
  for (size_t k = 0; k < tasks.size(); ++k) {
    const auto& t = tasks[k];
    auto allowed = g.const_f32({float(t.prosody), float(t.functionals), float(t.text)}, {1, 3});
    auto a = g.op("Mul", {avail, allowed});
    auto masked = g.op("Where", {g.op("Equal", {a, g.scalar_f32(0)}), g.scalar_f32(-1e9f), gates});
    auto w = g.op("Mul", {g.op("Softmax", {masked}, {Attr::integer("axis", 1)}), a});
    auto fused = g.reduce_sum(g.op("Mul", {g.unsqueeze(w, {2}), embs}), {1}, false);
    auto h = emit_layer_norm(g, at + "norm", *m.norm, fused);  // dropout: identity in eval
    if (!bag.empty())  // no mask needed: the bag is already zero where token_len is 0
      h = g.op("Concat", {h, t.text ? bag : g.zeros(g.op("Shape", {bag}))},
               {Attr::integer("axis", 1)});
    out.push_back(head_logits(g, t, m.heads[k], m.ordinal_bias[k], h, at));
  }
  return out;
}

/// An ensemble's logits: the mean of its members' per task, as EnsembleModel::logits.
std::vector<std::string> ensemble_logits(GraphBuilder& g, train::EnsembleModel& m,
                                         const train::ModelConfig& c, const Normalized& in,
                                         const GraphOptions& o) {
  std::vector<std::vector<std::string>> per_task(m.tasks().size());
  for (size_t i = 0; i < m.fusion.size(); ++i) {
    auto member = fusion_logits(g, *m.fusion[i], "member" + std::to_string(i) + ".", c, in, o);
    for (size_t k = 0; k < member.size(); ++k) per_task[k].push_back(member[k]);
  }
  std::vector<std::string> out;
  for (const auto& logits : per_task) out.push_back(g.op("Mean", logits));
  return out;
}

std::vector<std::string> linear_logits(GraphBuilder& g, train::LinearModel& m,
                                       const train::ModelConfig& c, const Normalized& in) {
  std::string bag =
      c.use_text ? ngram_bag(g, "ngrams", *m.ngrams, c, in) : zeros_bn(g, in.functionals, c.hidden);
  auto acoustic_real = g.op("Concat", {in.functionals, in.func_mask}, {Attr::integer("axis", 1)});
  auto acoustic_zero = g.zeros(g.op("Shape", {acoustic_real}));
  auto acoustic = c.use_functionals ? acoustic_real : acoustic_zero;
  auto bag_zero = g.zeros(g.op("Shape", {bag}));
  std::vector<std::string> out;
  const auto& tasks = m.tasks();
  for (size_t k = 0; k < tasks.size(); ++k) {
    const auto& t = tasks[k];
    auto x = g.op("Concat", {t.functionals ? acoustic : acoustic_zero, t.text ? bag : bag_zero},
                  {Attr::integer("axis", 1)});
    out.push_back(head_logits(g, t, m.heads[k], m.ordinal_bias[k], x));
  }
  return out;
}

}  // namespace

void check_supported(train::TaskModel& model) {
  const bool fusion = dynamic_cast<train::FusionModel*>(&model) != nullptr;
  const bool linear = dynamic_cast<train::LinearModel*>(&model) != nullptr;
  auto* ensemble = dynamic_cast<train::EnsembleModel*>(&model);
  if (!fusion && !linear && !ensemble)
    throw ExportError("model of type " + model.name() +
                      " has no ONNX mapping; tenor exports FusionModel, EnsembleModel and "
                      "LinearModel");
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    auto* m = item.value().get();
    // A pretrained encoder is emitted whole (emit_bert_encoder), every module below it.
    if (item.key() == "bert" || item.key().rfind("bert.", 0) == 0) continue;
    const bool member = ensemble && item.key().find('.') == std::string::npos &&
                        dynamic_cast<train::FusionModel*>(m) != nullptr;
    const bool known =
        member || dynamic_cast<torch::nn::LinearImpl*>(m) ||
        dynamic_cast<torch::nn::Conv1dImpl*>(m) ||
        dynamic_cast<torch::nn::GRUImpl*>(m) || dynamic_cast<torch::nn::EmbeddingImpl*>(m) ||
        dynamic_cast<torch::nn::LayerNormImpl*>(m) || dynamic_cast<torch::nn::DropoutImpl*>(m) ||
        dynamic_cast<train::MaskedAttentionPoolImpl*>(m) ||
        dynamic_cast<train::ProsodyEncoderImpl*>(m) || dynamic_cast<train::TextEncoderImpl*>(m);
    if (!known)
      throw ExportError("module '" + item.key() + "' of type " + head_type_name(*m) +
                        " has no ONNX mapping; add an emitter in export/onnx_layers.cpp or "
                        "remove it from the model");
  }
}

bool has_text_encoder(train::TaskModel& model) {
  auto* f = dynamic_cast<train::FusionModel*>(&model);
  return f && f->bert;
}

void check_all_parameters_exported(train::TaskModel& model, const GraphBuilder& g) {
  for (const auto& p : model.named_parameters())
    if (!g.initializer_names().count(p.key()))
      throw ExportError("parameter '" + p.key() + "' of the model was not exported to ONNX: " +
                        "the writer does not use its module; this is a bug in the ONNX writer");
}

std::vector<std::string> emit_task_logits(GraphBuilder& g, train::TaskModel& model,
                                          const train::ModelConfig& config, const Normalized& in,
                                          const GraphOptions& options) {
  check_supported(model);
  if (options.int8_encoder && !has_text_encoder(model))
    throw UsageError("--quantize int8 quantises the pretrained text encoder (model.text_encoder), "
                     "but this model has none; export it without --quantize");
  if (auto* f = dynamic_cast<train::FusionModel*>(&model))
    return fusion_logits(g, *f, "", config, in, options);
  if (auto* e = dynamic_cast<train::EnsembleModel*>(&model))
    return ensemble_logits(g, *e, config, in, options);
  return linear_logits(g, dynamic_cast<train::LinearModel&>(model), config, in);
}

onnx::ModelProto build_onnx_model(
    train::TaskModel& model, const train::ModelShape& shape, const train::ModelConfig& config,
    const train::InputTransform& transform,
    const std::vector<std::pair<std::string, std::string>>& metadata,
    const GraphOptions& options) {
  if (transform.context_tokens != model.context_tokens())
    throw ExportError("the run's input transform feeds " +
                      std::to_string(transform.context_tokens) +
                      " context tokens, but its model reads " +
                      std::to_string(model.context_tokens()) +
                      "; the run's input_transform.json was edited: restore it or train again");
  GraphBuilder g("tenor");
  InputNames in;
  declare_inputs(g, in, shape.lld_features, shape.functional_features, transform);
  auto norm = emit_normalization(g, in, transform);
  auto logits = emit_task_logits(g, model, config, norm, options);
  for (size_t k = 0; k < shape.tasks.size(); ++k) {
    const auto& t = shape.tasks[k];
    g.output(emit_probabilities(g, t, logits[k]), prob_output_name(t.name), TensorProto::FLOAT,
             {"batch", t.num_classes});
  }
  check_all_parameters_exported(model, g);
  auto proto = make_model_proto(std::move(g),
                                "tenor escalation/empathy detector; inputs are raw feature-store "
                                "values, normalised inside the graph (see docs/export.md)");
  for (const auto& [k, v] : metadata) {
    auto* p = proto.add_metadata_props();
    p->set_key(k);
    p->set_value(v);
  }
  check_model(proto);
  return proto;
}

}  // namespace tenor::onnx_export
