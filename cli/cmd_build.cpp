// `tenor data build DATASET --out features.h5`: thin wrapper of build_feature_store.
#include <iostream>

#include "cli/commands.h"
#include "core/log.h"
#include "data/features/build.h"

namespace tenor::cli {

void add_data_build_command(CLI::App& app) {
  auto* data = app.get_subcommand("data");
  struct Args {
    std::string dataset, out;
    int sample_rate = 0;
    features::BuildOptions options;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = data->add_subcommand(
      "build", "Extract prosody LLDs, segment functionals and tokens into one HDF5 feature store");
  cmd->add_option("DATASET", args->dataset, "dataset directory (never modified)")->required();
  cmd->add_option("--out", args->out, "the HDF5 store to write (docs/feature-store.md)")
      ->required();
  cmd->add_option("--device", args->options.device, "auto, cpu, cuda or cuda:N")
      ->capture_default_str()
      ->check(device_validator());
  cmd->add_option("--threads", args->options.threads, "LibTorch CPU threads (0: its default)")
      ->capture_default_str()
      ->check(non_negative());
  cmd->add_flag("--keep-going", args->options.keep_going,
                "skip calls whose audio fails validate's checks or cannot be read, list them in "
                "the log and the store's /build/skipped_calls");
  cmd->add_flag("--restart", args->options.restart,
                "discard an interrupted build instead of resuming it");
  cmd->add_option("--calls-per-part", args->options.calls_per_part,
                  "calls per resumable unit of work")
      ->capture_default_str();
  cmd->add_option("--sample-rate", args->sample_rate,
                  "analysis rate in Hz (default: dataset.yaml's, else 16000)")
      ->check(positive());
  cmd->add_option("--vocab-size", args->options.tokenizer.vocab_size,
                  "SentencePiece vocabulary (upper bound)")
      ->capture_default_str();
  cmd->add_option("--tokenizer", args->options.tokenizer_from,
                  "tokenize with this SentencePiece model instead of training one: a .model "
                  "file, a bundle directory or the feature store a model was trained on");
  auto* speech = cmd->add_option(
      "--speech-encoder", args->options.speech_encoder,
      "keep each segment's pooled states of this pretrained speech encoder as functional "
      "columns speech_*: whisper-tiny-en (tools/text-encoders/fetch.sh) or a directory holding "
      "its model.bin; 16 kHz analysis");
  cmd->add_option("--speech-window", args->options.speech_window,
                  "how the speech encoder sees a segment: padded with silence to its 30 s "
                  "window, as it was trained, or alone (clip: cheaper for short segments)")
      ->check(CLI::IsMember(features::speech_windows()))
      ->capture_default_str()
      ->needs(speech);
  cmd->add_option("--f0-floor", args->options.lld.f0_floor_hz, "lowest F0 in Hz")
      ->capture_default_str();
  cmd->add_option("--f0-ceiling", args->options.lld.f0_ceiling_hz, "highest F0 in Hz")
      ->capture_default_str();
  cmd->add_flag(
      "--no-progress", [args](int64_t) { args->options.progress = false; }, "no progress line");
  cmd->footer(
      "An interrupted build resumes when run again: a finished part is reused only when it holds "
      "exactly the calls this run would put in it and matches its checksum, else it is built "
      "again. One build at a time per --out (a second is refused with the first one's PID).");
  cmd->callback([args] {
    if (args->sample_rate > 0) args->options.sample_rate_hz = args->sample_rate;
    auto report = features::build_feature_store(args->dataset, args->out, args->options);
    auto log = logger("data");
    log->info(
        "wrote {}: {} segments of {} calls, {:.1f} s of audio in {:.1f} s ({:.0f}x real time) on "
        "{}{}",
        args->out, report.segments, report.calls, report.audio_seconds, report.seconds,
        report.seconds > 0 ? report.audio_seconds / report.seconds : 0.0, report.device,
        report.parts_resumed ? " (resumed " + std::to_string(report.parts_resumed) + " parts)"
                             : "");
    for (const auto& s : report.skipped) log->warn("skipped {}", s);
  });
}

}  // namespace tenor::cli
