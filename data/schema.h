#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "data/diagnostics.h"

namespace tenor::data {

/// How the classes of a task relate: binary (two classes, class 1 is the positive one),
/// ordinal (ordered from least to most, e.g. calm < frustrated < angry) or categorical
/// (unordered). The one task type of the toolkit: dataset.yaml, the trainer's heads,
/// evaluation, export, shape.json and bundles all use it.
enum class TaskType { kBinary, kOrdinal, kCategorical };

/// "binary", "ordinal" or "categorical": the word dataset.yaml, shape.json, bundles and
/// reports use for the type.
const char* to_string(TaskType type);

/// The type `word` names (the inverse of to_string). Any other word is a DataError naming
/// it, `where` it was read from (e.g. "RUN/shape.json, task 'escalation'") and the known
/// types.
TaskType task_type_from_string(std::string_view word, const std::string& where);

/// One labelling task declared in dataset.yaml (`labels:`).
struct Task {
  std::string name;
  TaskType type = TaskType::kBinary;
  std::vector<std::string> classes;
  std::string speaker;  ///< the role whose segments carry this label

  /// Index of a class name, or -1.
  int class_index(const std::string& name) const;
  int num_classes() const { return static_cast<int>(classes.size()); }
};

/// dataset.yaml: name, version, optional sample rate and the label schema.
struct Schema {
  std::string name;
  std::string version;
  std::optional<int> sample_rate_hz;
  std::vector<Task> tasks;
  bool complete = true;  ///< false when dataset.yaml had errors (some tasks may be missing)

  const Task* find(const std::string& task) const;
  std::vector<std::string> task_names() const;
};

/// Reads `path` (dataset.yaml). Problems go to `diag`; the returned schema holds
/// whatever could be read (tasks with errors are left out).
Schema load_schema(const std::filesystem::path& path, const std::string& display_name,
                   Diagnostics& diag);

/// The schema as dataset.yaml text.
std::string schema_to_yaml(const Schema& schema);

}  // namespace tenor::data
