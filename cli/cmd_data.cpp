// `tenor data ...`: the labeller's commands. Each callback parses, calls one
// library function and maps the outcome to an exit status.
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>

#include "cli/commands.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/log.h"
#include "data/call_input.h"
#include "data/label_tools.h"
#include "data/features/augment.h"
#include "data/split.h"
#include "data/stats.h"
#include "data/synth.h"
#include "data/validate.h"
#include "eval/review.h"

namespace tenor::cli {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string dump(const json& j) {
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

json duplicates_json(const data::Dataset& ds, const std::vector<data::DuplicatePair>& pairs) {
  json list = json::array();
  for (const auto& p : pairs) {
    const auto& a = ds.calls[p.a];
    const auto& b = ds.calls[p.b];
    list.push_back({{"call_ids", {a.call_id, b.call_id}},
                    {"lines", {a.line, b.line}},
                    {"splits", {a.split, b.split}},
                    {"text_jaccard", p.text_jaccard ? json(*p.text_jaccard) : json(nullptr)},
                    {"audio_bit_errors",
                     p.audio_bit_errors ? json(*p.audio_bit_errors) : json(nullptr)}});
  }
  return list;
}

/// The dataset every data subcommand that reads one takes, as its first argument.
void add_dataset_argument(CLI::App* cmd, std::string& dir) {
  cmd->add_option("DIR", dir, "dataset directory (never modified)")->required();
}

void add_validate(CLI::App& data) {
  struct Args {
    std::string dir, json_out;
    bool strict = false, no_audio = false, quiet = false;
    bool allow_duplicates = false, no_audio_duplicates = false;
    double duplicate_jaccard = data::kNearDuplicateJaccard;
    int threads = 0;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = data.add_subcommand("validate",
                                  "Check a call dataset against the format; report every problem");
  add_dataset_argument(cmd, args->dir);
  cmd->add_option("--json", args->json_out, "also write the findings as JSON to this file");
  cmd->add_flag("--strict", args->strict, "warnings fail the run too");
  cmd->add_flag("--no-audio", args->no_audio, "skip opening the audio files");
  cmd->add_flag("--allow-duplicates", args->allow_duplicates,
                "report duplicate calls across train/dev/test as warnings, not errors");
  cmd->add_flag("--no-audio-duplicates", args->no_audio_duplicates,
                "skip the audio fingerprints (each file is decoded a second time for them)");
  cmd->add_option("--duplicate-jaccard", args->duplicate_jaccard,
                  "near-duplicate transcripts from this word 3-gram Jaccard index (0.3 to 1)")
      ->capture_default_str();
  cmd->add_flag("-q,--quiet", args->quiet, "print only the summary");
  cmd->add_option("--threads", args->threads, "audio files scanned in parallel (0 = all cores)")
      ->check(non_negative());
  cmd->footer("Exit status: 0 clean, 1 errors found (or warnings with --strict), 2 usage error.");
  cmd->callback([args] {
    if (!args->json_out.empty()) new_output_file(args->json_out, "--json", "findings.json");
    data::ValidateOptions options;
    options.threads = args->threads;
    options.check_audio = !args->no_audio;
    options.audio_duplicates = !args->no_audio_duplicates;
    options.duplicates_as_warnings = args->allow_duplicates;
    options.duplicate_jaccard = args->duplicate_jaccard;
    data::DuplicateOptions{.duplicate_jaccard = args->duplicate_jaccard}.validate();
    auto start = std::chrono::steady_clock::now();
    auto result = data::validate_dataset(args->dir, options);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto& diag = result.diagnostics;
    // Findings are named relative to the dataset, so prefix the directory for clickable paths.
    if (!args->quiet) {
      for (const auto& f : diag.findings()) {
        data::Finding shown = f;
        // (A finding on the directory itself already names it: `nope`, not `nope/nope`.)
        if (!fs::path(shown.file).is_absolute() && shown.file != args->dir)
          shown.file = (fs::path(args->dir) / shown.file).string();
        std::cout << data::format_finding(shown) << "\n";
      }
    }
    std::cout << args->dir << ": " << result.dataset.calls.size() << " calls, "
              << result.dataset.segment_count() << " segments, " << result.audio_files
              << " audio files checked in " << std::fixed << std::setprecision(2) << seconds
              << " s: " << diag.error_count()
              << " error(s), " << diag.warning_count() << " warning(s)\n";
    if (!args->json_out.empty()) {
      json j = diag.to_json();
      j["dataset"] = args->dir;
      j["calls"] = result.dataset.calls.size();
      j["segments"] = result.dataset.segment_count();
      j["audio_files"] = result.audio_files;
      j["seconds"] = seconds;
      j["duplicates"] = duplicates_json(result.dataset, result.duplicates);
      write_file_atomic(args->json_out, dump(j));
    }
    bool failed = diag.error_count() > 0 || (args->strict && diag.warning_count() > 0);
    if (failed) throw ExitCode{1};
  });
}

void add_stats(CLI::App& data) {
  struct Args {
    std::string dir;
    bool json_out = false;
    data::StatsOptions options;
  };
  auto args = std::make_shared<Args>();
  auto* cmd =
      data.add_subcommand("stats", "Label distributions, hours, speakers and annotator agreement");
  add_dataset_argument(cmd, args->dir);
  cmd->add_flag("--json", args->json_out, "print JSON instead of tables");
  cmd->add_option("--bootstrap", args->options.bootstrap_resamples,
                  "bootstrap resamples for alpha's interval")
      ->capture_default_str()
      ->check(non_negative());
  cmd->add_option("--seed", args->options.seed, "bootstrap seed")
      ->check(whole_number())
      ->capture_default_str();
  cmd->callback([args] {
    auto dataset = data::load_dataset_or_throw(args->dir);
    auto stats = data::dataset_stats(dataset, args->options);
    std::cout << (args->json_out ? dump(stats) : data::stats_to_text(stats));
  });
}

void add_split(CLI::App& data) {
  struct Args {
    std::string dir, out;
    data::SplitOptions options;
    int folds = 0;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = data.add_subcommand("split",
                                  "Assign train/dev/test grouped by call, speaker and duplicate "
                                  "calls, stratified by label; write a new dataset (or, with "
                                  "--folds, one per cross-validation fold)");
  add_dataset_argument(cmd, args->dir);
  cmd->add_option("--out", args->out, "new dataset directory (audio is linked, not copied)")
      ->required();
  auto* train = cmd->add_option("--train", args->options.train, "share of segments for train")
                    ->capture_default_str();
  auto* dev = cmd->add_option("--dev", args->options.dev, "share for dev")->capture_default_str();
  auto* test =
      cmd->add_option("--test", args->options.test, "share for test")->capture_default_str();
  cmd->add_option("--seed", args->options.seed, "seed of the assignment")
      ->check(whole_number())
      ->capture_default_str();
  cmd->add_option("--stratify", args->options.stratify_task,
                  "task to stratify by (default: the first task)");
  auto* reassign = cmd->add_flag("--reassign", args->options.reassign,
                                 "ignore splits already present and assign all calls");
  cmd->add_option("--folds", args->folds,
                  "write OUT/fold1..foldK instead: in fold k the non-test calls of fold k are "
                  "dev and the others train (the same groups and strata); test is kept")
      ->check(CLI::Range(2, 1000))
      ->excludes(train)
      ->excludes(dev)
      ->excludes(test)
      ->excludes(reassign);
  cmd->add_flag("--audio-duplicates", args->options.audio_duplicates,
                "also keep calls whose recordings match in one split (decodes all audio)");
  cmd->add_option("--duplicate-jaccard", args->options.duplicate_jaccard,
                  "near-duplicate transcripts from this word 3-gram Jaccard index (0.3 to 1)")
      ->capture_default_str();
  cmd->callback([args] {
    args->options.validate();
    auto dataset = data::load_dataset_or_throw(args->dir);
    if (args->folds > 0) {
      const auto folds = data::fold_datasets(dataset, args->folds, args->options);
      data::write_fold_datasets(folds, args->out);
      for (size_t k = 0; k < folds.size(); ++k) {
        std::map<std::string, size_t> calls;
        std::set<std::string> dev_speakers;
        for (const auto& call : folds[k].calls) {
          ++calls[call.split.empty() ? "unassigned" : call.split];
          if (call.split == "dev" && !call.speaker_id().empty())
            dev_speakers.insert(call.speaker_id());
        }
        std::cout << (fs::path(args->out) / ("fold" + std::to_string(k + 1))).string()
                  << ": train " << calls["train"] << " calls, dev " << calls["dev"]
                  << " calls (" << dev_speakers.size() << " speakers), test " << calls["test"]
                  << " calls\n";
      }
      logger("data")->info("wrote {} folds into {}", folds.size(), args->out);
      return;
    }
    auto assigned = data::assign_splits(dataset, args->options);
    data::write_derived_dataset(assigned, args->out);
    data::StatsOptions stats_options;
    stats_options.probe_audio = false;
    stats_options.bootstrap_resamples = 0;
    std::cout << data::stats_to_text(data::dataset_stats(assigned, stats_options));
    logger("data")->info("wrote {}", args->out);
  });
}

void add_synth(CLI::App& data) {
  struct Args {
    std::string out;
    data::SynthOptions options;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = data.add_subcommand(
      "synth", "Generate a labelled synthetic call dataset with espeak-ng speech");
  cmd->add_option("--out", args->out, "new dataset directory")->required();
  cmd->add_option("--calls", args->options.calls, "number of calls")->capture_default_str();
  cmd->add_option("--seed", args->options.seed, "random seed (same seed, same files)")
      ->check(whole_number())
      ->capture_default_str();
  cmd->add_option("--sample-rate", args->options.sample_rate_hz, "sample rate of the WAVs in Hz")
      ->capture_default_str();
  cmd->add_option("--customers", args->options.customers, "distinct customer voices")
      ->capture_default_str();
  cmd->add_option("--annotators", args->options.annotators,
                  "simulated annotators (0: no labels_by)")
      ->capture_default_str();
  cmd->callback([args] {
    args->options.validate();
    data::synthesize_dataset(args->out, args->options);
  });
}

void add_convert(CLI::App& data) {
  struct Args {
    std::string dir, out, format = "jsonl";
  };
  auto args = std::make_shared<Args>();
  auto* cmd = data.add_subcommand(
      "convert",
      "Write a dataset's calls as calls.jsonl or segments.csv into a new dataset directory");
  add_dataset_argument(cmd, args->dir);
  cmd->add_option("--out", args->out, "new dataset directory (audio is linked, not copied)")
      ->required();
  cmd->add_option("--format", args->format, "jsonl or csv")
      ->check(CLI::IsMember({"jsonl", "csv"}))
      ->capture_default_str();
  cmd->callback([args] {
    auto dataset = data::load_dataset_or_throw(args->dir);
    data::write_derived_dataset(
        dataset, args->out,
        args->format == "csv" ? data::ManifestFormat::kCsv : data::ManifestFormat::kJsonl);
    logger("data")->info("wrote {} ({} calls)", args->out, dataset.calls.size());
  });
}

void add_import(CLI::App& data) {
  struct Args {
    std::string from, source, schema, update, out, channels, media;
    bool quiet = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = data.add_subcommand(
      "import", "Turn Praat TextGrids, ELAN EAF files or a Label Studio JSON export into a "
                "dataset (docs/labelling.md)");
  cmd->add_option("--from", args->from, "textgrid, elan or label-studio")
      ->required()
      ->check(CLI::IsMember({"textgrid", "elan", "label-studio"}));
  cmd->add_option("SRC", args->source, "the tool's file, or a directory of them (never modified)")
      ->required();
  auto* schema = cmd->add_option("--schema", args->schema,
                                 "dataset.yaml declaring the tasks and classes");
  cmd->add_option("--update", args->update,
                  "dataset whose calls the tool's files re-label (its dataset.yaml is the "
                  "schema); the new dataset is it with those calls replaced")
      ->excludes(schema);
  cmd->add_option("--out", args->out, "new dataset directory (recordings are linked)")->required();
  cmd->add_option("--channels", args->channels,
                  "role=channel of every call's recording, e.g. agent=0,customer=1");
  cmd->add_option("--media", args->media,
                  "Label Studio: directory of the tasks' audio (default: the export's)");
  cmd->add_flag("-q,--quiet", args->quiet, "print only the summary");
  cmd->footer("Exit status: 0 imported, 1 problems found (nothing written), 2 usage error.");
  cmd->callback([args] {
    if (args->schema.empty() && args->update.empty())
      throw UsageError("--schema is required: the dataset.yaml declaring the tasks and classes "
                       "(or --update DIR, to re-label the calls of the dataset DIR)");
    data::ImportOptions options;
    options.from = data::label_tool_from_string(args->from);
    options.source = args->source;
    options.schema = args->schema;
    options.update = args->update;
    options.media = args->media;
    if (!args->channels.empty()) options.channels = data::parse_channel_map(args->channels);
    const auto result = data::import_dataset(options, args->out);
    const auto& diag = result.diagnostics;
    for (const auto& f : diag.findings())
      if (!args->quiet || f.severity == data::Severity::kError)
        std::cout << data::format_finding(f) << "\n";
    std::cout << (result.written ? args->out + ": " : args->source + ": not imported: ")
              << result.calls << " calls, " << result.segments << " segments";
    if (!args->update.empty())
      std::cout << " (" << result.updated_calls << " calls from the tool, "
                << result.changed_labels << " label(s) changed)";
    std::cout << ": " << diag.error_count() << " error(s), " << diag.warning_count()
              << " warning(s)\n";
    if (!result.written) throw ExitCode{1};
  });
}

void add_export(CLI::App& data) {
  struct Args {
    std::string dir, to, out, predictions, model_version, review;
    size_t top = 0;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = data.add_subcommand(
      "export", "Write a dataset, and a run's predictions on it, as TextGrids or Label Studio "
                "tasks for review in the tool (docs/labelling.md)");
  add_dataset_argument(cmd, args->dir);
  cmd->add_option("--to", args->to, "textgrid or label-studio")
      ->required()
      ->check(CLI::IsMember({"textgrid", "label-studio"}));
  cmd->add_option("--out", args->out, "new directory for the tool's files")->required();
  cmd->add_option("--predictions", args->predictions,
                  "`tenor predict --dataset DIR --out preds.jsonl` output to add as model scores");
  cmd->add_option("--model-version", args->model_version,
                  "Label Studio model_version of the predictions (default: their file name)");
  auto* review = cmd->add_option("--review", args->review,
                                 "`tenor data review`'s review.json: export only the calls with "
                                 "suspects, each suspect marked, for re-labelling");
  cmd->add_option("--top", args->top, "with --review: only the N suspects ranked first")
      ->check(positive())
      ->needs(review);
  cmd->footer("Re-labelled files come back with `tenor data import --from TOOL OUT --update DIR "
              "--out NEW` (docs/labelling.md).");
  cmd->callback([args] {
    data::ExportOptions options;
    options.to = data::label_tool_from_string(args->to);
    options.predictions = args->predictions;
    options.model_version = args->model_version;
    options.review = args->review;
    options.top = args->top;
    const auto dataset = data::load_dataset_or_throw(args->dir);
    const size_t calls = data::export_dataset(dataset, options, args->out);
    logger("data")->info("wrote {} ({} calls)", args->out, calls);
  });
}

void add_review(CLI::App& data) {
  struct Args {
    std::string dir, out;
    eval::ReviewOptions options;
    std::string config;
    bool no_audio = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = data.add_subcommand(
      "review", "Find labels that are probably wrong: out-of-fold predictions and confident "
                "learning; review.json, review.html");
  add_dataset_argument(cmd, args->dir);
  cmd->add_option("--out", args->out, "review directory: review.json, review.html, oof.jsonl")
      ->required();
  cmd->add_option("--config", args->config,
                  "training config of the fold models (default: the built-in logistic "
                  "regression, its penalty chosen by inner cross-validation; docs/review.md)");
  cmd->add_option("--set", args->options.overrides,
                  "override one key of --config, e.g. --set epochs=10 (repeatable)");
  cmd->add_option("--folds", args->options.folds, "cross-validation folds")
      ->capture_default_str()
      ->check(positive());
  cmd->add_option("--seed", args->options.seed, "seed of the fold assignment")
      ->check(whole_number())
      ->capture_default_str();
  cmd->add_option("--device", args->options.device, "auto, cpu, cuda or cuda:N (default: the "
                  "config's)")->check(device_validator());
  cmd->add_flag("--no-audio", args->no_audio, "no audio players in review.html");
  cmd->callback([args] {
    args->options.config = args->config;
    args->options.audio = !args->no_audio;
    const auto summary = eval::review_dataset(args->dir, args->out, args->options);
    logger("data")->info("review: {} suspected label errors among {} segments in {:.1f} s "
                         "({:.1f} s per 1,000 segments); wrote {}",
                         summary.suspects, summary.segments, summary.seconds,
                         summary.segments ? summary.seconds * 1000.0 / double(summary.segments) : 0.0,
                         (fs::path(args->out) / "review.html").string());
  });
}

void add_degrade(CLI::App& data) {
  struct Args {
    std::string dir, out, ops, split, device = "cpu";
    uint64_t seed = 1;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = data.add_subcommand(
      "degrade",
      "Write a copy of a dataset whose audio went through channel degradations (telephone, AGC, "
      "gain, noise, reverberation), the ops of `tenor train`'s augment");
  add_dataset_argument(cmd, args->dir);
  cmd->add_option("--out", args->out, "new dataset directory (WAV audio written into it)")
      ->required();
  cmd->add_option("--ops", args->ops,
                  "comma-separated ops: telephone|mulaw|alaw, agc[=TARGET_DBFS], gain=DB, "
                  "noise=SNR_DB, reverb=RT60_S (applied in that order)")
      ->required();
  cmd->add_option("--split", args->split, "only the calls of this split (default: all)");
  cmd->add_option("--seed", args->seed, "seed of the noise (same seed, same files)")
      ->check(whole_number())
      ->capture_default_str();
  cmd->add_option("--device", args->device, "auto, cpu, cuda or cuda:N")
      ->check(device_validator())
      ->capture_default_str();
  cmd->callback([args] {
    const features::AugmentDraw ops = features::parse_degrade_ops(args->ops);
    const auto t0 = std::chrono::steady_clock::now();
    const auto report = features::degrade_dataset(args->dir, args->out, ops, args->seed,
                                                  args->split, args->device);
    logger("data")->info("wrote {} ({} calls, {} audio files, {:.0f} s of audio, {:.1f} s)",
                         args->out, report.calls, report.files, report.audio_seconds,
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
                             .count());
  });
}

}  // namespace

void add_data_commands(CLI::App& app) {
  auto* data = app.add_subcommand("data",
                                  "Dataset commands: validate, stats, split, synth, convert, "
                                  "degrade, build, import, export, review");
  data->require_subcommand(1);
  add_validate(*data);
  add_stats(*data);
  add_split(*data);
  add_synth(*data);
  add_convert(*data);
  add_import(*data);
  add_export(*data);
  add_review(*data);
  add_degrade(*data);
}

}  // namespace tenor::cli
