// Checkpoint integrity: the tensor checksum written at save and checked on every load.
#include <gtest/gtest.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <fstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "tests/data/fixtures.h"
#include "train/checkpoint.h"
#include "train/model.h"

namespace tenor::test {
namespace {

std::shared_ptr<train::TaskModel> small_model() {
  train::ModelShape shape;
  shape.lld_features = 3;
  shape.functional_features = 4;
  shape.vocab_size = 50;
  train::TaskSpec task;
  task.name = "escalation";
  task.speaker = "customer";
  shape.tasks = {task};
  train::ModelConfig config;
  config.type = "linear";
  config.hash_buckets = 64;
  return train::make_model(shape, config);
}

/// A checkpoint of a model with an optimizer, and the model whose weights it holds.
struct Saved {
  fs::path path;
  std::shared_ptr<train::TaskModel> model;
};

Saved save_one(const std::string& name) {
  torch::manual_seed(7);
  Saved s{make_temp_dir(name) / "best.pt", small_model()};
  torch::optim::AdamW optimizer(s.model->parameters(), torch::optim::AdamWOptions(0.01));
  train::TrainState state;
  state.config_sha256 = "abc";
  state.best_list = "[]";
  train::save_checkpoint(s.path, *s.model, &optimizer, state);
  return s;
}

/// The byte offset of `t`'s data inside the file's bytes (the archive stores it raw).
size_t offset_of(const std::string& file, const torch::Tensor& t) {
  auto c = t.detach().contiguous();
  const std::string needle(static_cast<const char*>(c.data_ptr()),
                           std::min<size_t>(c.nbytes(), 64));
  const size_t at = file.find(needle);
  EXPECT_NE(at, std::string::npos) << "the tensor's bytes are not stored raw in the checkpoint";
  return at;
}

/// Loading `path` must throw a DataError naming the file, the reason (`why`) and the fix.
void expect_refused(const fs::path& path, const std::string& what, const std::string& why) {
  auto model = small_model();
  try {
    train::load_checkpoint(path, *model, nullptr, false);
    ADD_FAILURE() << "a " << what << " checkpoint was loaded";
  } catch (const DataError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("--checkpoint last.pt"), std::string::npos) << msg;
    EXPECT_NE(msg.find(why), std::string::npos) << msg;
  }
}

TEST(Checkpoint, RoundTripsWithTheOptimizer) {
  Saved s = save_one("ckpt-round");
  auto model = small_model();
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(0.01));
  auto state = train::load_checkpoint(s.path, *model, &optimizer, true);
  EXPECT_EQ(state.config_sha256, "abc");
  auto a = s.model->named_parameters(), b = model->named_parameters();
  for (const auto& p : a) EXPECT_TRUE(p.value().equal(b[p.key()])) << p.key();
}

TEST(Checkpoint, FlippedBytesInTheWeightsAreRefused) {
  Saved s = save_one("ckpt-flip");
  std::string bytes = read_file(s.path);
  // The largest weight: the hashed n-gram table.
  torch::Tensor largest;
  for (const auto& p : s.model->parameters())
    if (!largest.defined() || p.numel() > largest.numel()) largest = p;
  const size_t at = offset_of(bytes, largest);
  for (size_t i = 0; i < 64; ++i) bytes[at + i] = char(~bytes[at + i]);
  write_file_atomic(s.path, bytes);
  expect_refused(s.path, "damaged", "no longer match the checksum");
}

TEST(Checkpoint, ATruncatedFileIsRefused) {
  Saved s = save_one("ckpt-cut");
  const std::string bytes = read_file(s.path);
  write_file_atomic(s.path, bytes.substr(0, bytes.size() / 2));
  expect_refused(s.path, "truncated", "is damaged or not a tenor checkpoint");
  write_file_atomic(s.path, "");
  expect_refused(s.path, "empty", "is damaged or not a tenor checkpoint");
}

TEST(Checkpoint, OneWrittenBeforeTheChecksumStillLoads) {
  Saved s = save_one("ckpt-legacy");
  // Rewrite it as tenor wrote checkpoints before: the same tensors, no checksum.
  torch::serialize::InputArchive in;
  in.load_from(s.path.string());
  torch::serialize::OutputArchive out;
  for (const auto& key : in.keys()) {
    torch::Tensor t;
    if (key.rfind("integrity.", 0) != 0 && key.rfind("optimizer", 0) != 0 && in.try_read(key, t))
      out.write(key, t);
  }
  const fs::path legacy = s.path.parent_path() / "legacy.pt";
  out.save_to(legacy.string());
  auto model = small_model();
  EXPECT_EQ(train::load_checkpoint(legacy, *model, nullptr, false).config_sha256, "abc");
  auto a = s.model->named_parameters(), b = model->named_parameters();
  for (const auto& p : a) EXPECT_TRUE(p.value().equal(b[p.key()])) << p.key();
}

}  // namespace
}  // namespace tenor::test
