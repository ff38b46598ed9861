#pragma once
// The BERT text encoder (train/text_encoder.h) in ONNX opset 17 nodes: Gather embeddings,
// LayerNormalization, MatMul attention with Softmax, exact GELU with Erf, mean pooling.
// Weights become initializers under their module paths, as every emitter's.

#include <string>

#include "export/graph_builder.h"
#include "train/text_encoder.h"

namespace tenor::onnx_export {

/// ids, type_ids and mask [B, L] int64 -> the last hidden states [B, L, H].
std::string emit_bert_encoder(GraphBuilder& g, const std::string& path,
                              train::BertEncoderImpl& encoder, const std::string& ids,
                              const std::string& type_ids, const std::string& mask);

/// BertEncoderImpl::mean_pool: hidden [B, L, H], mask [B, L] int64 -> [B, H].
std::string emit_mean_pool(GraphBuilder& g, const std::string& hidden, const std::string& mask);

}  // namespace tenor::onnx_export
