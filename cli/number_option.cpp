// The checks of option values. CLI11's own numeric ones (NonNegativeNumber, PositiveNumber)
// refuse -3 with "Value -3 not in range 0.000000 to 1797693134862315708145...", 300 digits of
// DBL_MAX; these say what the value must be. And no option takes an empty value.
#include <charconv>
#include <cmath>
#include <cstdint>
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

const CLI::Validator& whole_number() {
  static const CLI::Validator check(
      [](std::string& value) -> std::string {
        uint64_t v = 0;
        const char* end = value.data() + value.size();
        const auto [stop, ec] = std::from_chars(value.data(), end, v);
        if (value.empty() || value[0] == '-' || value[0] == '+' ||
            (ec != std::errc() && ec != std::errc::result_out_of_range) || stop != end)
          return "'" + printable(value) + "' is not a whole number >= 0";
        if (ec == std::errc::result_out_of_range)
          return "'" + printable(value) + "' is above 18446744073709551615, the largest seed";
        return "";
      },
      "WHOLE NUMBER");
  return check;
}

void refuse_empty_values(CLI::App& app) {
  static const CLI::Validator not_empty(
      [](std::string& value) -> std::string {
        return value.empty() ? "the value is empty; give one, or leave the option out" : "";
      },
      "");
  for (CLI::Option* option : app.get_options())
    if (option->get_expected_min() > 0) option->check(not_empty);
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    refuse_empty_values(*sub);
}

}  // namespace tenor::cli
