#pragma once
// LLDs of one waveform or one audio file as a plain table (no LibTorch in this header):
// what the CLI prints and what tests and tools read without tensors.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "data/features/lld_config.h"

namespace tenor::features {

/// Frame-level LLDs of one waveform, row-major.
struct LldTable {
  std::vector<std::string> columns;  ///< lld_column_names(config), without time_s
  std::vector<double> time_s;        ///< [frames] frame centres, from the start of the waveform
  std::vector<float> values;         ///< [frames * columns.size()]
  int64_t frames() const { return int64_t(time_s.size()); }
  float at(int64_t frame, size_t column) const {
    return values[size_t(frame) * columns.size() + column];
  }
  /// Index of a column by name; throws tenor::UsageError listing the names if absent.
  size_t column(const std::string& name) const;
};

/// LLDs of `samples` (mono, full scale = 1) at config.sample_rate_hz, on CPU.
/// `cpu_threads` > 0 sets LibTorch's intra-op threads first. Throws ConfigError.
LldTable compute_lld(const std::vector<float>& samples, const LldConfig& config,
                     int cpu_threads = 0);

/// Which part of an audio file to analyse.
struct AudioRange {
  double start_s = 0;  ///< from the start of the file
  double end_s = -1;   ///< < 0: to the end of the file
  int channel = -1;    ///< 0-based; -1 mixes all channels down
};

/// Streams the LLDs of `range` of `path`, resampled to config.sample_rate_hz: `sink` gets
/// consecutive tables of frames as soon as they are final (times relative to range.start_s).
/// Two passes over the audio (the global peak that Praat's silence threshold needs, then the
/// frames, see LldStream), each holding one block: memory does not grow with the length.
/// The frames equal compute_lld() of the whole range (tests/features/stream_test.cpp).
/// Returns the frame count. Throws DataError (unreadable file, channel or range outside the
/// file, the file changed between the passes) or ConfigError.
int64_t stream_file_lld(const std::filesystem::path& path, const AudioRange& range,
                        const LldConfig& config, int cpu_threads,
                        const std::function<void(const LldTable&)>& sink);

/// stream_file_lld collected into one table.
LldTable compute_file_lld(const std::filesystem::path& path, const AudioRange& range,
                          const LldConfig& config, int cpu_threads = 0);

/// The CSV header line: `time_s,<columns>`.
void write_lld_csv_header(std::ostream& out, const std::vector<std::string>& columns);
/// One CSV row per frame of `table` (streamed tables: the header is written once, before);
/// `time_offset_s` is added to the times.
void write_lld_csv_rows(std::ostream& out, const LldTable& table, double time_offset_s = 0);

}  // namespace tenor::features
