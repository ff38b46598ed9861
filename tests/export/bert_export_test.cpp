// The BERT text encoder's ONNX graph (export/onnx_bert.h) in ONNX Runtime against LibTorch,
// on the real all-MiniLM-L6-v2 weights: last hidden states and mean-pooled vectors within
// 1e-4, padding included; every weight an initializer under its module path.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "data/features/wordpiece.h"
#include "export/graph_builder.h"
#include "export/onnx_bert.h"
#include "export/ort_runner.h"
#include "tests/features/text_encoder_dir.h"

namespace tenor::onnx_export {
namespace {
namespace fs = std::filesystem;
using onnx::TensorProto;

HostTensor i64(const torch::Tensor& t) {
  auto c = t.contiguous();
  return HostTensor::from_i64(c.sizes().vec(),
                              std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()));
}

torch::Tensor f32(const HostTensor& t) {
  return torch::from_blob(const_cast<float*>(t.f32()), t.dims, torch::kFloat).clone();
}

TEST(BertExport, OnnxRuntimeEqualsLibTorchOnMiniLm) {
  const fs::path dir = test::text_encoder_dir();
  auto encoder = train::load_text_encoder(dir);
  const features::WordPieceTokenizer tok(dir / "tokenizer.json");
  const std::vector<features::WordPieceTokenizer::Encoding> rows = {
      tok.encode("I understand how frustrating that must be."),
      tok.encode("I lost my job today.", std::string_view("That sounds really hard.")),
      tok.encode("ok")};
  size_t l = 0;
  for (const auto& r : rows) l = std::max(l, r.ids.size());
  auto ids = torch::zeros({3, int64_t(l)}, torch::kLong), types = torch::zeros_like(ids),
       mask = torch::zeros_like(ids);
  for (size_t i = 0; i < rows.size(); ++i)
    for (size_t j = 0; j < rows[i].ids.size(); ++j) {
      ids[int64_t(i)][int64_t(j)] = rows[i].ids[j];
      types[int64_t(i)][int64_t(j)] = rows[i].type_ids[j];
      mask[int64_t(i)][int64_t(j)] = 1;
    }
  torch::NoGradGuard no_grad;
  const auto hidden = encoder->forward(ids, types, mask);
  const auto pooled = train::BertEncoderImpl::mean_pool(hidden, mask);

  GraphBuilder g("bert");
  for (const char* in : {"ids", "type_ids", "mask"})
    g.input(in, TensorProto::INT64, {Dim("batch"), Dim("tokens")});
  auto h = emit_bert_encoder(g, "text", *encoder, "ids", "type_ids", "mask");
  g.output(h, "hidden", TensorProto::FLOAT, {Dim("batch"), Dim("tokens"), Dim(384)});
  g.output(emit_mean_pool(g, h, "mask"), "pooled", TensorProto::FLOAT, {Dim("batch"), Dim(384)});
  size_t weights = 0;
  for (const auto& p : encoder->named_parameters()) {
    EXPECT_TRUE(g.initializer_names().count("text." + p.key())) << p.key();
    ++weights;
  }
  EXPECT_EQ(weights, 101u);
  auto model = make_model_proto(std::move(g), "bert test");
  check_model(model);
  const fs::path file = fs::temp_directory_path() / ("bert-" + std::to_string(getpid()) + ".onnx");
  std::ofstream(file, std::ios::binary) << serialize(model);
  OrtCase c;
  c.name = "bert";
  c.inputs = {{"ids", i64(ids)}, {"type_ids", i64(types)}, {"mask", i64(mask)}};
  auto out = run_onnx_runtime(file, {c}).at(0).outputs;
  fs::remove(file);
  const auto ort_hidden = f32(out.at("hidden")), ort_pooled = f32(out.at("pooled"));
  const auto real = mask.to(torch::kBool).unsqueeze(-1).expand_as(hidden);
  const double dh = (ort_hidden - hidden).abs().masked_select(real).max().item<double>();
  const double dp = (ort_pooled - pooled).abs().max().item<double>();
  EXPECT_LT(dh, 1e-4);
  EXPECT_LT(dp, 1e-4);
  std::printf("ONNX Runtime vs LibTorch: max |delta| hidden %.3g, pooled %.3g\n", dh, dp);
}

}  // namespace
}  // namespace tenor::onnx_export
