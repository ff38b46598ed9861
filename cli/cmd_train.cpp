// `tenor train --config X.yaml [--set key=value ...]`: thin wrapper of train_model.
#include <iostream>

#include "cli/commands.h"
#include "core/log.h"
#include "train/config.h"
#include "train/trainer.h"

namespace tenor::cli {

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
