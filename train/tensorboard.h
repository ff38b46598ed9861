#pragma once
// TensorBoard event files of a training run (RUN/tensorboard/events.out.tfevents.*), written
// without TensorFlow or a protobuf compiler: the TFRecord framing and the few fields of the
// Event and Summary messages are encoded here by hand (tensorboard.cpp lists them).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace tenor::train {

/// The subdirectory of a run that holds its event files (`tensorboard --logdir RUN/tensorboard`).
inline constexpr const char* kRunTensorBoardDir = "tensorboard";

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) of `bytes`, as RFC 3720 defines it.
uint32_t crc32c(std::string_view bytes);

/// TFRecord's masked CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8 of crc32c(bytes).
uint32_t masked_crc32c(std::string_view bytes);

/// One TFRecord: uint64 length, uint32 masked CRC of those 8 bytes, the data, uint32 masked
/// CRC of the data (all little-endian).
std::string tf_record(std::string_view data);

/// The records of a TFRecord file's content, in order; stops at the first record that is cut
/// short or whose CRCs do not match (what a killed writer leaves), and says so in *complete.
std::vector<std::string> read_tf_records(std::string_view content, bool* complete = nullptr);

/// Serialized `tensorboard.Event` messages (the subset tenor writes).
namespace events {
/// The first event of every file: file_version "brain.Event:2".
std::string file_version(double wall_time);
/// A scalar: Summary.Value{tag, simple_value} (float, as TensorBoard stores it).
std::string scalar(double wall_time, int64_t step, std::string_view tag, float value);
/// A text summary for TensorBoard's text plugin: a scalar DT_STRING tensor with metadata
/// plugin_name "text" (content: an empty TextPluginData, version 0).
std::string text(double wall_time, int64_t step, std::string_view tag, std::string_view text);
/// SessionLog START at `step`: TensorBoard's Python reader drops the points at `step` and
/// later that it has already read (a restarted run rewrites them).
std::string session_start(double wall_time, int64_t step);
/// The step and the first summary tag of a serialized event ("" when it has none).
void step_and_tag(std::string_view event, int64_t* step, std::string* tag);
}  // namespace events

/// What `tenor train` shows in TensorBoard, written by rank 0 into RUN/tensorboard:
/// per optimizer step `train/loss`, `train/learning_rate`, `train/grad_norm`,
/// `train/segments_per_s`; per epoch (at the step that ends it) `epoch/train_loss`,
/// `epoch/dev_loss`, `epoch/dev_score`, `epoch/dev_macro_f1/TASK`, `epoch/dev_loss/TASK`,
/// `epoch/segments_per_s`; and the resolved configuration as the text `config` (step 0).
/// Every event is flushed as it is written, so TensorBoard shows a run while it trains.
/// Throws IoError naming the file when it cannot be written.
class TrainingBoard {
 public:
  /// A fresh run (`checkpoint_step` < 0): event files a run that stopped before its first
  /// checkpoint left are removed, and the configuration is written. A resumed run
  /// (checkpoint_step = the checkpoint's step): records the checkpoint does not cover are
  /// dropped from the earlier files (those of steps past it, and the epoch's points at its
  /// step when `epoch_pending`, the checkpoint being the last batch of an epoch not yet
  /// closed), as metrics.jsonl is cut; the new points go to a new file.
  TrainingBoard(const std::filesystem::path& run_dir, int64_t checkpoint_step,
                bool epoch_pending, const std::string& config_yaml);

  /// A batch's loss (the global batch's) and its segments: averaged into the next step's.
  void batch(double loss, int64_t segments);
  /// After optimizer step `step` (1 for the first) at rate `lr` with gradient norm
  /// `grad_norm` (before clipping).
  void step(int64_t step, double lr, double grad_norm);
  /// The epoch's metrics.jsonl line ("step", "train_loss", "dev_loss", "dev_score", "dev":
  /// {task: {"macro_f1", "loss"}}, "segments_per_s"). The throughput clock restarts after it.
  void epoch(const nlohmann::json& line);

  const std::filesystem::path& file() const { return file_; }

 private:
  void write(const std::string& event);
  void open();
  double now() const;

  std::filesystem::path dir_, file_;
  std::ofstream out_;
  double loss_sum_ = 0;
  int64_t loss_count_ = 0, segments_ = 0;
  std::chrono::steady_clock::time_point mark_;
  int64_t first_step_ = 0;  ///< the first step this process writes (a SessionLog START)
  std::string config_yaml_;
};

/// Drops from the event files in `dir` (events.out.tfevents.*) the records a checkpoint at
/// `checkpoint_step` does not cover: those of later steps, and with `epoch_pending` the
/// `epoch/` points at that step. A record cut short at a file's end goes too. Files are
/// rewritten atomically, and only when something is dropped.
void drop_uncovered_events(const std::filesystem::path& dir, int64_t checkpoint_step,
                           bool epoch_pending);

}  // namespace tenor::train
