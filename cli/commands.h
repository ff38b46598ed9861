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

/// After CLI11 refused the command line parsed into `root`: a sentence naming a mistyped
/// subcommand or option and the nearest valid one ("'trian' is not a `tenor` command; did
/// you mean `tenor train`?"), an option tenor no longer takes with what replaced it, an
/// unknown subcommand or option with the list of valid ones, or "" when no word was left over
/// (CLI11's own message then stands).
std::string did_you_mean(const CLI::App& root);

/// The check of every `--device` option (resolve_device at parse time: exit 2 with its
/// sentence when the device cannot run here).
const CLI::Validator& device_validator();

/// The checks of numeric options: a value below 0 (non_negative) or not above 0 (positive),
/// or not a number, is a usage error (exit 2) naming the value and the bound.
const CLI::Validator& non_negative();
const CLI::Validator& positive();
/// A seed: a whole number that fits 64 bits (CLI11 reads "-1" into an unsigned seed as
/// 18446744073709551615, and a larger number as that too).
const CLI::Validator& whole_number();

/// Refuses an empty value ("--out ''", a variable that expanded to nothing) of every option and
/// positional argument under `app` as a usage error naming the option, at parse time: no
/// command takes "" for a path, a name or a number.
void refuse_empty_values(CLI::App& app);

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
