#include "data/features/lld_table.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>
#include <ostream>

#include "core/error.h"
#include "core/text.h"
#include "core/log.h"
#include "core/torch_compat.h"
#include "data/audio.h"
#include "data/features/lld.h"

namespace tenor::features {

size_t LldTable::column(const std::string& name) const {
  for (size_t i = 0; i < columns.size(); ++i)
    if (columns[i] == name) return i;
  std::string all;
  for (const auto& c : columns) all += (all.empty() ? "" : ", ") + c;
  throw UsageError("features: no LLD column '" + name + "'; columns are " + all);
}

LldTable compute_lld(const std::vector<float>& samples, const LldConfig& config, int cpu_threads) {
  compat::set_cpu_threads(cpu_threads);
  LldExtractor extract(config);
  const int64_t n = int64_t(samples.size());
  auto wave = at::from_blob(const_cast<float*>(samples.data()), {1, n},
                            at::TensorOptions().dtype(at::kFloat));
  auto lengths = at::full({1}, n, at::TensorOptions().dtype(at::kLong));
  auto out = extract(wave, lengths);
  LldTable table;
  table.columns = lld_column_names(config);
  const int64_t frames = out.lld.size(1);
  table.time_s.resize(frames);
  for (int64_t k = 0; k < frames; ++k) table.time_s[k] = lld_frame_time_s(k, config);
  auto values = out.lld.select(0, 0).contiguous().to(at::kFloat);
  table.values.assign(values.data_ptr<float>(), values.data_ptr<float>() + values.numel());
  return table;
}

namespace {
/// Checks `range` against the file's header -> the end in seconds.
double checked_end(const std::filesystem::path& path, const data::AudioInfo& info,
                   const AudioRange& range) {
  if (range.channel < -1 || range.channel >= info.channels)
    throw DataError(path.string() + ": channel " + std::to_string(range.channel) +
                    " requested, the file has " + std::to_string(info.channels) +
                    " channel(s) (0-based; -1 mixes them down)");
  const double duration = info.duration_s();
  if (info.frames <= 0)
    throw DataError(path.string() + " holds no samples (0 s of audio); nothing to analyse");
  const double end = range.end_s < 0 ? duration : range.end_s;
  if (!(range.start_s >= 0) || !(end > range.start_s) || range.start_s >= duration)
    throw DataError(path.string() + ": range " + format_number(range.start_s) + " .. " +
                    format_seconds(end) + " is empty or outside the audio's " +
                    format_seconds(duration) + "; fix --start/--end");
  return end;
}

/// Rows [n, F] starting at frame `first` as a table.
LldTable to_table(const at::Tensor& rows, int64_t first, const LldConfig& config) {
  LldTable table;
  table.columns = lld_column_names(config);
  const int64_t frames = rows.size(0);
  table.time_s.resize(size_t(frames));
  for (int64_t k = 0; k < frames; ++k)
    table.time_s[size_t(k)] = lld_frame_time_s(first + k, config);
  auto values = rows.contiguous().to(at::kFloat);
  table.values.assign(values.data_ptr<float>(), values.data_ptr<float>() + values.numel());
  return table;
}
}  // namespace

int64_t stream_file_lld(const std::filesystem::path& path, const AudioRange& range,
                        const LldConfig& config, int cpu_threads,
                        const std::function<void(const LldTable&)>& sink) {
  config.validate();
  compat::set_cpu_threads(cpu_threads);
  data::AudioReader reader(path);
  const double end = checked_end(path, reader.info(), range);
  const int rate = config.sample_rate_hz;
  WaveformStats stats;
  reader.read_blocks(range.start_s, end, range.channel, rate,
                     [&](const float* x, size_t n) { stats.add(x, int64_t(n)); });
  LldStream stream(config, stats);
  auto emit = [&](const at::Tensor& rows) {
    if (rows.size(0) > 0) sink(to_table(rows, stream.frames_out() - rows.size(0), config));
  };
  try {
    reader.read_blocks(range.start_s, end, range.channel, rate,
                       [&](const float* x, size_t n) { emit(stream.push(x, int64_t(n))); });
    emit(stream.finish());
  } catch (const DataError& e) {
    throw DataError(path.string() + ": " + e.what() +
                    "; is it being written? run again once it is complete");
  }
  if (stream.forced_decisions() > 0)
    logger("features")->warn(
        "{}: the F0 path was decided {} time(s) before its candidates merged (minutes without "
        "a pause); those frames may differ from a whole-file analysis",
        path.string(), stream.forced_decisions());
  return stream.frames_out();
}

LldTable compute_file_lld(const std::filesystem::path& path, const AudioRange& range,
                          const LldConfig& config, int cpu_threads) {
  LldTable all;
  all.columns = lld_column_names(config);
  stream_file_lld(path, range, config, cpu_threads, [&](const LldTable& t) {
    all.time_s.insert(all.time_s.end(), t.time_s.begin(), t.time_s.end());
    all.values.insert(all.values.end(), t.values.begin(), t.values.end());
  });
  return all;
}

void write_lld_csv_header(std::ostream& out, const std::vector<std::string>& columns) {
  out << "time_s";
  for (const auto& c : columns) out << ',' << c;
  out << '\n';
}

void write_lld_csv_rows(std::ostream& out, const LldTable& table, double time_offset_s) {
  const size_t voiced_col = table.column("voiced");
  char buf[64];
  for (int64_t k = 0; k < table.frames(); ++k) {
    std::snprintf(buf, sizeof buf, "%.4f", table.time_s[k] + time_offset_s);
    out << buf;
    for (size_t c = 0; c < table.columns.size(); ++c) {
      if (c == voiced_col) {
        out << (table.at(k, c) > 0.5f ? ",1" : ",0");
      } else {
        std::snprintf(buf, sizeof buf, ",%.6g", double(table.at(k, c)));
        out << buf;
      }
    }
    out << '\n';
  }
}

}  // namespace tenor::features
