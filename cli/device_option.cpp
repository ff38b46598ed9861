// The one check behind every `--device` option: a device that cannot run here is a usage
// error at parse time (exit 2, before any input is read or output created), with
// resolve_device's sentence.
#include "cli/commands.h"
#include "core/error.h"
#include "data/features/device.h"

namespace tenor::cli {

const CLI::Validator& device_validator() {
  static const CLI::Validator check(
      [](std::string& spec) -> std::string {
        try {
          features::resolve_device(spec);
          return "";
        } catch (const ConfigError& e) {
          return e.what();
        }
      },
      "auto|cpu|cuda|cuda:N");
  return check;
}

}  // namespace tenor::cli
