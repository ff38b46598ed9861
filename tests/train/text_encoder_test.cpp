// The native BERT encoder against Hugging Face `transformers` on the same weights
// (all-MiniLM-L6-v2, fetched by tools/text-encoders/fetch.sh) and inputs tokenised by
// tenor's WordPiece tokenizer: last hidden states and mean-pooled vectors within 1e-4 in
// fp32. The reference runs through tools/text-encoders/reference.sh; the comparison is
// skipped when no torch is installed for it. Bad files are refused with the fix.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/features/wordpiece.h"
#include "tests/features/text_encoder_dir.h"
#include "train/text_encoder.h"

namespace tenor::train {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

fs::path scratch(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / (name + "-" + std::to_string(getpid()));
  fs::create_directories(d);
  return d;
}

/// A padded batch of texts (one a pair) as the encoder takes it.
struct Batch {
  torch::Tensor ids, type_ids, mask;
  json as_json() const {
    auto rows = [](const torch::Tensor& t) {
      json out = json::array();
      for (int64_t i = 0; i < t.size(0); ++i) {
        auto r = t[i].contiguous();
        out.push_back(std::vector<int64_t>(r.data_ptr<int64_t>(), r.data_ptr<int64_t>() + r.numel()));
      }
      return out;
    };
    return {{"ids", rows(ids)}, {"type_ids", rows(type_ids)}, {"mask", rows(mask)}};
  }
};

Batch hard_batch(const features::WordPieceTokenizer& tok) {
  std::vector<features::WordPieceTokenizer::Encoding> rows = {
      tok.encode("I understand how frustrating that must be. Let's fix it together."),
      tok.encode("THIS IS UNACCEPTABLE!!! I've waited 45 minutes 😡"),
      tok.encode("Café naïve 東京 ok"),
      tok.encode("I lost my job today.", std::string_view("That sounds really hard, I'm sorry.")),
      tok.encode("")};
  size_t l = 0;
  for (const auto& r : rows) l = std::max(l, r.ids.size());
  Batch b{torch::zeros({int64_t(rows.size()), int64_t(l)}, torch::kLong),
          torch::zeros({int64_t(rows.size()), int64_t(l)}, torch::kLong),
          torch::zeros({int64_t(rows.size()), int64_t(l)}, torch::kLong)};
  for (size_t i = 0; i < rows.size(); ++i)
    for (size_t j = 0; j < rows[i].ids.size(); ++j) {
      b.ids[int64_t(i)][int64_t(j)] = rows[i].ids[j];
      b.type_ids[int64_t(i)][int64_t(j)] = rows[i].type_ids[j];
      b.mask[int64_t(i)][int64_t(j)] = 1;
    }
  return b;
}

TEST(TextEncoder, SameOutputsAsHuggingFaceTransformers) {
  const fs::path dir = test::text_encoder_dir();
  const features::WordPieceTokenizer tok(dir / "tokenizer.json");
  BertEncoder encoder = load_text_encoder(dir);
  const Batch b = hard_batch(tok);
  torch::NoGradGuard no_grad;
  const auto hidden = encoder->forward(b.ids, b.type_ids, b.mask);
  const auto pooled = BertEncoderImpl::mean_pool(hidden, b.mask);
  EXPECT_EQ(hidden.sizes(), (std::vector<int64_t>{5, b.ids.size(1), 384}));

  const fs::path work = scratch("encoder-ref");
  write_file_atomic(work / "batch.json", b.as_json().dump());
  const std::string cmd = std::string(TENOR_SOURCE_DIR) + "/tools/text-encoders/reference.sh encode " +
                          dir.string() + " " + (work / "batch.json").string() + " " +
                          (work / "out.json").string();
  const int rc = std::system(cmd.c_str());
  if (WIFEXITED(rc) && WEXITSTATUS(rc) == 3) GTEST_SKIP() << "no torch for the reference";
  ASSERT_EQ(rc, 0) << cmd;
  const json ref = json::parse(read_file(work / "out.json"));
  double worst_hidden = 0, worst_pooled = 0;
  for (int64_t i = 0; i < hidden.size(0); ++i) {
    for (int64_t t = 0; t < hidden.size(1); ++t) {
      if (b.mask[i][t].item<int64_t>() == 0) continue;  // padding rows are not outputs
      for (int64_t h = 0; h < hidden.size(2); ++h)
        worst_hidden = std::max(worst_hidden, std::abs(hidden[i][t][h].item<double>() -
                                                       ref["hidden"][i][t][h].get<double>()));
    }
    for (int64_t h = 0; h < pooled.size(1); ++h)
      worst_pooled = std::max(worst_pooled, std::abs(pooled[i][h].item<double>() -
                                                     ref["pooled"][i][h].get<double>()));
  }
  EXPECT_LT(worst_hidden, 1e-4) << "transformers " << ref["transformers"];
  EXPECT_LT(worst_pooled, 1e-4);
  RecordProperty("max_abs_delta_hidden", std::to_string(worst_hidden));
  std::printf("max |delta| against transformers %s (torch %s): hidden %.3g, pooled %.3g\n",
              ref["transformers"].get<std::string>().c_str(), ref["torch"].get<std::string>().c_str(),
              worst_hidden, worst_pooled);
  fs::remove_all(work);
}

TEST(TextEncoder, RefusesFilesThatDoNotBelongTogether) {
  const fs::path src = test::text_encoder_dir();
  const fs::path dir = scratch("encoder-bad");
  auto expect_refused = [&](const std::string& needle) {
    try {
      load_text_encoder(dir);
      ADD_FAILURE() << "accepted: " << needle;
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_refused("has no config.json");
  json config = json::parse(read_file(src / "config.json"));
  config["model_type"] = "roberta";
  write_file_atomic(dir / "config.json", config.dump());
  fs::copy_file(src / "model.safetensors", dir / "model.safetensors");
  expect_refused("model_type is not bert");
  config["model_type"] = "bert";
  config["intermediate_size"] = 1024;
  write_file_atomic(dir / "config.json", config.dump());
  expect_refused("has shape");
  config["intermediate_size"] = 1536;
  write_file_atomic(dir / "config.json", config.dump());
  fs::resize_file(dir / "model.safetensors", 1000);
  expect_refused("is damaged");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tenor::train
