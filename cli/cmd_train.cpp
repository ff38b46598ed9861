// `tenor train --config X.yaml [--set key=value ...]`: thin wrapper of train_model.
#include <algorithm>
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "core/log.h"
#include "core/text.h"
#include "train/config.h"
#include "train/run_dir.h"
#include "train/trainer.h"

namespace tenor::cli {
namespace fs = std::filesystem;

namespace {

/// `--config RUN/config.yaml` alone trains (resumes) that run from any directory. Its relative
/// paths (`out`, `features`, any other file) are relative to the directory it trained in:
/// training runs there, as the command that started it did. Not when `--set` gives `out` or
/// `features` (paths of this directory, as for a run moved elsewhere).
void train_where_the_run_trained(const std::vector<std::string>& configs,
                                 const std::vector<std::string>& sets,
                                 const train::TrainConfig& config) {
  if (configs.size() != 1 || fs::path(configs[0]).filename() != "config.yaml") return;
  fs::path dir = fs::path(configs[0]).parent_path();
  if (dir.empty()) dir = ".";
  const bool paths_set = std::any_of(sets.begin(), sets.end(), [](const std::string& s) {
    const std::string_view key = trim(std::string_view(s).substr(0, s.find('=')));
    return key == "out" || key == "features";
  });
  if (paths_set || !train::is_run_dir(dir)) return;
  std::error_code ec;
  if (const auto base = train::run_base_dir(dir, config);
      base && !fs::equivalent(*base, fs::current_path(), ec)) {
    logger("train")->info("{} is the configuration of run {}: training it in {}, the directory "
                          "it trained in, which its paths are relative to",
                          configs[0], dir.string(), base->string());
    fs::current_path(*base);
  }
}

}  // namespace

void add_train_command(CLI::App& app) {
  struct Args {
    std::vector<std::string> configs, sets;
    std::string device;
    bool dump = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("train", "Train escalation/empathy models from a feature store");
  cmd->add_option("--config", args->configs,
                  "YAML config (repeatable; later files override earlier ones)");
  cmd->add_option("--set", args->sets, "override one key, e.g. --set optim.lr=0.001 (repeatable)");
  cmd->add_option("--device", args->device, "the config's device: auto, cpu, cuda or cuda:N")
      ->check(device_validator());
  cmd->add_flag("--dump-config", args->dump, "print the resolved config and exit");
  cmd->footer(
      "Precedence: defaults < --config files < --set < --device. Running the same command again "
      "after a crash resumes from the run directory's last checkpoint.");
  cmd->callback([args] {
    train::TrainConfig config;
    for (const auto& file : args->configs) train::apply_yaml_file(config, file);
    for (const auto& s : args->sets) train::apply_override(config, s);
    if (!args->device.empty()) config.device = args->device;
    train_where_the_run_trained(args->configs, args->sets, config);
    if (args->dump) {
      std::cout << train::to_yaml(config);
      return;
    }
    config.validate();
    auto result = train::train_model(config);
    logger("train")->info("best dev {} {:.4f} at epoch {} ({} epochs, {} steps); run in {}",
                          config.selection == "clean" ? "macro-F1" : "score (" + config.selection +
                                                                         " over conditions)",
                          result.best_dev_score, result.best_epoch, result.epochs_run, result.steps,
                          result.run_dir);
  });
}

}  // namespace tenor::cli
