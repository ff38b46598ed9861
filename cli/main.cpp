// tenor: one binary, git-style subcommands. Each subcommand is registered by a
// small add_*_commands() function in its own file; this file only maps errors
// to exit codes (2: usage or configuration, 1: runtime).
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/commands.h"
#include "core/cpu.h"
#include "core/error.h"
#include "core/log.h"
#include "data/features/device.h"

int main(int argc, char** argv) {
  CLI::App app{"tenor: escalation and empathy detection from labelled customer-service calls"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::function<std::string()>(tenor::cli::version_text),
                       "Print the tool version and commit, the LibTorch version, whether CUDA, "
                       "cuDNN and NCCL are compiled in, and the CUDA devices visible; then exit");
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "debug, info, warn or error")->capture_default_str();
  app.parse_complete_callback([&] {
    tenor::set_log_level(log_level);
    // In a container with a CPU quota, one LibTorch thread per visible core would wait more
    // than it works (core/cpu.h).
    if (const int threads = tenor::features::fit_cpu_threads_to_quota())
      tenor::logger("tenor")->debug(
          "LibTorch threads: {} (the cgroup CPU quota, {:.2f} cores, of the {} cores this "
          "process may run on; OMP_NUM_THREADS or a command's threads choose otherwise)",
          threads, tenor::cpu_share().quota, tenor::cpu_share().allowed);
  });

  tenor::cli::add_data_commands(app);
  tenor::cli::add_data_build_command(app);
  tenor::cli::add_features_command(app);
  tenor::cli::add_train_command(app);
  tenor::cli::add_export_command(app);
  tenor::cli::add_predict_command(app);
  tenor::cli::add_eval_command(app);
  tenor::cli::refuse_empty_values(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() != 0) {
      const std::string hint = tenor::cli::did_you_mean(app);
      if (!hint.empty()) {
        std::cerr << "tenor: error: " << hint << "\n";
        return 2;
      }
    }
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const tenor::UsageError& e) {
    std::cerr << "tenor: error: " << e.what() << "\n";
    return 2;
  } catch (const tenor::ExitCode& e) {
    return e.code;
  } catch (const tenor::Error& e) {
    std::cerr << "tenor: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "tenor: internal error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
