// `tenor features FILE...`: frame-level LLDs of audio files (data/features). Thin: parse,
// validate, stream stream_file_lld to stdout.
#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "data/audio.h"
#include "data/features/lld_table.h"

namespace tenor::cli {
namespace {

/// The one-line summary of a file without --csv, accumulated over streamed tables.
struct FileSummary {
  int64_t frames = 0, voiced = 0;
  double f0_sum = 0, db_sum = 0;
  void add(const features::LldTable& t) {
    const size_t v = t.column("voiced"), f0 = t.column("f0_hz"), db = t.column("intensity_db");
    for (int64_t k = 0; k < t.frames(); ++k) {
      db_sum += t.at(k, db);
      if (t.at(k, v) > 0.5f) {
        ++voiced;
        f0_sum += t.at(k, f0);
      }
    }
    frames += t.frames();
  }
  std::string line() const {
    std::ostringstream out;
    out << std::fixed << std::setprecision(1) << frames << " frames, voiced " << voiced
        << ", mean f0 "
        << (voiced ? f0_sum / voiced : 0.0) << " Hz, mean intensity "
        << (frames ? db_sum / frames : 0.0) << " dB";
    return out.str();
  }
};

/// --start, --end and --channel against each other and against `file`: a range that is empty,
/// negative or past the audio, or a channel the file lacks, is a usage error (exit 2) that
/// names the flags to fix. An unreadable file stays a DataError (exit 1).
void check_range(const std::string& file, const features::AudioRange& range) {
  if (!(range.start_s >= 0))
    throw UsageError("features: --start " + format_number(range.start_s) +
                     " is negative; give seconds >= 0");
  if (range.end_s >= 0 && !(range.end_s > range.start_s))
    throw UsageError("features: --end " + format_number(range.end_s) +
                     " is not after --start " + format_number(range.start_s) +
                     "; give --end > --start (or leave --end out)");
  if (range.channel < -1)
    throw UsageError("features: --channel " + std::to_string(range.channel) +
                     " is not a channel; give a 0-based channel, or -1 to mix all down");
  // Read once whole, as predict does: samples that are not numbers would be analysed as silence.
  const data::AudioScan scan = data::scan_audio(file);
  if (scan.non_finite.count > 0)
    throw DataError(scan.non_finite.describe_in_file(file, scan.info.sample_rate_hz));
  if (scan.truncated)
    logger("features")->warn("{} is truncated: its header promises {} but the file holds {}; "
                             "analysing what it holds",
                             file, format_seconds(scan.declared_duration_s),
                             format_seconds(scan.duration_s()));
  const data::AudioInfo& info = scan.info;
  if (range.channel >= info.channels)
    throw UsageError("features: --channel " + std::to_string(range.channel) + " requested, " +
                     file + " has " + std::to_string(info.channels) +
                     " channel(s); give 0.." + std::to_string(info.channels - 1) + " or -1");
  if (info.frames > 0 && range.start_s >= info.duration_s())
    throw UsageError("features: --start " + format_seconds(range.start_s) +
                     " is past the end of " + file + " (" + format_seconds(info.duration_s()) +
                     "); give an earlier --start");
}

}  // namespace

void add_features_command(CLI::App& app) {
  struct Args {
    std::vector<std::string> files;
    features::AudioRange range;
    features::LldConfig config;
    bool csv = false, timing = false;
    int threads = 0;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "features",
      std::string(
          "Frame-level prosody LLDs (F0, voicing, intensity, loudness, HNR, jitter, shimmer, "
          "MFCC, spectral) at a fixed hop; feature set ") +
          features::kFeatureSetVersion);
  cmd->add_option("FILE", args->files, "audio file(s)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--start", args->range.start_s, "start of the range in seconds")
      ->capture_default_str();
  cmd->add_option("--end", args->range.end_s, "end of the range in seconds (default: end of file)");
  cmd->add_option("--channel", args->range.channel, "0-based channel (-1: mix all down)")
      ->capture_default_str();
  cmd->add_flag("--csv", args->csv, "print time_s and every LLD per frame as CSV (one FILE)");
  cmd->add_option("--sample-rate", args->config.sample_rate_hz,
                  "analysis rate in Hz (audio is resampled)")
      ->capture_default_str();
  cmd->add_option("--frame-shift-ms", args->config.frame_shift_ms, "hop between frames")
      ->capture_default_str();
  cmd->add_option("--f0-floor", args->config.f0_floor_hz, "lowest F0 in Hz")->capture_default_str();
  cmd->add_option("--f0-ceiling", args->config.f0_ceiling_hz, "highest F0 in Hz")
      ->capture_default_str();
  cmd->add_option("--mel-bands", args->config.mel_bands, "log-mel bands")->capture_default_str();
  cmd->add_option("--threads", args->threads, "CPU threads of LibTorch (0: its default)")
      ->capture_default_str();
  cmd->add_flag("--timing", args->timing,
                "print audio seconds, compute seconds and times-real-time to stderr");
  cmd->footer(
      "Without --csv, prints one summary line per file. Exit status: 0 ok, 1 unreadable audio, 2 "
      "usage.");
  cmd->callback([args] {
    args->config.validate();
    if (args->csv && args->files.size() != 1)
      throw UsageError("features: --csv prints one file's frames; got " +
                       std::to_string(args->files.size()) + " files");
    for (const auto& file : args->files) check_range(file, args->range);
    double audio_s = 0, compute_s = 0;
    for (const auto& file : args->files) {
      auto start = std::chrono::steady_clock::now();
      // Streamed: rows are printed as their frames are decided, nothing grows with the file.
      FileSummary sum;
      // The header comes first even when the range is too short to yield a frame.
      if (args->csv)
        features::write_lld_csv_header(std::cout, features::lld_column_names(args->config));
      const int64_t frames = features::stream_file_lld(
          file, args->range, args->config, args->threads, [&](const features::LldTable& t) {
            if (!args->csv) return sum.add(t);
            features::write_lld_csv_rows(std::cout, t, args->range.start_s);
          });
      compute_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      audio_s += double(frames) * args->config.frame_shift_ms / 1000.0;
      if (!args->csv) std::cout << file << ": " << sum.line() << "\n";
    }
    if (args->timing)
      std::cerr << std::fixed << std::setprecision(2) << "features: " << args->files.size()
                << " file(s), audio " << audio_s << " s, compute " << std::setprecision(3)
                << compute_s << " s, " << std::setprecision(1)
                << (compute_s > 0 ? audio_s / compute_s : 0.0) << " x real time (feature set "
                << features::kFeatureSetVersion << ")\n";
  });
}

}  // namespace tenor::cli
