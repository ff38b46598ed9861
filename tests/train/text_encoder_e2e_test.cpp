// model.text_encoder end to end on the tiny fixture: a small BERT encoder (random weights in
// the layout tools/text-encoders/fetch.sh lays out, with the fetched all-MiniLM-L6-v2
// tokenizer) fine-tuned by `tenor train`, scored by eval, exported through the parity gate
// and predicted by the bundle as by the run; bad encoders refused before training.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "data/features/store.h"
#include "tests/data/fixtures.h"
#include "tests/features/text_encoder_dir.h"
#include "tests/train/run_fixtures.h"
#include "train/checkpoint.h"
#include "train/predictor.h"
#include "train/text_encoder.h"

namespace tenor::test {
namespace {
using nlohmann::json;

/// Writes `tensors` as a .safetensors file (an 8-byte little-endian header length, a JSON
/// header of dtype, shape and byte range per tensor, then the float32 data).
void write_safetensors(const fs::path& file, const std::map<std::string, torch::Tensor>& tensors) {
  json header = json::object();
  std::string data;
  for (const auto& [name, t] : tensors) {
    auto c = t.to(torch::kFloat).contiguous();
    const size_t begin = data.size();
    data.append(static_cast<const char*>(c.data_ptr()), size_t(c.numel()) * sizeof(float));
    header[name] = {{"dtype", "F32"}, {"shape", c.sizes().vec()}, {"data_offsets", {begin, data.size()}}};
  }
  const std::string h = header.dump();
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[size_t(i)] = char((uint64_t(h.size()) >> (8 * i)) & 0xff);
  write_file_atomic(file, bytes + h + data);
}

/// A 2-layer, 32-wide BERT encoder directory with the fetched MiniLM tokenizer; `vocab`
/// overrides the embedding rows (a vocabulary that does not belong to the weights). With
/// `mpnet`, an MPNet encoder of that size with the fetched all-mpnet-base-v2 tokenizer, its
/// weights under MPNet's checkpoint names.
fs::path tiny_encoder(const fs::path& dir, int vocab = 30522, bool mpnet = false) {
  fs::create_directories(dir);
  const fs::path fetched = text_encoder_dir(mpnet ? "mpnet-base" : "minilm-l6");
  fs::copy_file(fetched / "tokenizer.json", dir / "tokenizer.json",
                fs::copy_options::overwrite_existing);
  json config = {{"model_type", "bert"},         {"hidden_act", "gelu"},
                 {"vocab_size", vocab},          {"hidden_size", 32},
                 {"num_hidden_layers", 2},       {"num_attention_heads", 2},
                 {"intermediate_size", 64},      {"max_position_embeddings", 64},
                 {"type_vocab_size", 2},         {"layer_norm_eps", 1e-12},
                 {"hidden_dropout_prob", 0.1},   {"position_embedding_type", "absolute"}};
  if (mpnet) {
    config["model_type"] = "mpnet";
    config["vocab_size"] = 30527;
    config["relative_attention_num_buckets"] = 32;
    config["pad_token_id"] = 1;
    config.erase("type_vocab_size");
  }
  write_file_atomic(dir / "config.json", config.dump(2));
  torch::manual_seed(7);
  const auto c = train::BertConfig::from_file(dir / "config.json");
  train::BertEncoder encoder(c);
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& p : encoder->named_parameters())
    tensors[train::checkpoint_key(p.key(), c)] = p.value().detach();
  write_safetensors(dir / "model.safetensors", tensors);
  return dir;
}

/// The model block of a text-only fusion model on `encoder`, then `extra`.
std::string model_block(const fs::path& encoder, const std::string& extra = "") {
  return "  type: fusion\n  use_prosody: false\n  use_functionals: false\n"
         "  ngrams: false\n  context_tokens: 6\n  max_tokens: 24\n"
         "  text_encoder: " +
         encoder.string() + "\n" + extra;
}

std::string config_for(const fs::path& dir, const fs::path& encoder, const std::string& extra = "") {
  return write_train_config(dir, model_block(encoder, extra)).string();
}

/// The bundle passed its parity gate and predicts call c14 as the run does.
void expect_bundle_passes_and_predicts_as_run(const fs::path& run, const fs::path& bundle) {
  const auto parity = json::parse(read_file(bundle / "parity.json"));
  EXPECT_TRUE(parity["passed"].get<bool>()) << parity.dump();
  expect_bundle_predicts_as_run(run, bundle, "c14");
}

TEST(E2eTextEncoder, FineTunesEvaluatesExportsAndPredictsAsTrained) {
  if (!fs::exists(text_encoder_dir() / "tokenizer.json"))
    GTEST_SKIP() << "no fetched text encoder at " << text_encoder_dir()
                 << "; run tools/text-encoders/fetch.sh";
  const fs::path dir = make_temp_dir("text-encoder-e2e");
  const fs::path encoder = tiny_encoder(dir / "encoder");
  std::string out;
  ASSERT_EQ(run_tenor("train --config " + config_for(dir, encoder) +
                          " --set epochs=2 --set checkpoint_every_steps=100",
                      &out),
            0)
      << out;
  const fs::path run = dir / "run";
  for (const char* f : {"tokenizer.json", "config.json", "source.json"})
    EXPECT_TRUE(fs::exists(run / "text_encoder" / f)) << f;
  const auto shape = json::parse(read_file(run / "shape.json"));
  EXPECT_EQ(shape["transformer"]["hidden_size"], 32);
  EXPECT_EQ(shape["vocab_size"], 0) << "no n-gram bag: the SentencePiece tokens are not read";
  const auto transform = json::parse(read_file(run / "input_transform.json"));
  EXPECT_EQ(transform["wordpiece_sha256"].get<std::string>().size(), 64u);

  // Fine-tuned: the encoder's weights moved from the pretrained start.
  const auto start = train::read_safetensors(encoder / "model.safetensors");
  train::RunPredictor predictor(run);
  auto& model = *predictor.run().model;
  const auto params = model.named_parameters();
  EXPECT_FALSE(torch::equal(params["bert.encoder.layer.1.output.dense.weight"],
                            start.at("encoder.layer.1.output.dense.weight")));

  // The scores follow the transcripts the store keeps.
  auto data = predictor.prepare(features::read_store(tiny_store()), tiny_store().string());
  const auto before = predictor.probabilities(data, data.test);
  for (auto& s : data.store.segments) s.text = "thank you so much, that is wonderful";
  const auto after = predictor.probabilities(data, data.test);
  bool changed = false;
  for (size_t k = 0; k < before.size(); ++k) changed |= before[k] != after[k];
  EXPECT_TRUE(changed);

  ASSERT_EQ(run_tenor("eval --run " + run.string() + " --data " + tiny_store().string() +
                          " --split test --out " + (dir / "eval").string(),
                      &out),
            0)
      << out;
  // The bundle carries the encoder and its tokenizer and passes the parity gate.
  ASSERT_EQ(run_tenor("export --run " + run.string() + " --out " + (dir / "bundle").string(), &out),
            0)
      << out;
  EXPECT_TRUE(fs::exists(dir / "bundle/tokenizer.json"));
  EXPECT_NE(read_file(dir / "bundle/model_card.md").find("a pretrained transformer fine-tuned"),
            std::string::npos);
  expect_bundle_passes_and_predicts_as_run(run, dir / "bundle");

  // --quantize int8: its own gate (every probability within 0.35, at least 95% of each task's
  // decisions the same), recorded as int8 in the manifest, parity.json, the graph's metadata
  // and the model card; verify re-checks it at the recorded thresholds.
  const fs::path int8 = dir / "bundle-int8";
  ASSERT_EQ(run_tenor("export --run " + run.string() + " --out " + int8.string() +
                          " --quantize int8",
                      &out),
            0)
      << out;
  const auto p8 = json::parse(read_file(int8 / "parity.json"));
  EXPECT_TRUE(p8["passed"].get<bool>()) << p8.dump();
  EXPECT_EQ(p8["quantize"], "int8");
  EXPECT_EQ(p8["tolerance"], 0.35);
  EXPECT_EQ(p8["min_agreement"], 0.95);
  EXPECT_GT(p8["max_abs_delta"].get<double>(), 1e-6) << "the graph is not quantised";
  EXPECT_EQ(json::parse(read_file(int8 / "manifest.json"))["quantize"], "int8");
  EXPECT_EQ(json::parse(read_file(dir / "bundle/manifest.json"))["quantize"], "none");
  EXPECT_NE(read_file(int8 / "model.onnx").find("tenor.quantize"), std::string::npos);
  EXPECT_NE(read_file(int8 / "model_card.md").find("This bundle is int8"), std::string::npos);
  EXPECT_EQ(read_file(dir / "bundle/model_card.md").find("This bundle is int8"), std::string::npos);
  ASSERT_EQ(run_tenor("export verify " + int8.string(), &out), 0) << out;
  // A gate the int8 graph cannot meet fails loudly with the numbers and writes no bundle.
  const fs::path strict = dir / "bundle-strict";
  EXPECT_EQ(run_tenor("export --run " + run.string() + " --out " + strict.string() +
                          " --quantize int8 --tolerance 1e-9",
                      &out),
            1);
  EXPECT_NE(out.find("parity FAILED"), std::string::npos) << out;
  EXPECT_NE(out.find("(tolerance 1e-09)"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(strict));
  EXPECT_EQ(json::parse(read_file(fs::path(strict.string() + ".rejected") / "parity.json"))["quantize"],
            "int8");
  EXPECT_EQ(run_tenor("export --run " + run.string() + " --out " + strict.string() +
                          " --quantize int4",
                      &out),
            2);
  EXPECT_NE(out.find("--quantize int4 is not a quantisation tenor knows"), std::string::npos) << out;
  EXPECT_EQ(run_tenor("export --run " + run.string() + " --out " + strict.string() +
                          " --quantize int8 --min-agreement 0",
                      &out),
            2);

  // A tokenizer.json replaced in the run is refused by name.
  write_file_atomic(run / "text_encoder/tokenizer.json",
                    read_file(run / "text_encoder/tokenizer.json") + " ");
  EXPECT_EQ(run_tenor("eval --run " + run.string() + " --data " + tiny_store().string() +
                          " --out " + (dir / "eval2").string(),
                      &out),
            1);
  EXPECT_NE(out.find("text_encoder/tokenizer.json has SHA-256"), std::string::npos) << out;
}

// MPNet through the same path: <s> A </s></s> B </s> pairs (the sentence, not the all-0 type
// ids, tells a row's own text), positions over the non-pad ids and the relative bias trained,
// exported through the parity gate and predicted by the bundle as by the run.
TEST(E2eTextEncoder, AnMpnetEncoderFineTunesExportsAndPredictsAsTrained) {
  if (!fs::exists(text_encoder_dir("mpnet-base") / "tokenizer.json"))
    GTEST_SKIP() << "no fetched mpnet-base; run tools/text-encoders/fetch.sh mpnet-base";
  const fs::path dir = make_temp_dir("text-encoder-mpnet");
  const fs::path encoder = tiny_encoder(dir / "encoder", 30527, true);
  std::string out;
  ASSERT_EQ(run_tenor("train --config " + config_for(dir, encoder) + " --set epochs=2", &out), 0)
      << out;
  const fs::path run = dir / "run";
  const auto shape = json::parse(read_file(run / "shape.json"));
  EXPECT_EQ(shape["transformer"]["model_type"], "mpnet");
  const auto start = train::read_safetensors(encoder / "model.safetensors");
  train::RunPredictor predictor(run);
  const auto params = predictor.run().model->named_parameters();
  EXPECT_FALSE(torch::equal(params["bert.encoder.relative_attention_bias.weight"],
                            start.at("encoder.relative_attention_bias.weight")));
  EXPECT_FALSE(torch::equal(params["bert.encoder.layer.1.attention.output.dense.weight"],
                            start.at("encoder.layer.1.attention.attn.o.weight")));
  ASSERT_EQ(run_tenor("export --run " + run.string() + " --out " + (dir / "bundle").string(), &out),
            0)
      << out;
  expect_bundle_passes_and_predicts_as_run(run, dir / "bundle");
}

TEST(E2eTextEncoder, FrozenLayersAndAFrozenStartKeepThePretrainedWeights) {
  if (!fs::exists(text_encoder_dir() / "tokenizer.json"))
    GTEST_SKIP() << "no fetched text encoder at " << text_encoder_dir();
  const fs::path dir = make_temp_dir("text-encoder-frozen");
  const fs::path encoder = tiny_encoder(dir / "encoder");
  const auto start = train::read_safetensors(encoder / "model.safetensors");
  auto trained = [&](const std::string& name, const std::string& set) {
    fs::create_directories(dir / name);
    std::string out;
    EXPECT_EQ(run_tenor("train --config " + config_for(dir / name, encoder) +
                            " --set epochs=2 --set checkpoint_every_steps=100" + set,
                        &out),
              0)
        << out;
    return train::RunPredictor(dir / name / "run").run().model->named_parameters();
  };
  auto same = [&](const torch::OrderedDict<std::string, torch::Tensor>& p, const std::string& key) {
    return torch::equal(p[key], start.at(key.substr(std::string("bert.").size())));
  };
  // Only the top block trains: the first block and the embeddings keep their start.
  const auto top = trained("top", " --set model.encoder_trainable_layers=1");
  EXPECT_TRUE(same(top, "bert.encoder.layer.0.output.dense.weight"));
  EXPECT_TRUE(same(top, "bert.embeddings.word_embeddings.weight"));
  EXPECT_FALSE(same(top, "bert.encoder.layer.1.output.dense.weight"));
  // Frozen for every epoch: the encoder keeps its start, the layers above it train.
  const auto frozen = trained("frozen", " --set optim.encoder_frozen_epochs=2");
  EXPECT_TRUE(same(frozen, "bert.encoder.layer.1.output.dense.weight"));
  EXPECT_TRUE(same(frozen, "bert.embeddings.word_embeddings.weight"));
  // Frozen for the first epoch only: the states kept while it was frozen are dropped when it
  // thaws, and every block and the embeddings learn in the second (read from last.pt: the
  // tiny run's best epoch may be the first).
  trained("thawed", " --set optim.encoder_frozen_epochs=1");
  train::RunPredictor thawed_run(dir / "thawed" / "run");
  auto& thawed_model = *thawed_run.run().model;
  train::load_checkpoint(dir / "thawed" / "run" / "last.pt", thawed_model, nullptr, false);
  const auto thawed = thawed_model.named_parameters();
  EXPECT_FALSE(same(thawed, "bert.encoder.layer.0.output.dense.weight"));
  EXPECT_FALSE(same(thawed, "bert.embeddings.word_embeddings.weight"));
}

// The frozen bottom's states are kept in memory only: a run killed mid-epoch computes them
// again when it resumes and ends with the metrics of an uninterrupted run.
TEST(E2eTextEncoder, APartlyFrozenEncoderResumesWithTheSameMetricsAfterSigkill) {
  if (!fs::exists(text_encoder_dir() / "tokenizer.json"))
    GTEST_SKIP() << "no fetched text encoder at " << text_encoder_dir();
  const fs::path dir = make_temp_dir("text-encoder-resume");
  const std::string model =
      model_block(tiny_encoder(dir / "encoder"), "  encoder_trainable_layers: 1\n");
  fs::create_directories(dir / "full");
  fs::create_directories(dir / "cut");
  std::string out;
  ASSERT_EQ(run_tenor("train --config " + write_train_config(dir / "full", model).string(), &out),
            0)
      << out;
  expect_a_killed_run_to_resume_as(dir / "full" / "run", dir / "cut", model);
  // With room for a few rows' states only, the others are computed again every epoch: the
  // same numbers, and the log says how to keep them all.
  fs::create_directories(dir / "small");
  ASSERT_EQ(run_tenor("train --config " + write_train_config(dir / "small", model).string() +
                          " --set encoder_cache_gb=0.000002",
                      &out),
            0)
      << out;
  EXPECT_NE(out.find("frozen encoder states kept in memory: 0.00 GB (encoder_cache_gb: 2e-06)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("raise encoder_cache_gb"), std::string::npos) << out;
  EXPECT_EQ(metrics_without_timing(dir / "full" / "run"),
            metrics_without_timing(dir / "small" / "run"));
}

TEST(E2eTextEncoder, BadEncodersAreRefusedBeforeTraining) {
  if (!fs::exists(text_encoder_dir() / "tokenizer.json"))
    GTEST_SKIP() << "no fetched text encoder at " << text_encoder_dir();
  const fs::path dir = make_temp_dir("text-encoder-bad");
  std::string out;
  fs::create_directories(dir / "name");
  EXPECT_EQ(run_tenor("train --config " + config_for(dir / "name", "minilm-l7"), &out), 2);
  EXPECT_NE(out.find("did you mean 'minilm-l6'"), std::string::npos) << out;

  const fs::path missing = tiny_encoder(dir / "missing");
  fs::remove(missing / "model.safetensors");
  fs::create_directories(dir / "m");
  EXPECT_EQ(run_tenor("train --config " + config_for(dir / "m", missing), &out), 2);
  EXPECT_NE(out.find("has no model.safetensors"), std::string::npos) << out;

  const fs::path small = tiny_encoder(dir / "small-vocab", 100);
  fs::create_directories(dir / "v");
  EXPECT_EQ(run_tenor("train --config " + config_for(dir / "v", small), &out), 1);
  EXPECT_NE(out.find("the vocabulary belongs to another encoder"), std::string::npos) << out;

  const fs::path encoder = tiny_encoder(dir / "encoder");
  fs::create_directories(dir / "long");
  EXPECT_EQ(run_tenor("train --config " + config_for(dir / "long", encoder) +
                          " --set model.max_tokens=65",
                      &out),
            2);
  EXPECT_NE(out.find("reads at most 64 tokens"), std::string::npos) << out;
  for (const char* d : {"name", "m", "v", "long"}) EXPECT_FALSE(fs::exists(dir / d / "run/last.pt"));
}

}  // namespace
}  // namespace tenor::test
