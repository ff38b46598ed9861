#include "export/onnx_bert.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "export/onnx_layers.h"

namespace tenor::onnx_export {
using onnx::TensorProto;

namespace {

/// BertEncoderImpl::position_ids: 0 .. L-1 (BERT), or MPNet's count over the ids that are
/// not pad_token_id, from pad_token_id + 1 (CumSum).
std::string emit_positions(GraphBuilder& g, const train::BertConfig& c, const std::string& ids) {
  auto len = g.squeeze(g.dim(ids, 1), {0});
  if (c.model_type != "mpnet")
    return g.op("Range", {g.const_i64({0}, true), len, g.const_i64({1}, true)});
  auto real = g.cast(g.op("Not", {g.op("Equal", {ids, g.const_i64({c.pad_token_id}, true)})}),
                     TensorProto::INT64);
  auto count = g.op("CumSum", {real, g.const_i64({1}, true)});
  return g.op("Add", {g.op("Mul", {count, real}), g.const_i64({c.pad_token_id}, true)});
}

/// word + token type (when the encoder has them) + position embeddings, then LayerNorm.
std::string emit_embeddings(GraphBuilder& g, const std::string& path, train::BertEncoderImpl& e,
                            const std::string& ids, const std::string& type_ids) {
  auto& m = e.embeddings();
  auto x = emit_embedding(g, join_path(path, "word_embeddings"), *m.word, ids);
  if (m.token_type)
    x = g.op("Add", {x, emit_embedding(g, join_path(path, "token_type_embeddings"), *m.token_type,
                                       type_ids)});
  auto positions = emit_positions(g, e.config(), ids);
  x = g.op("Add", {x, emit_embedding(g, join_path(path, "position_embeddings"), *m.position, positions)});
  return emit_layer_norm(g, join_path(path, "LayerNorm"), *m.norm, x);
}

/// MPNet's relative position bias for the L tokens of `ids`, [1, heads, L, L]: the bucket of
/// each offset (key minus query position) is looked up in a table of every offset the
/// encoder's positions allow, computed by LibTorch (train::bert::relative_position_bucket),
/// so the graph's buckets are LibTorch's exactly; then the bias of each bucket.
std::string emit_position_bias(GraphBuilder& g, const std::string& path,
                               const train::BertEncoderImpl& e, const std::string& ids) {
  const int64_t span = e.config().max_positions;  // offsets -(span - 1) .. span - 1
  auto offsets = torch::arange(-(span - 1), span, torch::kLong);
  auto table = train::bert::relative_position_bucket(offsets, e.config().relative_buckets)
                   .contiguous();
  auto buckets_of = g.const_i64(
      std::vector<int64_t>(table.data_ptr<int64_t>(), table.data_ptr<int64_t>() + table.numel()));
  auto len = g.squeeze(g.dim(ids, 1), {0});
  auto at = g.op("Range", {g.const_i64({0}, true), len, g.const_i64({1}, true)});
  auto offset = g.op("Sub", {g.unsqueeze(at, {0}), g.unsqueeze(at, {1})});  // [L, L]
  auto buckets = g.op("Gather", {buckets_of, g.op("Add", {offset, g.const_i64({span - 1}, true)})});
  auto bias = emit_embedding(g, join_path(path, "relative_attention_bias"),
                             *e.relative_attention_bias(), buckets);  // [L, L, heads]
  return g.unsqueeze(g.transpose(bias, {2, 0, 1}), {0});
}

/// x W^T + b with W in int8, symmetric per output channel: row o of W [out, in] gets the
/// scale max_i |W[o, i]| / 127 and zero point 0. The weight is stored as an int8 initializer
/// under its checkpoint key in its checkpoint layout (transposed in the graph, which ONNX
/// Runtime folds at load), its scales [out] as `<key>_scale`. x is quantised on each run to
/// uint8 with one scale and zero point for the whole tensor (DynamicQuantizeLinear). The
/// nodes are those of onnxruntime.quantization.quantize_dynamic(per_channel=True), one
/// DynamicQuantizeLinear per MatMul, which ONNX Runtime fuses (DynamicQuantizeLinear,
/// MatMulInteger, Cast, Mul by x scale x W scales, the bias Add) into one
/// DynamicQuantizeMatMul. One scale per tensor is not enough: in MiniLM's feed-forward output
/// weights the row of hidden unit 99 reaches 175 standard deviations (the median row 4), so
/// a per-tensor scale of 1.4 standard deviations left the other rows 3 levels each side and
/// the pooled vectors at cosine 0.85 (docs/benchmarks.md, issue 19).
std::string emit_linear_int8(GraphBuilder& g, const std::string& path, torch::nn::LinearImpl& m,
                             const std::string& x) {
  auto w = m.weight.detach().to(torch::kCPU, torch::kFloat).contiguous();  // [out, in]
  auto scale = (std::get<0>(w.abs().max(1, true)).clamp_min(1e-12f) / 127.0f).contiguous();
  auto q = (w / scale).round().clamp(-127, 127).to(torch::kInt8).contiguous();
  auto wq = g.initializer_i8(path + ".weight", q.sizes().vec(), q.data_ptr<int8_t>());
  auto w_scale = g.initializer(path + ".weight_scale", {w.size(0)}, scale.data_ptr<float>());
  const int8_t zero = 0;
  const std::string w_zero = "int8_zero_point";  // one constant for every quantised weight
  if (!g.has_initializer(w_zero)) g.initializer_i8(w_zero, {}, &zero);
  auto xq = g.op_n("DynamicQuantizeLinear", {x}, 3);  // x_q, x_scale, x_zero_point
  auto y = g.op("MatMulInteger", {xq[0], g.transpose(wq, {1, 0}), xq[2], w_zero}, {}, path);
  y = g.op("Mul", {g.cast(y, TensorProto::FLOAT), g.op("Mul", {xq[1], w_scale})});
  if (!m.bias.defined() || m.bias.numel() == 0) return y;
  auto b = m.bias.detach().to(torch::kCPU, torch::kFloat).contiguous();
  return g.op("Add", {y, g.initializer(path + ".bias", b.sizes().vec(), b.data_ptr<float>())});
}

/// A Linear of the encoder on x [B, L, in]: fp32 (emit_linear) or int8 (emit_linear_int8).
std::string linear(GraphBuilder& g, const std::string& path, torch::nn::LinearImpl& m,
                   const std::string& x, bool int8) {
  return int8 ? emit_linear_int8(g, path, m, x) : emit_linear(g, path, m, x, false);
}

/// [B, L, H] -> [B, heads, L, head_dim] (or [B, heads, head_dim, L] when `keys`).
std::string heads_of(GraphBuilder& g, const std::string& x, int heads, int head_dim, bool keys) {
  auto r = g.op("Reshape", {x, g.const_i64({0, 0, heads, head_dim})});
  return g.transpose(r, keys ? std::vector<int64_t>{0, 2, 3, 1} : std::vector<int64_t>{0, 2, 1, 3});
}

std::string emit_self_attention(GraphBuilder& g, const std::string& path,
                                train::bert::SelfAttentionImpl& m, const std::string& x,
                                const std::string& additive_mask, bool int8) {
  auto q = heads_of(g, linear(g, join_path(path, "query"), *m.query, x, int8), m.heads, m.head_dim, false);
  auto k = heads_of(g, linear(g, join_path(path, "key"), *m.key, x, int8), m.heads, m.head_dim, true);
  auto v = heads_of(g, linear(g, join_path(path, "value"), *m.value, x, int8), m.heads, m.head_dim, false);
  auto scores = g.op("Mul", {g.op("MatMul", {q, k}), g.scalar_f32(float(1.0 / std::sqrt(double(m.head_dim))))});
  auto probs = g.op("Softmax", {g.op("Add", {scores, additive_mask})}, {Attr::integer("axis", -1)});
  auto ctx = g.transpose(g.op("MatMul", {probs, v}), {0, 2, 1, 3});
  return g.op("Reshape", {ctx, g.const_i64({0, 0, m.heads * m.head_dim})});
}

std::string emit_dense_norm(GraphBuilder& g, const std::string& path, train::bert::DenseNormImpl& m,
                            const std::string& x, const std::string& residual, bool int8) {
  auto y = g.op("Add", {linear(g, join_path(path, "dense"), *m.dense, x, int8), residual});
  return emit_layer_norm(g, join_path(path, "LayerNorm"), *m.norm, y);
}

/// 0.5 x (1 + erf(x / sqrt 2)): torch::gelu's exact form.
std::string emit_gelu(GraphBuilder& g, const std::string& x) {
  auto erf = g.op("Erf", {g.op("Div", {x, g.scalar_f32(float(std::sqrt(2.0)))})});
  return g.op("Mul", {g.op("Mul", {x, g.scalar_f32(0.5f)}), g.op("Add", {erf, g.scalar_f32(1.0f)})});
}

std::string emit_block(GraphBuilder& g, const std::string& path, train::bert::BlockImpl& m,
                       const std::string& x, const std::string& additive_mask, bool int8) {
  auto& att = *m.attention;
  auto ctx = emit_self_attention(g, join_path(path, "attention.self"), *att.self, x, additive_mask, int8);
  auto a = emit_dense_norm(g, join_path(path, "attention.output"), *att.output, ctx, x, int8);
  auto i = emit_gelu(g, linear(g, join_path(path, "intermediate.dense"), *m.intermediate->dense, a, int8));
  return emit_dense_norm(g, join_path(path, "output"), *m.output, i, a, int8);
}

}  // namespace

std::string emit_bert_encoder(GraphBuilder& g, const std::string& path,
                              train::BertEncoderImpl& encoder, const std::string& ids,
                              const std::string& type_ids, const std::string& mask, bool int8) {
  auto x = emit_embeddings(g, join_path(path, "embeddings"), encoder, ids, type_ids);
  // (1 - mask) * lowest float, [B, 1, 1, L]: padding gets softmax weight 0.
  auto keep = g.cast(mask, TensorProto::FLOAT);
  auto additive = g.op("Mul", {g.op("Sub", {g.scalar_f32(1.0f), keep}),
                               g.scalar_f32(std::numeric_limits<float>::lowest())});
  additive = g.unsqueeze(additive, {1, 2});
  if (encoder.relative_attention_bias())  // MPNet: with the mask into every block's scores
    additive =
        g.op("Add", {additive, emit_position_bias(g, join_path(path, "encoder"), encoder, ids)});
  const auto blocks = encoder.blocks();
  for (size_t i = 0; i < blocks.size(); ++i)
    x = emit_block(g, join_path(path, "encoder.layer." + std::to_string(i)), *blocks[i], x, additive, int8);
  return x;
}

std::string emit_mean_pool(GraphBuilder& g, const std::string& hidden, const std::string& mask) {
  auto m = g.unsqueeze(g.cast(mask, TensorProto::FLOAT), {2});
  auto sum = g.reduce_sum(g.op("Mul", {hidden, m}), {1}, false);
  auto count = g.op("Max", {g.reduce_sum(m, {1}, false), g.scalar_f32(1e-9f)});
  return g.op("Div", {sum, count});
}

}  // namespace tenor::onnx_export
