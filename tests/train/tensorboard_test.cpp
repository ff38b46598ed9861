// TensorBoard event files: CRC-32C, TFRecord framing and the Event messages against known
// bytes, and what a fresh or resumed run leaves in RUN/tensorboard.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/atomic_file.h"
#include "tests/data/fixtures.h"
#include "train/tensorboard.h"

namespace tenor::test {
namespace {
using train::crc32c;
using train::masked_crc32c;
namespace events = train::events;

std::string hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    out += digits[uint8_t(c) >> 4];
    out += digits[uint8_t(c) & 15];
  }
  return out;
}

TEST(TensorBoard, Crc32cMatchesRfc3720) {
  EXPECT_EQ(crc32c(""), 0u);
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);  // the CRC catalogue's check value
  // RFC 3720, appendix B.4.
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending, descending;
  for (int i = 0; i < 32; ++i) ascending += char(i), descending += char(31 - i);
  EXPECT_EQ(crc32c(ascending), 0x46DD794Eu);
  EXPECT_EQ(crc32c(descending), 0x113FDB5Cu);
  EXPECT_EQ(masked_crc32c(""), 0xa282ead8u);  // the mask's constant alone
}

// The expected bytes are what TensorBoard 2.21.0's RecordWriter and protobuf write for the
// same content (tests/train/tensorboard_read.sh vectors).
TEST(TensorBoard, RecordsAndEventsAreTheBytesTensorBoardWrites) {
  EXPECT_EQ(hex(train::tf_record("")), "000000000000000029039807d8ea82a2");
  EXPECT_EQ(hex(train::tf_record("hello")), "0500000000000000eab2043e68656c6c6fbb1f1c19");
  EXPECT_EQ(hex(events::scalar(1.5, 7, "train/loss", 0.25f)),
            "09000000000000f83f10072a130a110a0a747261696e2f6c6f7373150000803e");
  EXPECT_EQ(hex(events::text(1.5, 0, "config", "a: 1")),
            "09000000000000f83f2a220a200a06636f6e666967420a080712004204613a20314a0a0a060a04746578"
            "742002");
  EXPECT_EQ(hex(events::file_version(1.5)), "09000000000000f83f1a0d627261696e2e4576656e743a32");
  EXPECT_EQ(hex(events::session_start(1.5, 3)), "09000000000000f83f10033a020801");
  int64_t step;
  std::string tag;
  events::step_and_tag(events::scalar(1.5, 7, "train/loss", 0.25f), &step, &tag);
  EXPECT_EQ(step, 7);
  EXPECT_EQ(tag, "train/loss");
}

TEST(TensorBoard, ReadingStopsAtARecordCutShortOrDamaged) {
  const std::string file = train::tf_record("one") + train::tf_record("two");
  bool complete = false;
  EXPECT_EQ(train::read_tf_records(file, &complete), (std::vector<std::string>{"one", "two"}));
  EXPECT_TRUE(complete);
  EXPECT_EQ(train::read_tf_records(file.substr(0, file.size() - 2), &complete),
            std::vector<std::string>{"one"});
  EXPECT_FALSE(complete);
  std::string flipped = file;
  flipped[file.size() - 6] ^= 1;  // a byte of "two"
  EXPECT_EQ(train::read_tf_records(flipped, &complete), std::vector<std::string>{"one"});
  EXPECT_FALSE(complete);
}

/// (step, tag) of every summary in RUN/tensorboard, file by file in name order.
std::vector<std::pair<int64_t, std::string>> points(const fs::path& run) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(run / "tensorboard")) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<std::pair<int64_t, std::string>> out;
  for (const auto& f : files)
    for (const auto& r : train::read_tf_records(read_file(f))) {
      int64_t step;
      std::string tag;
      events::step_and_tag(r, &step, &tag);
      if (!tag.empty()) out.emplace_back(step, tag);
    }
  return out;
}

void train_two_epochs(train::TrainingBoard& board, int64_t from_step) {
  for (int64_t s = from_step; s <= 4; ++s) {
    board.batch(1.0 / double(s), 8);
    board.step(s, 0.001, 2.0);
    if (s % 2 == 0) board.epoch({{"step", s}, {"train_loss", 0.5}, {"dev_loss", 0.6}});
  }
}

TEST(TensorBoard, AResumedRunDropsWhatItsCheckpointDoesNotCover) {
  const fs::path run = make_temp_dir("tensorboard-resume");
  {
    train::TrainingBoard board(run, -1, false, "a: 1\n");
    train_two_epochs(board, 1);  // dies after epoch 2's points, before its checkpoint
  }
  // Resumed from the checkpoint of step 4, the last batch of epoch 2 (not yet closed): the
  // step points up to 4 stay, epoch 2's points go, and are written again.
  train::TrainingBoard resumed(run, 4, /*epoch_pending=*/true, "");
  resumed.epoch({{"step", 4}, {"train_loss", 0.5}, {"dev_loss", 0.7}});
  using P = std::vector<std::pair<int64_t, std::string>>;
  P expected = {{0, "config"}};
  for (int64_t s = 1; s <= 4; ++s) {
    for (const char* tag :
         {"train/loss", "train/learning_rate", "train/grad_norm", "train/segments_per_s"})
      expected.emplace_back(s, tag);
    if (s == 2) expected.insert(expected.end(), {{2, "epoch/train_loss"}, {2, "epoch/dev_loss"}});
  }
  expected.insert(expected.end(), {{4, "epoch/train_loss"}, {4, "epoch/dev_loss"}});
  EXPECT_EQ(points(run), expected);
  EXPECT_EQ(std::distance(fs::directory_iterator(run / "tensorboard"), {}), 2);

  // Started afresh (no checkpoint): the earlier files go.
  train::TrainingBoard fresh(run, -1, false, "a: 1\n");
  fresh.step(1, 0.001, 2.0);
  EXPECT_EQ(points(run), (P{{0, "config"}, {1, "train/learning_rate"}, {1, "train/grad_norm"},
                            {1, "train/segments_per_s"}}));
}

TEST(TensorBoard, AFinishedRunStartedAgainAddsNoFile) {
  const fs::path run = make_temp_dir("tensorboard-finished");
  { train::TrainingBoard board(run, -1, false, "a: 1\n"); train_two_epochs(board, 1); }
  { train::TrainingBoard again(run, 4, false, ""); }
  EXPECT_EQ(std::distance(fs::directory_iterator(run / "tensorboard"), {}), 1);
  EXPECT_EQ(points(run).size(), 1u + 4 * 4 + 2 * 2);
}

}  // namespace
}  // namespace tenor::test
