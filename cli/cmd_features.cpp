// `tenor features FILE...`: frame-level LLDs of audio files (data/features). Thin: parse,
// validate, call compute_file_lld, print.
#include <chrono>
#include <cmath>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "data/features/lld_table.h"

namespace tenor::cli {

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
    double audio_s = 0, compute_s = 0;
    for (const auto& file : args->files) {
      auto start = std::chrono::steady_clock::now();
      auto table = features::compute_file_lld(file, args->range, args->config, args->threads);
      compute_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      audio_s += double(table.frames()) * args->config.frame_shift_ms / 1000.0;
      if (args->csv) {
        features::write_lld_csv(std::cout, table, args->range.start_s);
        continue;
      }
      const size_t voiced = table.column("voiced"), f0 = table.column("f0_hz"),
                   db = table.column("intensity_db");
      int64_t n_voiced = 0;
      double f0_sum = 0, db_sum = 0;
      for (int64_t k = 0; k < table.frames(); ++k) {
        db_sum += table.at(k, db);
        if (table.at(k, voiced) > 0.5f) {
          ++n_voiced;
          f0_sum += table.at(k, f0);
        }
      }
      std::cout << file << ": " << table.frames() << " frames, voiced " << n_voiced << ", mean f0 "
                << (n_voiced ? f0_sum / n_voiced : 0.0) << " Hz, mean intensity "
                << (table.frames() ? db_sum / table.frames() : 0.0) << " dB\n";
    }
    if (args->timing)
      std::cerr << "features: " << args->files.size() << " file(s), audio " << audio_s
                << " s, compute " << compute_s << " s, "
                << (compute_s > 0 ? audio_s / compute_s : 0.0) << " x real time (feature set "
                << features::kFeatureSetVersion << ")\n";
  });
}

}  // namespace tenor::cli
