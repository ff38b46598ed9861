#pragma once
// The BERT text encoder (train/text_encoder.h) in ONNX opset 17 nodes: Gather embeddings,
// LayerNormalization, MatMul attention with Softmax, exact GELU with Erf, mean pooling; for
// MPNet, positions by CumSum over the non-pad ids and the relative position bias (a bucket
// table of every offset, Gather) added to the mask before the blocks.
// ONNX Runtime's graph optimiser fuses the Erf GELU with its bias Add into BiasGelu and the
// q K^T scaling into FusedMatMul (bert_export_test pins the patterns it matches).
// Weights become initializers under their module paths, as every emitter's.

#include <string>

#include "export/graph_builder.h"
#include "train/text_encoder.h"

namespace tenor::onnx_export {

/// ids, type_ids and mask [B, L] int64 -> the last hidden states [B, L, H]. The token axis
/// L is dynamic: a row costs what its tokens cost. With `int8`, the Linear layers of every
/// block (query, key, value, the two dense layers and the feed-forward; 36 in MiniLM-L6)
/// become dynamically quantised int8 MatMuls (`tenor export --quantize int8`, docs/export.md):
/// their weights are int8 initializers under their checkpoint keys, each with its scales per
/// output channel as `<key>_scale` ([out]).
std::string emit_bert_encoder(GraphBuilder& g, const std::string& path,
                              train::BertEncoderImpl& encoder, const std::string& ids,
                              const std::string& type_ids, const std::string& mask,
                              bool int8 = false);

/// BertEncoderImpl::mean_pool: hidden [B, L, H], mask [B, L] int64 -> [B, H].
std::string emit_mean_pool(GraphBuilder& g, const std::string& hidden, const std::string& mask);

}  // namespace tenor::onnx_export
