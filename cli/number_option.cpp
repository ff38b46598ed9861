// The checks of numeric options. CLI11's own (NonNegativeNumber, PositiveNumber) refuse -3
// with "Value -3 not in range 0.000000 to 1797693134862315708145...", 300 digits of
// DBL_MAX; these say what the value must be.
#include <cmath>
#include <cstdlib>

#include "cli/commands.h"
#include "core/text.h"

namespace tenor::cli {
namespace {

CLI::Validator bound_check(bool zero_allowed) {
  return CLI::Validator(
      [zero_allowed](std::string& value) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(value.c_str(), &end);
        const bool number = !value.empty() && *end == '\0' && std::isfinite(v);
        if (number && (zero_allowed ? v >= 0 : v > 0)) return "";
        return "'" + printable(value) + "' is not a number " + (zero_allowed ? ">= 0" : "> 0");
      },
      zero_allowed ? "NUMBER >= 0" : "NUMBER > 0");
}

}  // namespace

const CLI::Validator& non_negative() {
  static const CLI::Validator check = bound_check(true);
  return check;
}

const CLI::Validator& positive() {
  static const CLI::Validator check = bound_check(false);
  return check;
}

}  // namespace tenor::cli
