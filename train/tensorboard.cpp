#include "train/tensorboard.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "core/atomic_file.h"
#include "core/error.h"

// The messages are tensorboard/compat/proto/event.proto and summary.proto (the same as
// TensorFlow's). Compiling them would take a protoc matching Debian's libprotobuf 3.21 (the
// protobuf-compiler package, not among tenor's dependencies; the torch wheel's protoc is
// 3.13, whose generated code the 3.21 headers refuse) and libprotobuf in tenor::train,
// whose headers the build already has to keep apart from the wheel's. The few fields tenor
// writes are encoded here instead, in field-number order and with proto3's defaults left
// out, as protobuf serialises them (tests/train/tensorboard_test.cpp compares the bytes with
// Python protobuf's):
//   Event:            1 wall_time (double), 2 step (int64), 3 file_version (string),
//                     5 summary (Summary), 7 session_log (SessionLog)
//   SessionLog:       1 status (enum; START = 1)
//   Summary:          1 value (repeated Value)
//   Summary.Value:    1 tag (string), 2 simple_value (float), 8 tensor (TensorProto),
//                     9 metadata (SummaryMetadata)
//   SummaryMetadata:  1 plugin_data (PluginData), 4 data_class (enum; DATA_CLASS_TENSOR = 2)
//   PluginData:       1 plugin_name (string), 2 content (bytes; the text plugin's
//                     TextPluginData{version: 0} serialises to nothing)
//   TensorProto:      1 dtype (enum; DT_STRING = 7), 2 tensor_shape (empty: a scalar),
//                     8 string_val (repeated bytes)
// The record framing is TensorFlow's record_writer (tensorboard/summary/writer/
// record_writer.py): length, masked CRC-32C of the length, data, masked CRC-32C of the data.

namespace tenor::train {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr std::string_view kEventsPrefix = "events.out.tfevents.";

std::array<uint32_t, 256> crc32c_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}

void put_fixed(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(char((v >> (8 * i)) & 0xff));
}

uint64_t get_fixed(std::string_view in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t(uint8_t(in[at + size_t(i)])) << (8 * i);
  return v;
}

// Protobuf wire format: varints, and keys (field << 3 | wire type).
void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(char((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(char(v));
}

void put_key(std::string& out, int field, int wire_type) {
  put_varint(out, uint64_t(field) << 3 | uint64_t(wire_type));
}

void put_bytes(std::string& out, int field, std::string_view bytes) {
  put_key(out, field, 2);
  put_varint(out, bytes.size());
  out.append(bytes);
}

void put_uint(std::string& out, int field, uint64_t v) {
  put_key(out, field, 0);
  put_varint(out, v);
}

/// wall_time and step (proto3 leaves zeros out), then `what`: the Event's oneof field.
std::string event(double wall_time, int64_t step, std::string_view what) {
  std::string out;
  if (wall_time != 0) {
    uint64_t bits;
    std::memcpy(&bits, &wall_time, 8);
    put_key(out, 1, 1);
    put_fixed(out, bits, 8);
  }
  if (step != 0) put_uint(out, 2, uint64_t(step));
  out.append(what);
  return out;
}

/// A protobuf reader over one message: false at the end or on malformed bytes.
struct WireReader {
  std::string_view in;
  size_t at = 0;

  bool varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64 && at < in.size(); shift += 7) {
      const uint8_t b = uint8_t(in[at++]);
      *v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  /// The next field: its number, wire type, varint value or length-delimited bytes.
  bool next(int* field, int* wire_type, uint64_t* value, std::string_view* bytes) {
    uint64_t key;
    if (at >= in.size() || !varint(&key)) return false;
    *field = int(key >> 3), *wire_type = int(key & 7);
    switch (*wire_type) {
      case 0: return varint(value);
      case 1: case 5: {
        const size_t n = *wire_type == 1 ? 8 : 4;
        if (in.size() - at < n) return false;
        at += n;
        return true;
      }
      case 2:
        if (!varint(value) || in.size() - at < *value) return false;
        *bytes = in.substr(at, size_t(*value));
        at += size_t(*value);
        return true;
      default: return false;
    }
  }
};

/// The first field `field` (length-delimited) of `message`, or "".
std::string_view sub_message(std::string_view message, int field) {
  WireReader r{message};
  int f, wt;
  uint64_t v = 0;
  std::string_view bytes;
  while (r.next(&f, &wt, &v, &bytes))
    if (f == field && wt == 2) return bytes;
  return {};
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0 || !name[0]) return "localhost";
  std::string host(name);
  std::replace(host.begin(), host.end(), '/', '_');
  return host;
}

/// The event files of `dir`, by name (the order TensorBoard reads them in).
std::vector<fs::path> event_files(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && e.path().filename().string().rfind(kEventsPrefix, 0) == 0)
      files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

/// The seconds in an event file's name (events.out.tfevents.SECONDS.HOST), or 0.
int64_t file_seconds(const fs::path& file) {
  const std::string rest = file.filename().string().substr(kEventsPrefix.size());
  try {
    return std::stoll(rest.substr(0, rest.find('.')));
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

uint32_t crc32c(std::string_view bytes) {
  static const std::array<uint32_t, 256> table = crc32c_table();
  uint32_t c = 0xffffffffu;
  for (char ch : bytes) c = table[(c ^ uint8_t(ch)) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

uint32_t masked_crc32c(std::string_view bytes) {
  const uint32_t c = crc32c(bytes);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

std::string tf_record(std::string_view data) {
  std::string out, length;
  put_fixed(length, data.size(), 8);
  out += length;
  put_fixed(out, masked_crc32c(length), 4);
  out.append(data);
  put_fixed(out, masked_crc32c(data), 4);
  return out;
}

std::vector<std::string> read_tf_records(std::string_view content, bool* complete) {
  std::vector<std::string> records;
  size_t at = 0;
  bool ok = true;
  while (at < content.size()) {
    if (content.size() - at < 12 ||
        masked_crc32c(content.substr(at, 8)) != get_fixed(content, at + 8, 4)) {
      ok = false;
      break;
    }
    const uint64_t n = get_fixed(content, at, 8);
    if (content.size() - at - 12 < n + 4 ||
        masked_crc32c(content.substr(at + 12, size_t(n))) !=
            get_fixed(content, at + 12 + size_t(n), 4)) {
      ok = false;
      break;
    }
    records.emplace_back(content.substr(at + 12, size_t(n)));
    at += 12 + size_t(n) + 4;
  }
  if (complete) *complete = ok;
  return records;
}

namespace events {

std::string file_version(double wall_time) {
  std::string what;
  put_bytes(what, 3, "brain.Event:2");
  return event(wall_time, 0, what);
}

std::string scalar(double wall_time, int64_t step, std::string_view tag, float value) {
  std::string v, summary, what;
  put_bytes(v, 1, tag);
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  put_key(v, 2, 5);
  put_fixed(v, bits, 4);
  put_bytes(summary, 1, v);
  put_bytes(what, 5, summary);
  return event(wall_time, step, what);
}

std::string text(double wall_time, int64_t step, std::string_view tag, std::string_view text) {
  std::string tensor, plugin, metadata, v, summary, what;
  put_uint(tensor, 1, 7);  // DT_STRING
  put_bytes(tensor, 2, "");  // TensorShapeProto{}: a scalar
  put_bytes(tensor, 8, text);
  put_bytes(plugin, 1, "text");
  put_bytes(metadata, 1, plugin);
  put_uint(metadata, 4, 2);  // DATA_CLASS_TENSOR
  put_bytes(v, 1, tag);
  put_bytes(v, 8, tensor);
  put_bytes(v, 9, metadata);
  put_bytes(summary, 1, v);
  put_bytes(what, 5, summary);
  return event(wall_time, step, what);
}

std::string session_start(double wall_time, int64_t step) {
  std::string log, what;
  put_uint(log, 1, 1);  // START
  put_bytes(what, 7, log);
  return event(wall_time, step, what);
}

void step_and_tag(std::string_view message, int64_t* step, std::string* tag) {
  *step = 0;
  tag->clear();
  WireReader r{message};
  int f, wt;
  uint64_t v = 0;
  std::string_view bytes;
  while (r.next(&f, &wt, &v, &bytes)) {
    if (f == 2 && wt == 0) *step = int64_t(v);
    if (f == 5 && wt == 2) *tag = std::string(sub_message(sub_message(bytes, 1), 1));
  }
}

}  // namespace events

void drop_uncovered_events(const fs::path& dir, int64_t checkpoint_step, bool epoch_pending) {
  for (const fs::path& file : event_files(dir)) {
    bool complete = true;
    const std::vector<std::string> records = read_tf_records(read_file(file), &complete);
    std::string kept;
    size_t dropped = 0;
    for (const std::string& r : records) {
      int64_t step;
      std::string tag;
      events::step_and_tag(r, &step, &tag);
      const bool uncovered =
          step > checkpoint_step ||
          (epoch_pending && step == checkpoint_step && tag.rfind("epoch/", 0) == 0);
      if (uncovered) {
        ++dropped;
      } else {
        kept += tf_record(r);
      }
    }
    if (dropped > 0 || !complete) write_file_atomic(file, kept);
  }
}

TrainingBoard::TrainingBoard(const fs::path& run_dir, int64_t checkpoint_step,
                             bool epoch_pending, const std::string& config_yaml)
    : dir_(run_dir / kRunTensorBoardDir), mark_(std::chrono::steady_clock::now()) {
  std::error_code ec;
  if (checkpoint_step < 0) {
    // A fresh start: whatever an earlier start of this run wrote before its first checkpoint.
    for (const fs::path& f : event_files(dir_)) fs::remove(f, ec);
    config_yaml_ = config_yaml;
    first_step_ = 0;
  } else {
    drop_uncovered_events(dir_, checkpoint_step, epoch_pending);
    first_step_ = checkpoint_step + 1;
  }
}

double TrainingBoard::now() const {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// The file is opened at the first point, so a finished run started again adds no file. Its
/// name sorts after the files already there (TensorBoard reads them in name order).
void TrainingBoard::open() {
  std::error_code ec;
  if (fs::exists(dir_, ec) && !fs::is_directory(dir_, ec))
    throw IoError(dir_.string() + " is not a directory, and tenor train keeps TensorBoard's " +
                  "event files there; move it away and run the command again to resume");
  fs::create_directories(dir_, ec);
  if (ec)
    throw IoError("cannot create " + dir_.string() + " for TensorBoard's event files: " +
                  ec.message() + "; check the permissions and free space of the run directory");
  int64_t seconds = int64_t(now());
  for (const fs::path& f : event_files(dir_)) seconds = std::max(seconds, file_seconds(f) + 1);
  file_ = dir_ / (std::string(kEventsPrefix) + std::to_string(seconds) + "." + host_name());
  out_.open(file_, std::ios::binary | std::ios::app);
  if (!out_)
    throw IoError("cannot create the TensorBoard event file " + file_.string() + ": " +
                  std::strerror(errno) + "; check the permissions and free space of " +
                  dir_.string());
  out_ << tf_record(events::file_version(now()));
  if (first_step_ > 0) out_ << tf_record(events::session_start(now(), first_step_));
  if (!config_yaml_.empty()) {
    // Indented four spaces: a code block in the text plugin's Markdown.
    std::string block;
    for (size_t at = 0; at < config_yaml_.size();) {
      const size_t end = std::min(config_yaml_.find('\n', at), config_yaml_.size());
      block += "    " + config_yaml_.substr(at, end - at) + "\n";
      at = end + 1;
    }
    out_ << tf_record(events::text(now(), 0, "config", block));
  }
}

void TrainingBoard::write(const std::string& event) {
  if (!out_.is_open()) open();
  out_ << tf_record(event);
  out_.flush();  // TensorBoard reads the file while training goes on
  if (!out_)
    throw IoError("cannot write the TensorBoard event file " + file_.string() + ": " +
                  std::strerror(errno) + "; free space on its filesystem and resume the run");
}

void TrainingBoard::batch(double loss, int64_t segments) {
  loss_sum_ += loss;
  ++loss_count_;
  segments_ += segments;
}

void TrainingBoard::step(int64_t step, double lr, double grad_norm) {
  const auto t = std::chrono::steady_clock::now();
  const double seconds = std::chrono::duration<double>(t - mark_).count();
  const double wall = now();
  if (loss_count_ > 0)
    write(events::scalar(wall, step, "train/loss", float(loss_sum_ / double(loss_count_))));
  write(events::scalar(wall, step, "train/learning_rate", float(lr)));
  write(events::scalar(wall, step, "train/grad_norm", float(grad_norm)));
  if (seconds > 0)
    write(events::scalar(wall, step, "train/segments_per_s", float(double(segments_) / seconds)));
  loss_sum_ = 0, loss_count_ = 0, segments_ = 0;
  mark_ = t;
}

void TrainingBoard::epoch(const json& line) {
  const int64_t step = line.at("step").get<int64_t>();
  const double wall = now();
  auto put = [&](const std::string& tag, const json& value) {
    if (value.is_number()) write(events::scalar(wall, step, tag, value.get<float>()));
  };
  put("epoch/train_loss", line.value("train_loss", json()));
  put("epoch/dev_loss", line.value("dev_loss", json()));
  put("epoch/dev_score", line.value("dev_score", json()));
  const json dev = line.value("dev", json::object());
  for (const auto& [task, m] : dev.items()) {
    put("epoch/dev_macro_f1/" + task, m.value("macro_f1", json()));
    put("epoch/dev_loss/" + task, m.value("loss", json()));
  }
  put("epoch/segments_per_s", line.value("segments_per_s", json()));
  mark_ = std::chrono::steady_clock::now();  // the dev evaluation is not training time
}

}  // namespace tenor::train
