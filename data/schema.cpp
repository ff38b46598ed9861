#include "data/schema.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <set>

#include "core/error.h"
#include "core/text.h"
#include "data/dataset_internal.h"

namespace tenor::data {
namespace {

const std::vector<std::string> kTopKeys = {"name", "version", "sample_rate", "labels"};
const std::vector<std::string> kTaskKeys = {"type", "classes", "speaker"};

int64_t line_of(const YAML::Node& node) { return node.Mark().line >= 0 ? node.Mark().line + 1 : 0; }

/// The line of `map[key]`; for a key written with no value (YAML's null, whose mark is the
/// token after it, often the next line), the key's own line.
int64_t value_line(const YAML::Node& map, const std::string& key) {
  const YAML::Node value = map[key];
  if (!value.IsNull()) return line_of(value);
  for (const auto& kv : map)
    if (kv.first.as<std::string>("") == key) return line_of(kv.first);
  return line_of(value);
}

std::string suggestion(std::string_view word, const std::vector<std::string>& candidates) {
  std::string near = nearest(word, candidates);
  return near.empty() ? "" : " (did you mean '" + near + "'?)";
}

constexpr TaskType kAllTaskTypes[] = {TaskType::kBinary, TaskType::kOrdinal,
                                      TaskType::kCategorical};

/// The type `word` names, or nothing.
std::optional<TaskType> find_task_type(std::string_view word) {
  for (TaskType type : kAllTaskTypes)
    if (word == to_string(type)) return type;
  return std::nullopt;
}

/// The one wording of an unknown task type, for dataset.yaml and for files tenor wrote.
std::string unknown_task_type(std::string_view word, const std::string& where) {
  std::vector<std::string> known;
  for (TaskType type : kAllTaskTypes) known.emplace_back(to_string(type));
  return where + " has type '" + printable(word) + "'; use ordinal, binary or categorical" +
         suggestion(word, known);
}

Schema read_schema(const std::filesystem::path& path, const std::string& file, Diagnostics& diag);

/// yaml-cpp keeps every entry of a repeated key, but `node[key]` finds only the first: a
/// second `labels:` would be ignored without a word. So every repeated key is an error.
/// `budget` bounds the walk (aliases can make a small file a large graph).
void check_duplicate_keys(const YAML::Node& node, const std::string& file, const std::string& path,
                          int depth, size_t& budget, Diagnostics& diag) {
  if (depth > 64 || budget == 0) return;
  --budget;
  if (node.IsSequence()) {
    for (const auto& item : node) check_duplicate_keys(item, file, path, depth + 1, budget, diag);
    return;
  }
  if (!node.IsMap()) return;
  std::map<std::string, int64_t> first_line;
  for (const auto& kv : node) {
    const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : YAML::Dump(kv.first);
    const std::string where = path.empty() ? key : path + "." + key;
    auto [it, inserted] = first_line.emplace(key, line_of(kv.first));
    if (!inserted) {
      diag.error(file, line_of(kv.first), "yaml-duplicate-key",
                 "key `" + printable(where) + "` appears again (first on line " +
                     std::to_string(it->second) +
                     "); only one would be read: merge the two into one or delete one");
    }
    check_duplicate_keys(kv.second, file, where, depth + 1, budget, diag);
  }
}

}  // namespace

const char* to_string(TaskType type) {
  switch (type) {
    case TaskType::kBinary:
      return "binary";
    case TaskType::kOrdinal:
      return "ordinal";
    case TaskType::kCategorical:
      return "categorical";
  }
  return "?";
}

TaskType task_type_from_string(std::string_view word, const std::string& where) {
  if (auto type = find_task_type(word)) return *type;
  throw DataError(unknown_task_type(word, where));
}

int Task::class_index(const std::string& name) const {
  auto it = std::find(classes.begin(), classes.end(), name);
  return it == classes.end() ? -1 : static_cast<int>(it - classes.begin());
}

const Task* Schema::find(const std::string& task) const {
  for (const auto& t : tasks)
    if (t.name == task) return &t;
  return nullptr;
}

std::vector<std::string> Schema::task_names() const {
  std::vector<std::string> names;
  for (const auto& t : tasks) names.push_back(t.name);
  return names;
}

Schema load_schema(const std::filesystem::path& path, const std::string& file, Diagnostics& diag) {
  const size_t errors_before = diag.error_count();
  Schema schema = read_schema(path, file, diag);
  schema.complete = diag.error_count() == errors_before;
  return schema;
}

namespace {
/// dataset.yaml parsed, or nothing (with the reason in `diag`) when it is absent, not a
/// file, unreadable, over 1 MiB or not YAML.
std::optional<YAML::Node> load_yaml(const std::filesystem::path& path, const std::string& file,
                                    Diagnostics& diag) {
  std::error_code ec;
  if (auto reason = internal::unreachable_reason(path); !reason.empty()) {
    diag.error(file, 0, "yaml-unreadable",
               "cannot read dataset.yaml: " + reason + "; " +
                   internal::permission_fix(path.parent_path()));
    return std::nullopt;
  }
  if (auto kind = internal::not_a_file(path); !kind.empty()) {
    diag.error(file, 0, "yaml-unreadable",
               "dataset.yaml " + kind +
                   "; it must be a text file with `name`, `version` and `labels`");
    return std::nullopt;
  }
  if (!std::filesystem::is_regular_file(path, ec)) {
    diag.error(
        file, 0, "schema-missing",
        "dataset.yaml is missing; every dataset needs one with `name`, `version` and `labels` "
        "(see docs/dataset-format.md)");
    return std::nullopt;
  }
  // A schema is a few hundred bytes; a huge file is the wrong file, and yaml-cpp would
  // hold all of it (several times over) in memory.
  constexpr uintmax_t kMaxBytes = uintmax_t{1} << 20;
  if (const auto bytes = std::filesystem::file_size(path, ec); !ec && bytes > kMaxBytes) {
    diag.error(file, 0, "yaml-too-large",
               "dataset.yaml is " + std::to_string(bytes) + " bytes, more than the " +
                   std::to_string(kMaxBytes) +
                   "-byte limit; it should hold only name, version and the label schema (is it "
                   "the right file?)");
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    diag.error(file, 0, "yaml-unreadable",
               "cannot read dataset.yaml: " + std::string(std::strerror(errno)) + "; " +
                   internal::permission_fix(path.parent_path()));
    return std::nullopt;
  }
  try {
    return YAML::Load(in);
  } catch (const YAML::DeepRecursion& e) {  // its message says "bad file"
    diag.error(file, e.mark.line >= 0 ? e.mark.line + 1 : 0, "yaml-malformed",
               "dataset.yaml nests lists or mappings too deep (yaml-cpp's limit); a schema needs "
               "three levels: remove the deep value");
  } catch (const YAML::ParserException& e) {
    diag.error(file, e.mark.line >= 0 ? e.mark.line + 1 : 0, "yaml-malformed",
               "dataset.yaml is not valid YAML: " + e.msg);
  } catch (const YAML::Exception& e) {
    diag.error(file, 0, "yaml-unreadable", std::string("cannot read dataset.yaml: ") + e.what());
  }
  return std::nullopt;
}

/// A required top-level value of dataset.yaml (`name`, `version`), "" when it has an error.
std::string top_scalar(const YAML::Node& root, const char* key, const std::string& file,
                       Diagnostics& diag) {
  auto node = root[key];
  if (!node) {
    diag.error(file, 0, "schema-missing-field",
               std::string("dataset.yaml has no `") + key + "`; add it");
    return "";
  }
  if (node.IsNull()) {
    diag.error(file, value_line(root, key), "schema-bad-field",
               std::string("`") + key + "` has no value; write one, e.g. `" + key + ": " +
                   (std::string(key) == "version" ? "1" : "my-calls") + "`");
    return "";
  }
  if (!node.IsScalar()) {
    diag.error(file, line_of(node), "schema-bad-field",
               std::string("`") + key + "` must be a single value");
    return "";
  }
  return node.Scalar();
}

/// dataset.yaml's optional `sample_rate`: nothing when it is absent or wrong (reported).
std::optional<int> read_sample_rate(const YAML::Node& root, const std::string& file,
                                    Diagnostics& diag) {
  auto rate = root["sample_rate"];
  if (!rate) return std::nullopt;
  int hz = 0;
  if (rate.IsScalar() && YAML::convert<int>::decode(rate, hz) && hz >= 1000 && hz <= 384000)
    return hz;
  diag.error(file, value_line(root, "sample_rate"), "schema-bad-sample-rate",
             "sample_rate '" +
                 printable(rate.IsScalar() ? rate.Scalar() : rate.IsNull() ? "" : "?") +
                 "' is not a rate in Hz between 1000 and 384000; write e.g. `sample_rate: 16000`");
  return std::nullopt;
}

/// A task's `classes` into `task`; false (each error reported) when they are missing,
/// repeated or empty, or not two for a binary task (when `type_known`: task.type was read).
bool read_classes(Task& task, const YAML::Node& body, int64_t line, const std::string& where,
                  bool type_known, const std::string& file, Diagnostics& diag) {
  auto classes = body["classes"];
  if (!classes || !classes.IsSequence() || classes.size() < 2) {
    diag.error(file, classes ? value_line(body, "classes") : line, "schema-bad-classes",
               where + " needs `classes`: a list of at least two class names");
    return false;
  }
  bool ok = true;
  std::set<std::string> seen;
  for (const auto& c : classes) {
    std::string name = c.IsScalar() ? c.Scalar() : "";
    if (name.empty() || !seen.insert(name).second) {
      diag.error(file, line_of(c), "schema-bad-classes",
                 where + " lists class '" + printable(name) +
                     "' twice or empty; class names must be unique");
      ok = false;
    }
    task.classes.push_back(name);
  }
  if (ok && type_known && task.type == TaskType::kBinary && task.classes.size() != 2) {
    diag.error(file, line_of(classes), "schema-bad-classes",
               where + " is binary but has " + std::to_string(task.classes.size()) +
                   " classes; use exactly two, or type categorical");
    ok = false;
  }
  return ok;
}

/// One task of dataset.yaml's `labels` (`kv`: its name and body), or nothing when it has an
/// error (each reported).
std::optional<Task> read_task(const std::pair<YAML::Node, YAML::Node>& kv,
                              const std::string& file, Diagnostics& diag) {
  Task task;
  task.name = kv.first.as<std::string>("");
  const auto& body = kv.second;
  const int64_t line = line_of(kv.first);
  const std::string where = "task '" + printable(task.name) + "'";
  if (!body.IsMap()) {
    diag.error(file, line, "schema-bad-task",
               where + " must be a mapping with type, classes and speaker");
    return std::nullopt;
  }
  for (const auto& field : body) {
    auto key = field.first.as<std::string>("");
    if (std::find(kTaskKeys.begin(), kTaskKeys.end(), key) == kTaskKeys.end()) {
      diag.warning(file, line_of(field.first), "schema-unknown-key",
                   where + ": unknown key '" + printable(key) + "' is ignored" +
                       suggestion(key, kTaskKeys));
    }
  }
  bool ok = true;
  std::string type = body["type"] && body["type"].IsScalar() ? body["type"].Scalar() : "";
  if (auto parsed = find_task_type(type)) {
    task.type = *parsed;
  } else {
    diag.error(file, body["type"] ? value_line(body, "type") : line, "schema-bad-task-type",
               unknown_task_type(type, where));
    ok = false;
  }
  ok = read_classes(task, body, line, where, ok, file, diag) && ok;
  if (!body["speaker"] || !body["speaker"].IsScalar() || body["speaker"].Scalar().empty()) {
    diag.error(file, body["speaker"] ? value_line(body, "speaker") : line, "schema-bad-speaker",
               where + " needs `speaker`: the role whose segments carry it (agent or customer)");
    ok = false;
  } else {
    task.speaker = body["speaker"].Scalar();
  }
  if (!ok) return std::nullopt;
  return task;
}

Schema read_schema(const std::filesystem::path& path, const std::string& file, Diagnostics& diag) {
  Schema schema;
  auto loaded = load_yaml(path, file, diag);
  if (!loaded) return schema;
  const YAML::Node& root = *loaded;
  if (!root.IsMap()) {
    diag.error(file, line_of(root), "schema-not-mapping",
               "dataset.yaml must be a mapping with `name`, `version` and `labels`");
    return schema;
  }
  size_t budget = 100'000;
  check_duplicate_keys(root, file, "", 0, budget, diag);
  for (const auto& kv : root) {
    auto key = kv.first.as<std::string>("");
    if (std::find(kTopKeys.begin(), kTopKeys.end(), key) == kTopKeys.end()) {
      diag.warning(file, line_of(kv.first), "schema-unknown-key",
                   "unknown key '" + printable(key) + "' is ignored" + suggestion(key, kTopKeys));
    }
  }
  schema.name = top_scalar(root, "name", file, diag);
  schema.version = top_scalar(root, "version", file, diag);
  schema.sample_rate_hz = read_sample_rate(root, file, diag);
  auto labels = root["labels"];
  if (!labels) {
    diag.error(file, 0, "schema-missing-field",
               "dataset.yaml has no `labels`; declare at least one task");
    return schema;
  }
  if (!labels.IsMap() || labels.size() == 0) {
    diag.error(file, value_line(root, "labels"), "schema-bad-field",
               "`labels` must map each task name to {type, classes, speaker}");
    return schema;
  }
  for (const auto& kv : labels)
    if (auto task = read_task(kv, file, diag)) schema.tasks.push_back(std::move(*task));
  return schema;
}

}  // namespace

std::string schema_to_yaml(const Schema& schema) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << schema.name;
  out << YAML::Key << "version" << YAML::Value << schema.version;
  if (schema.sample_rate_hz)
    out << YAML::Key << "sample_rate" << YAML::Value << *schema.sample_rate_hz;
  out << YAML::Key << "labels" << YAML::Value << YAML::BeginMap;
  for (const auto& task : schema.tasks) {
    out << YAML::Key << task.name << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "type" << YAML::Value << to_string(task.type);
    out << YAML::Key << "classes" << YAML::Value << YAML::Flow << task.classes;
    out << YAML::Key << "speaker" << YAML::Value << task.speaker;
    out << YAML::EndMap;
  }
  out << YAML::EndMap << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace tenor::data
