// The native BERT encoder against Hugging Face `transformers` on the same weights
// (all-MiniLM-L6-v2, fetched by tools/text-encoders/fetch.sh) and inputs tokenised by
// tenor's WordPiece tokenizer: last hidden states and mean-pooled vectors within 1e-4 in
// fp32. The reference runs through tools/text-encoders/reference.sh; the comparison is
// skipped when no torch is installed for it. Bad files are refused with the fix.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/features/wordpiece.h"
#include "tests/features/json_tensor.h"
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

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
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
      tok.encode(""),
      // MPNet counts positions over the ids that are not <pad>, so a literal "<pad>" (its pad
      // id) in the text shifts the rest; 150 words reach the relative bias's last bucket.
      tok.encode("a <pad> in the text, then " + repeat("and on ", 75))};
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

/// Each encoder tools/text-encoders/fetch.sh knows, with its width.
class TextEncoderOf : public ::testing::TestWithParam<std::pair<std::string, int64_t>> {};

TEST_P(TextEncoderOf, SameOutputsAsHuggingFaceTransformers) {
  const auto& [name, width] = GetParam();
  const fs::path dir = test::text_encoder_dir(name);
  const features::WordPieceTokenizer tok(dir / "tokenizer.json");
  BertEncoder encoder = load_text_encoder(dir);
  const Batch b = hard_batch(tok);
  torch::NoGradGuard no_grad;
  const auto hidden = encoder->forward(b.ids, b.type_ids, b.mask);
  const auto pooled = BertEncoderImpl::mean_pool(hidden, b.mask);
  EXPECT_EQ(hidden.sizes(), (std::vector<int64_t>{6, b.ids.size(1), width}));

  const fs::path work = scratch("encoder-ref");
  write_file_atomic(work / "batch.json", b.as_json().dump());
  const std::string cmd = std::string(TENOR_SOURCE_DIR) + "/tools/text-encoders/reference.sh encode " +
                          dir.string() + " " + (work / "batch.json").string() + " " +
                          (work / "out.json").string();
  const int rc = std::system(cmd.c_str());
  if (WIFEXITED(rc) && WEXITSTATUS(rc) == 3) GTEST_SKIP() << "no torch for the reference";
  ASSERT_EQ(rc, 0) << cmd;
  const json ref = json::parse(read_file(work / "out.json"));
  // Padding positions are not outputs: compared on the mask's tokens only.
  const auto tokens = b.mask.unsqueeze(-1).to(torch::kDouble);
  const double worst_hidden =
      ((hidden.to(torch::kDouble) - test::json_tensor(ref["hidden"])).abs() * tokens)
          .max()
          .item<double>();
  const double worst_pooled =
      (pooled.to(torch::kDouble) - test::json_tensor(ref["pooled"])).abs().max().item<double>();
  EXPECT_LT(worst_hidden, 1e-4) << "transformers " << ref["transformers"];
  EXPECT_LT(worst_pooled, 1e-4);
  RecordProperty("max_abs_delta_hidden", std::to_string(worst_hidden));
  std::printf("max |delta| against transformers %s (torch %s): hidden %.3g, pooled %.3g\n",
              ref["transformers"].get<std::string>().c_str(), ref["torch"].get<std::string>().c_str(),
              worst_hidden, worst_pooled);
  fs::remove_all(work);
}

INSTANTIATE_TEST_SUITE_P(
    Encoders, TextEncoderOf,
    ::testing::Values(std::pair<std::string, int64_t>{"minilm-l6", 384},
                      std::pair<std::string, int64_t>{"mpnet-base", 768}),
    [](const auto& info) { return test::encoder_test_name(info.param.first); });

TEST(TextEncoder, MpnetWeightsLoadUnderTheirOwnNamesAndPositionsSkipPadIds) {
  const fs::path dir = test::text_encoder_dir("mpnet-base");
  BertEncoder encoder = load_text_encoder(dir);
  const BertConfig& c = encoder->config();
  EXPECT_EQ(c.model_type, "mpnet");
  EXPECT_EQ(c.type_vocab_size, 0);
  EXPECT_EQ(c.relative_buckets, 32);
  EXPECT_FALSE(encoder->embeddings().token_type);
  // Positions start after the pad id: 514 embeddings hold 512 tokens (model.max_tokens'
  // limit), and the tokenizer pads with the id the positions skip.
  EXPECT_EQ(c.max_tokens(), 512);
  EXPECT_EQ(features::WordPieceTokenizer(dir / "tokenizer.json").pad_id(), c.pad_token_id);
  EXPECT_THROW(encoder->forward(torch::full({1, 513}, 5, torch::kLong),
                                torch::zeros({1, 513}, torch::kLong),
                                torch::ones({1, 513}, torch::kLong)),
               std::invalid_argument);
  // attn.o of the checkpoint is attention.output.dense here.
  const auto tensors = read_safetensors(dir / "model.safetensors");
  const auto& o = encoder->blocks()[3]->attention->output->dense->weight;
  EXPECT_TRUE(torch::equal(o, tensors.at("encoder.layer.3.attention.attn.o.weight")));
  EXPECT_TRUE(torch::equal(encoder->relative_attention_bias()->weight,
                           tensors.at("encoder.relative_attention_bias.weight")));
  // Positions count from pad + 1 over the ids that are not the pad id (1).
  const auto ids = torch::tensor({0, 7, 1, 8, 2}, torch::kLong).view({1, 5});
  EXPECT_TRUE(torch::equal(encoder->position_ids(ids),
                           torch::tensor({2, 3, 1, 4, 5}, torch::kLong).view({1, 5})));
  // T5's buckets (Hugging Face's values): exact below 8 a side, logarithmic to 128; a key
  // after its query in the upper half.
  const auto offsets = torch::tensor(
      {0, 1, 7, 8, 15, 16, 127, 128, 1000, -1, -7, -8, -16, -32, -1000}, torch::kLong);
  EXPECT_TRUE(torch::equal(
      bert::relative_position_bucket(offsets, 32),
      torch::tensor({0, 17, 23, 24, 25, 26, 31, 31, 31, 1, 7, 8, 10, 12, 15}, torch::kLong)));
  // Its configuration round-trips through a run's shape.json; older runs read as BERT.
  EXPECT_EQ(BertConfig::from_json(c.to_json(), "shape.json"), c);
  auto old = load_text_encoder(test::text_encoder_dir("minilm-l6"))->config().to_json();
  for (const char* k : {"model_type", "relative_buckets", "pad_token_id"}) old.erase(k);
  EXPECT_EQ(BertConfig::from_json(old, "shape.json").model_type, "bert");
}

// model.encoder_trainable_layers: 0 keeps the encoder a fixed feature extractor: without
// dropout, a row's vector the same whatever its batch, and computed once while training.
TEST(TextEncoder, AFrozenEncodersVectorsAreEachRowsAloneAndKeptWhileTraining) {
  const fs::path dir = test::text_encoder_dir();
  const features::WordPieceTokenizer tok(dir / "tokenizer.json");
  BertEncoder encoder = load_text_encoder(dir);
  const Batch b = hard_batch(tok);
  encoder->train();  // as the trainer leaves it: frozen_pooled must not use dropout
  const auto all = encoder->frozen_pooled(b.ids, b.type_ids, b.mask);
  EXPECT_TRUE(encoder->is_training()) << "the mode is restored";
  EXPECT_FALSE(all.requires_grad());
  EXPECT_EQ(encoder->frozen_computed(), 6);
  torch::Tensor expected;
  {
    torch::NoGradGuard no_grad;
    encoder->eval();
    expected = BertEncoderImpl::mean_pool(encoder->forward(b.ids, b.type_ids, b.mask), b.mask);
    encoder->train();
  }
  EXPECT_LT((all - expected).abs().max().item<double>(), 1e-5);
  // Row 3 in a batch of its own (its padding cut) has the very same vector.
  const int64_t n = b.mask[3].sum().item<int64_t>();
  const auto alone = encoder->frozen_pooled(b.ids.slice(0, 3, 4).slice(1, 0, n),
                                            b.type_ids.slice(0, 3, 4).slice(1, 0, n),
                                            b.mask.slice(0, 3, 4).slice(1, 0, n));
  EXPECT_TRUE(torch::equal(alone[0], all[3]));
  EXPECT_EQ(encoder->frozen_computed(), 7) << "nothing kept unless asked";
  encoder->keep_frozen_vectors(true);
  const auto first = encoder->frozen_pooled(b.ids, b.type_ids, b.mask);
  const auto again = encoder->frozen_pooled(b.ids, b.type_ids, b.mask);
  EXPECT_EQ(encoder->frozen_computed(), 13) << "the second read is a lookup";
  EXPECT_TRUE(torch::equal(first, again));
  EXPECT_TRUE(torch::equal(first, all));
}

// train_top is how `tenor train`, the unit tests and bench_text_encoder freeze an encoder:
// each block at its depth below the top, the embeddings deepest, everything else frozen.
TEST(TextEncoder, TrainTopFreezesAllButTheTopBlocksAndGroupsThemByDepth) {
  BertEncoder encoder = load_text_encoder(test::text_encoder_dir());
  const auto blocks = encoder->blocks();
  const int n = int(blocks.size());
  auto count = [](const std::vector<torch::Tensor>& ps) {
    size_t k = 0;
    for (const auto& p : ps) k += p.requires_grad() ? 1 : 0;
    return k;
  };
  const size_t all = encoder->parameters().size(), per_block = blocks[0]->parameters().size();
  auto by_depth = encoder->train_top(2);
  ASSERT_EQ(by_depth.size(), 2u);
  EXPECT_TRUE(by_depth.at(0)[0].is_same(blocks[size_t(n - 1)]->parameters()[0]));
  EXPECT_TRUE(by_depth.at(1)[0].is_same(blocks[size_t(n - 2)]->parameters()[0]));
  EXPECT_EQ(by_depth.at(0).size(), per_block);
  EXPECT_EQ(count(encoder->parameters()), 2 * per_block);
  EXPECT_EQ(count(blocks[size_t(n - 3)]->parameters()), 0u);
  EXPECT_EQ(count(encoder->embeddings().parameters()), 0u);
  EXPECT_EQ(encoder->frozen_depth(), n - 2);

  by_depth = encoder->train_top(-1);  // all of it: the embeddings one step below the first
  ASSERT_EQ(by_depth.size(), size_t(n + 1));
  EXPECT_EQ(count(encoder->parameters()), all);
  EXPECT_EQ(by_depth.at(n).size(), all - size_t(n) * per_block);
  EXPECT_TRUE(by_depth.at(n)[0].is_same(encoder->embeddings().parameters()[0]));
  EXPECT_EQ(encoder->frozen_depth(), 0);

  EXPECT_TRUE(encoder->train_top(0).empty());
  EXPECT_EQ(count(encoder->parameters()), 0u);
  EXPECT_TRUE(encoder->train_top(n + 5).size() == size_t(n + 1));  // more than it has: all
}

// The frozen bottom of a partly trained encoder (model.encoder_trainable_layers > 0,
// optim.encoder_frozen_epochs) is computed once per row while training: the states of a plain
// eval-mode run, gradients in the blocks that train only, and kept states forgotten when
// another number of blocks trains.
TEST(TextEncoder, AFrozenBottomIsComputedOncePerRowAndOnlyTheTopTrains) {
  const fs::path dir = test::text_encoder_dir();
  const features::WordPieceTokenizer tok(dir / "tokenizer.json");
  BertEncoder encoder = load_text_encoder(dir);
  const Batch b = hard_batch(tok);
  auto eval_forward = [&](const torch::Tensor& ids, const torch::Tensor& types,
                          const torch::Tensor& mask) {
    torch::NoGradGuard no_grad;
    encoder->eval();
    return encoder->forward(ids, types, mask);
  };
  const auto expected = eval_forward(b.ids, b.type_ids, b.mask);
  const auto blocks = encoder->blocks();
  encoder->train_top(2);
  EXPECT_EQ(encoder->frozen_depth(), int(blocks.size()) - 2);
  encoder->keep_frozen_vectors(true);
  EXPECT_LT((eval_forward(b.ids, b.type_ids, b.mask) - expected).abs().max().item<double>(), 1e-5);
  EXPECT_EQ(encoder->frozen_computed(), 6);

  encoder->train();  // dropout above the bottom; the bottom is looked up
  encoder->forward(b.ids, b.type_ids, b.mask).pow(2).mean().backward();
  EXPECT_EQ(encoder->frozen_computed(), 6);
  EXPECT_TRUE(blocks.back()->output->dense->weight.grad().defined());
  EXPECT_FALSE(blocks.front()->output->dense->weight.grad().defined());

  // Row 3 alone, its padding cut, is the same row: looked up, the same states.
  const int64_t n = b.mask[3].sum().item<int64_t>();
  const auto alone = eval_forward(b.ids.slice(0, 3, 4).slice(1, 0, n),
                                  b.type_ids.slice(0, 3, 4).slice(1, 0, n),
                                  b.mask.slice(0, 3, 4).slice(1, 0, n));
  EXPECT_LT((alone[0] - expected[3].slice(0, 0, n)).abs().max().item<double>(), 1e-5);
  EXPECT_EQ(encoder->frozen_computed(), 6);

  encoder->train_top(3);  // one more block trains: the kept states are one block too deep
  EXPECT_LT((eval_forward(b.ids, b.type_ids, b.mask) - expected).abs().max().item<double>(), 1e-5);
  EXPECT_EQ(encoder->frozen_computed(), 12);

  for (auto& p : encoder->parameters()) p.requires_grad_(true);  // all train: nothing kept
  EXPECT_EQ(encoder->frozen_depth(), 0);
  eval_forward(b.ids, b.type_ids, b.mask);
  EXPECT_EQ(encoder->frozen_computed(), 12);
  // Left padding would mix rows up: refused.
  EXPECT_THROW(encoder->frozen_pooled(b.ids, b.type_ids, b.mask.flip(1)), std::invalid_argument);
}

// encoder_cache_gb bounds what is kept: rows beyond it are computed again on every read, to
// the same states, and what a deeper bottom forgets goes back to the budget.
TEST(TextEncoder, KeptStatesStayWithinTheirBudgetAndTheRestIsComputedAgain) {
  const fs::path dir = test::text_encoder_dir();
  const features::WordPieceTokenizer tok(dir / "tokenizer.json");
  BertEncoder encoder = load_text_encoder(dir);
  const Batch b = hard_batch(tok);
  auto eval_forward = [&] {
    torch::NoGradGuard no_grad;
    encoder->eval();
    return encoder->forward(b.ids, b.type_ids, b.mask);
  };
  const auto expected = eval_forward();
  // Room for rows 0 and 1: their tokens' states, 4 bytes per hidden value.
  const int64_t two_rows = (b.mask[0].sum().item<int64_t>() + b.mask[1].sum().item<int64_t>()) *
                           encoder->config().hidden_size * 4;
  encoder->train_top(2);
  encoder->keep_frozen_vectors(true, two_rows);
  const auto first = eval_forward();
  EXPECT_LT((first - expected).abs().max().item<double>(), 1e-5);
  EXPECT_EQ(encoder->kept_bytes(), two_rows);
  EXPECT_EQ(encoder->frozen_computed(), 6);
  EXPECT_EQ(encoder->not_kept(), 4);
  EXPECT_TRUE(torch::equal(eval_forward(), first)) << "computed again, to the same states";
  EXPECT_EQ(encoder->frozen_computed(), 10) << "rows 0 and 1 are looked up, 2-5 computed";
  encoder->train_top(3);  // the kept states are stale: forgotten, their bytes free again
  eval_forward();
  EXPECT_EQ(encoder->kept_bytes(), two_rows);
  EXPECT_EQ(encoder->frozen_computed(), 16);
  encoder->keep_frozen_vectors(false);
  EXPECT_EQ(encoder->kept_bytes(), 0);
  encoder->keep_frozen_vectors(true, 0);  // nothing kept: prediction's behaviour
  eval_forward();
  eval_forward();
  EXPECT_EQ(encoder->frozen_computed(), 28);
  EXPECT_EQ(encoder->kept_bytes(), 0);
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
  expect_refused("model_type 'roberta' is neither bert nor mpnet");
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
