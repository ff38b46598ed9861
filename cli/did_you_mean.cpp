// The "did you mean" of a command line CLI11 refused. CLI11 (2.1) says only "A subcommand is
// required" for `tenor trian`, or "The following arguments were not expected: x --confg",
// naming no valid word; the words it could not place are still in each command's
// remaining(), and the command they were typed after knows its subcommands and options.
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/retired.h"
#include "core/text.h"

namespace tenor::cli {
namespace {

/// The subcommands parsed, root first: `tenor eval compare` -> root, eval, compare.
std::vector<const CLI::App*> parsed_chain(const CLI::App& root) {
  std::vector<const CLI::App*> chain = {&root};
  for (;;) {
    const auto subs = chain.back()->get_subcommands();
    if (subs.empty()) return chain;
    chain.push_back(subs.front());
  }
}

/// "tenor", "tenor data", ...
std::string command_path(const std::vector<const CLI::App*>& chain) {
  std::string path = "tenor";
  for (size_t i = 1; i < chain.size(); ++i) path += " " + chain[i]->get_name();
  return path;
}

std::vector<std::string> subcommand_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    if (!sub->get_name().empty()) names.push_back(sub->get_name());
  return names;
}

std::vector<std::string> option_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* opt : app.get_options())
    for (const std::string& l : opt->get_lnames()) names.push_back("--" + l);
  return names;
}

/// Options tenor took once and no longer does: why, and what to do instead.
std::optional<std::string> removed_option(const std::string& flag) {
  if (flag == "--text-embeddings")
    return std::string(kSentenceEmbeddingsRemoved) + ": leave the option out";
  return std::nullopt;
}

/// What to say of `word`, left over at the command `app` (spelt `path`): a hint that settles
/// it (a near match, a removed option), returned; or, with no near match, the valid words,
/// put in `unknown` unless an earlier word put something there.
std::string hint_for(const CLI::App& app, const std::string& path, const std::string& word,
                     std::string& unknown) {
  if (word.starts_with("--")) {
    const std::string flag = word.substr(0, word.find('='));
    if (const auto why = removed_option(flag))
      return "`" + path + "` no longer takes " + flag + ": " + *why;
    std::vector<std::string> options = option_names(app);
    const std::string near = nearest(flag, options);
    if (!near.empty())
      return "`" + path + "` has no option '" + printable(flag) + "'; did you mean '" + near +
             "'? (`" + path + " --help` lists them)";
    std::erase(options, "--help");
    if (unknown.empty() && !options.empty())
      unknown = "`" + path + "` has no option '" + printable(flag) + "'; its options are " +
                join(options, ", ") + " (`" + path + " --help` says what each does)";
    return "";
  }
  const std::vector<std::string> commands = subcommand_names(app);
  if (word.starts_with("-") || commands.empty()) return "";
  const std::string near = nearest(word, commands);
  if (!near.empty())
    return "'" + printable(word) + "' is not a `" + path + "` command; did you mean `" + path +
           " " + near + "`?";
  if (unknown.empty())
    unknown = "'" + printable(word) + "' is not a `" + path + "` command; the commands are " +
              join(commands, ", ");
  return "";
}

}  // namespace

std::string did_you_mean(const CLI::App& root) {
  const auto chain = parsed_chain(root);
  std::string unknown;  // the first word with no near match, said with what there is
  // Each word is matched against the command it was left at: `tenor --lg-level debug data`
  // leaves --lg-level at tenor, `tenor data valdate` leaves valdate at data.
  for (size_t depth = 0; depth < chain.size(); ++depth) {
    const CLI::App& app = *chain[depth];
    const std::string path = command_path({chain.begin(), chain.begin() + depth + 1});
    for (const std::string& word : app.remaining())
      if (std::string hint = hint_for(app, path, word, unknown); !hint.empty()) return hint;
  }
  return unknown;
}

}  // namespace tenor::cli
