// `tenor eval` and `tenor eval compare`: thin wrappers of eval/run_eval.h and eval/compare.h.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <limits>

#include "cli/commands.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "eval/report.h"
#include "eval/run_eval.h"

namespace tenor::cli {
namespace fs = std::filesystem;

namespace {

struct Args {
  std::string run, data, out, split = "test", device = "cpu", call, calibration = "run";
  std::string audio;  // --audio: the dataset whose audio the call pages play
  // --dataset
  std::string dataset, keep_store;
  bool allow_narrowband = false, progress = true;
  int bootstrap = 1000;
  uint64_t seed = 20240611;
  // compare
  std::string run_a, run_b, compare_out;
  std::vector<std::string> gates;
  double alpha = std::numeric_limits<double>::quiet_NaN();  // NaN: --alpha not given
};

/// `tenor eval compare`: the paired comparison table, comparison.json and the gate.
void run_compare(const Args& args) {
  std::vector<eval::GateSpec> gates;
  for (const auto& g : args.gates) gates.push_back(eval::parse_gate(g));
  if (!std::isnan(args.alpha) && gates.empty())
    throw UsageError("--alpha is the significance level of the --fail-if-worse gates; add a "
                     "gate such as --fail-if-worse macro_f1:0.01");
  if (!args.compare_out.empty()) {  // checked before the runs are scored
    std::error_code ec;
    if (fs::exists(args.compare_out, ec) && !fs::is_directory(args.compare_out, ec))
      throw UsageError("--out " + args.compare_out + " is a file; give a directory for "
                       "comparison.json, e.g. --out compare/");
    eval::refuse_inside_run(args.run_a, args.compare_out, "--out");
    eval::refuse_inside_run(args.run_b, args.compare_out, "--out");
  }
  eval::CompareConfig config;
  auto a = eval::calibrated_eval_set_for_run(args.run_a, args.data, args.split, args.device,
                                             config.thresholds_a);
  auto b = eval::calibrated_eval_set_for_run(args.run_b, args.data, args.split, args.device,
                                             config.thresholds_b);
  config.bootstrap.resamples = args.bootstrap;
  const auto dropped = eval::restrict_to_shared_tasks(a, b);
  if (!dropped.empty())
    logger("eval")->info(
        "comparing the tasks both runs have, on the segments both score; "
        "left out: {}",
        join(dropped, ", "));
  auto comparison = eval::compare_runs(a, b, config);
  std::optional<eval::GateResult> gate;
  if (!gates.empty()) gate = eval::apply_gate(comparison, gates, args.alpha);
  auto j = eval::to_json(comparison, gate ? &*gate : nullptr);
  if (!args.compare_out.empty()) {
    std::error_code ec;
    fs::create_directories(args.compare_out, ec);
    if (ec)
      throw IoError("cannot create " + args.compare_out + " for comparison.json: " +
                    ec.message() + "; choose an --out you can write");
    write_file_atomic(std::filesystem::path(args.compare_out) / "comparison.json",
                      j.dump(2) + "\n");
  }
  std::printf("%-14s %-10s %9s %9s %9s %22s %7s\n", "task", "metric", "A", "B", "B - A",
              "95% CI of B - A", "p");
  for (const auto& r : comparison.rows) {
    std::printf("%-14s %-10s %9.4f %9.4f %+9.4f   [%+8.4f, %+8.4f] %7.3f\n", r.task.c_str(),
                eval::metric_infos()[size_t(r.metric)].name, r.a, r.b, r.delta,
                r.delta_interval.lo, r.delta_interval.hi, r.p_value);
  }
  if (gate) {
    std::cout << gate->summary << "\n";
    if (!gate->passed) throw ExitCode{1};
  }
}

/// One summary line per task of a written report.
void print_summary(const eval::EvalReport& report, const std::string& split) {
  for (const auto& t : report.tasks) {
    if (!t.note.empty()) {
      std::cout << t.name << ": " << t.note << "\n";
      continue;
    }
    const auto& m = t.bootstrap;
    const auto f1 = size_t(eval::Metric::kMacroF1), acc = size_t(eval::Metric::kAccuracy);
    std::printf(
        "%s: macro-F1 %.4f [%.4f, %.4f], accuracy %.4f, %zu segments in %zu calls (%s split)\n",
        t.name.c_str(), m.point[f1], m.intervals[f1].lo, m.intervals[f1].hi, m.point[acc],
        t.n_labelled, t.n_calls, split.c_str());
  }
}

/// `tenor eval`: the report, and one summary line per task.
void run_eval(const Args& args) {
  if (args.run.empty() || args.out.empty() || args.data.empty() == args.dataset.empty())
    throw UsageError(
        "tenor eval needs --run, --out and one of --data STORE or --dataset DIR (or the "
        "`compare` subcommand)");
  if (args.dataset.empty() && (!args.keep_store.empty() || args.allow_narrowband))
    throw UsageError("--keep-store and --allow-narrowband go with --dataset");
  if (!args.keep_store.empty()) new_output_file(args.keep_store, "--keep-store", "features.h5");
  if (!args.dataset.empty() && !args.audio.empty())
    throw UsageError("--audio goes with --data: with --dataset the call pages play that "
                     "dataset's audio");
  eval::RunEvalOptions options;
  options.split = args.split;
  options.device = args.device;
  options.calibration = args.calibration;
  options.config.bootstrap.resamples = args.bootstrap;
  options.config.bootstrap.seed = args.seed;
  if (!args.call.empty()) options.call = args.call;
  options.audio_dataset = args.audio;
  eval::EvalReport report;
  if (args.dataset.empty()) {
    report = eval::evaluate_run(args.run, args.data, args.out, options);
  } else {
    eval::DatasetEvalOptions d{options, args.keep_store, args.allow_narrowband, args.progress};
    report = eval::evaluate_run_on_dataset(args.run, args.dataset, args.out, d);
  }
  print_summary(report, args.split);
  logger("eval")->info("wrote {}/report.json, report.html, predictions.jsonl and calls/",
                       args.out);
}

CLI::App* add_compare_subcommand(CLI::App* cmd, const std::shared_ptr<Args>& args) {
  auto* compare = cmd->add_subcommand(
      "compare", "Compare two runs on the same segments; optional release gate");
  compare->add_option("RUN_A", args->run_a, "baseline run")->required();
  compare->add_option("RUN_B", args->run_b, "candidate run")->required();
  compare->add_option("--data", args->data, "feature store")->required();
  compare->add_option("--split", args->split, "split to compare on")->capture_default_str();
  compare->add_option("--fail-if-worse", args->gates,
                      "METRIC:TOL, e.g. macro_f1:0.01 (repeatable): exit 1 "
                      "when B is worse than A by more than TOL");
  compare->add_option("--alpha", args->alpha,
                      "with --fail-if-worse: fail only when the drop is also significant, paired "
                      "call-bootstrap p < ALPHA (e.g. 0.05); default: every drop beyond TOL fails")
      ->check([](const std::string& v) {
        const double a = std::strtod(v.c_str(), nullptr);
        return a > 0.0 && a < 1.0 ? std::string() : "ALPHA must lie in (0, 1), e.g. 0.05";
      });
  compare->add_option("--out", args->compare_out, "also write comparison.json here");
  compare->add_option("--bootstrap", args->bootstrap, "paired call-bootstrap resamples")
      ->capture_default_str()
      ->check(non_negative());
  compare->add_option("--device", args->device, "auto, cpu, cuda or cuda:N")
      ->capture_default_str()
      ->check(device_validator());
  compare->callback([args] { run_compare(*args); });
  return compare;
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto args = std::make_shared<Args>();
  auto* cmd =
      app.add_subcommand("eval", "Evaluate a run on held-out data: report.json and report.html");
  cmd->add_option("--run", args->run, "run directory (tenor train)");
  auto* data = cmd->add_option("--data", args->data, "feature store (tenor data build)");
  auto* dataset = cmd->add_option(
      "--dataset", args->dataset,
      "labelled dataset directory, scored with features computed as the run's were (never "
      "modified)");
  data->excludes(dataset);
  cmd->add_option("--keep-store", args->keep_store,
                  "with --dataset: keep the feature store built from it here (else it is "
                  "temporary)");
  cmd->add_flag("--allow-narrowband", args->allow_narrowband,
                "with --dataset: score audio sampled below the run's analysis band anyway");
  cmd->add_flag(
      "--no-progress", [args](int64_t) { args->progress = false; },
      "with --dataset: no progress line while extracting");
  cmd->add_option("--split", args->split,
                  "split to evaluate: test, dev, train or all (every labelled segment)")
      ->check(CLI::IsMember({"test", "dev", "train", "all"}))
      ->capture_default_str();
  cmd->add_option("--out", args->out, "report directory");
  cmd->add_option("--device", args->device, "auto, cpu, cuda or cuda:N")
      ->capture_default_str()
      ->check(device_validator());
  cmd->add_option("--call,--timeline", args->call,
                  "also write the page of this call, OUT/calls/CALL_ID.html (transcript, scores "
                  "over time, labels, audio); the report's call links open the same pages");
  cmd->add_option("--audio", args->audio,
                  "with --data: the dataset directory the store was built from, so that the "
                  "call pages play each turn of the calls' audio");
  cmd->add_option("--calibration", args->calibration,
                  "decision rules: run (the run's own, fitted on its dev split when training "
                  "ended) or dev (fitted now on the dev split of the store or dataset)")
      ->check(CLI::IsMember({"run", "dev"}))
      ->capture_default_str();
  cmd->add_option("--bootstrap", args->bootstrap, "call-bootstrap resamples")
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "bootstrap seed")
      ->check(whole_number())
      ->capture_default_str();
  cmd->footer(
      "Scores are calibrated with the run's decision rules (temperature and threshold per task, "
      "fitted on dev when training ended, RUN/calibration.json; never on test). tenor eval never "
      "writes into the run. --dataset DIR scores a labelled dataset the run never saw: its "
      "features are computed with the run's extractor settings and tokenizer into a temporary "
      "store (--keep-store keeps it). Metrics: docs/evaluation.md.");
  auto* compare = add_compare_subcommand(cmd, args);
  cmd->callback([args, compare] {
    if (!compare->parsed()) run_eval(*args);
  });
}

}  // namespace tenor::cli
