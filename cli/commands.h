#pragma once

#include <CLI/CLI.hpp>

namespace tenor {
/// Thrown by a subcommand's callback to end with a given exit status after it
/// has already reported (e.g. `data validate` found errors: exit 1).
struct ExitCode {
  int code;
};
}  // namespace tenor

namespace tenor::cli {

/// `tenor --version`'s text: tool version and commit, LibTorch version, whether CUDA, cuDNN
/// and NCCL are compiled in (with versions), and the CUDA devices visible.
std::string version_text();

/// The check of every `--device` option (resolve_device at parse time: exit 2 with its
/// sentence when the device cannot run here).
const CLI::Validator& device_validator();

/// `tenor data validate|stats|split|synth|convert`.
void add_data_commands(CLI::App& app);

/// `tenor data build` (registered after add_data_commands: it joins the `data` group).
void add_data_build_command(CLI::App& app);

/// `tenor features FILE...`.
void add_features_command(CLI::App& app);

/// `tenor train`.
void add_train_command(CLI::App& app);

/// `tenor export` and `tenor export verify`.
void add_export_command(CLI::App& app);

/// `tenor predict`.
void add_predict_command(CLI::App& app);

/// `tenor eval` and `tenor eval compare`.
void add_eval_command(CLI::App& app);

}  // namespace tenor::cli
