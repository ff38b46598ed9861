// The one mapping from tool files to a call dataset (docs/labelling.md), shared by the
// importers, and the writing of the imported dataset.
#include <algorithm>
#include <cmath>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/temporary_path.h"
#include "core/text.h"
#include "data/audio.h"
#include "data/import_internal.h"
#include "data/split.h"
#include "data/validate.h"

namespace tenor::data {
namespace fs = std::filesystem;

LabelTool label_tool_from_string(std::string_view word) {
  if (word == "textgrid") return LabelTool::kTextGrid;
  if (word == "elan") return LabelTool::kElan;
  if (word == "label-studio") return LabelTool::kLabelStudio;
  throw UsageError("'" + printable(word) + "' is not a labelling tool tenor knows; use "
                   "textgrid, elan or label-studio");
}

namespace import {
namespace {

/// What a tier holds, from its name.
struct TierKind {
  enum Kind { kRole, kTask, kPredicted, kBad } kind = kRole;
  const Task* task = nullptr;
  std::string annotator = {};
};

TierKind classify_tier(const SourceTier& tier, const Schema& schema, const std::string& display,
                       Diagnostics& diag) {
  const std::string name(trim(tier.name));
  const std::string where = "tier '" + printable(tier.name) + "': ";
  if (name.empty()) {
    diag.error(display, tier.line, "tier-unnamed",
               "a tier has no name; name it after a speaker role (agent, customer) or a task");
    return {TierKind::kBad};
  }
  if (name.ends_with(kPredictedSuffix) || name.ends_with(kSuspectSuffix))
    return {TierKind::kPredicted};
  const size_t at = name.find(kAnnotatorSeparator);
  const std::string base = name.substr(0, at);
  if (const Task* task = schema.find(base)) {
    TierKind k{TierKind::kTask, task};
    if (at != std::string::npos) k.annotator = std::string(trim(name.substr(at + 1)));
    if (at != std::string::npos && k.annotator.empty()) {
      diag.error(display, tier.line, "tier-annotator-empty",
                 where + "no annotator after '@'; name the tier " + base + "@<annotator>");
      return {TierKind::kBad};
    }
    return k;
  }
  const auto tasks = schema.task_names();
  if (at != std::string::npos) {
    diag.error(display, tier.line, "tier-unknown-task",
               where + "'" + printable(base) + "' is not a task of the schema (" +
                   join(tasks, ", ") + "); rename the tier to <task>@<annotator>");
    return {TierKind::kBad};
  }
  if (const std::string near = nearest(base, tasks); !near.empty()) {
    diag.error(display, tier.line, "tier-unknown-task",
               where + "not a task of the schema; did you mean '" + near +
                   "'? Rename the tier (a tier named after no task is read as a speaker role)");
    return {TierKind::kBad};
  }
  return {TierKind::kRole};
}

/// Intervals of one tier must not overlap (a tier is one speaker, or one task's labels).
bool check_no_overlap(const SourceTier& tier, const std::string& display, Diagnostics& diag) {
  bool ok = true;
  const SourceInterval* prev = nullptr;
  for (const auto& iv : tier.intervals) {
    if (!(iv.start_s >= 0) || !(iv.end_s > iv.start_s)) {
      diag.error(display, iv.line, "interval-times",
                 "tier '" + printable(tier.name) + "': an interval from " +
                     format_seconds(iv.start_s) + " to " + format_seconds(iv.end_s) +
                     "; an interval must start at 0 s or later and end after it starts: fix its "
                     "boundaries");
      ok = false;
      continue;
    }
    if (prev && iv.start_s < prev->end_s - 1e-9) {
      diag.error(display, iv.line, "interval-overlap",
                 "tier '" + printable(tier.name) + "': the interval " + format_seconds(iv.start_s) +
                     " to " + format_seconds(iv.end_s) + " overlaps the one from " +
                     format_seconds(prev->start_s) + " to " + format_seconds(prev->end_s) +
                     (prev->line ? " (line " + std::to_string(prev->line) + ")" : "") +
                     "; intervals on one tier must not overlap: move the boundary, or put the "
                     "other speaker's words on their own tier");
      ok = false;
    }
    if (!prev || iv.end_s > prev->end_s) prev = &iv;
  }
  return ok;
}

void add_role_segments(const SourceTier& tier, std::vector<std::pair<Segment, size_t>>& out,
                       size_t order) {
  for (const auto& iv : tier.intervals) {
    const std::string text(trim(iv.text));
    if (text.empty()) continue;  // a gap
    Segment s;
    s.start_s = iv.start_s;
    s.end_s = iv.end_s;
    s.speaker = std::string(trim(tier.name));
    if (text != kNoTranscript) s.text = iv.text;
    s.line = iv.line;
    out.emplace_back(std::move(s), order);
  }
}

bool apply_label_tier(const SourceTier& tier, const TierKind& kind, std::vector<Segment>& segments,
                      const SourceCall& source, Diagnostics& diag) {
  bool ok = true;
  const Task& task = *kind.task;
  const std::string where = "tier '" + printable(tier.name) + "': ";
  for (const auto& iv : tier.intervals) {
    const std::string value(trim(iv.text));
    if (value.empty()) continue;
    const auto cls = class_value(task, value);
    if (!cls) {
      diag.error(source.display, iv.line, "label-unknown-class",
                 where + "'" + printable(value) + "' (at " + format_seconds(iv.start_s) +
                     ") is not a class of " + task.name + " (" + class_list(task) +
                     "); relabel it, or add the class to the schema");
      ok = false;
      continue;
    }
    size_t hits = 0;
    for (auto& s : segments) {
      const double mid = (s.start_s + s.end_s) / 2;
      if (s.speaker != task.speaker || mid < iv.start_s || mid >= iv.end_s) continue;
      ++hits;
      if (kind.annotator.empty()) {
        s.labels[task.name] = *cls;
      } else {
        s.labels_by[kind.annotator][task.name] = *cls;
      }
    }
    if (hits == 0) {
      diag.error(source.display, iv.line, "label-no-segment",
                 where + "the label '" + printable(value) + "' from " + format_seconds(iv.start_s) +
                     " to " + format_seconds(iv.end_s) + " covers no " + task.speaker +
                     " segment (the middle of one); " + task.name + " labels " + task.speaker +
                     " segments: align it with an interval of the " + task.speaker + " tier");
      ok = false;
    }
  }
  return ok;
}

}  // namespace

std::optional<int> class_value(const Task& task, const std::string& value) {
  if (int i = task.class_index(value); i >= 0) return i;
  if (!value.empty() && value.find_first_not_of("0123456789") == std::string::npos &&
      value.size() < 4) {
    const int i = std::stoi(value);
    if (i < task.num_classes()) return i;
  }
  return std::nullopt;
}

std::string class_list(const Task& task) { return join(task.classes, ", "); }

bool check_recording(const Call& call, const fs::path& media, const std::string& display,
                     int64_t line, Diagnostics& diag, const std::string& where) {
  AudioInfo info;
  try {
    info = probe_audio(media);
  } catch (const Error& e) {
    diag.error(display, line, "media-unreadable",
               where + e.what() + "; export the recording as WAV or FLAC");
    return false;
  }
  bool ok = true;
  for (const auto& [role, channel] : call.channels) {
    if (channel < 0 || channel >= info.channels) {
      diag.error(display, line, "channel-missing",
                 where + "the " + role + " channel is " + std::to_string(channel) + ", but " +
                     media.filename().string() + " has " + std::to_string(info.channels) +
                     " channel(s) (0.." + std::to_string(info.channels - 1) +
                     "); give a channel the recording has");
      ok = false;
    }
  }
  for (const auto& s : call.segments) {
    if (s.end_s > info.duration_s() + kEndToleranceSeconds) {
      diag.error(display, s.line ? s.line : line, "segment-past-end",
                 where + "the " + s.speaker + " interval from " + format_seconds(s.start_s) +
                     " ends at " + format_seconds(s.end_s) + ", past the end of " +
                     media.filename().string() + " (" + format_seconds(info.duration_s()) +
                     "); fix the boundary or link the right recording");
      ok = false;
    }
  }
  return ok;
}

std::optional<Call> call_from_tiers(const SourceCall& source, const Schema& schema,
                                    const ImportOptions& options, Diagnostics& diag) {
  bool ok = true;
  std::vector<std::pair<Segment, size_t>> found;
  std::vector<std::pair<const SourceTier*, TierKind>> label_tiers;
  std::map<std::string, int64_t> names;  // tier name -> line of its first tier
  for (size_t i = 0; i < source.tiers.size(); ++i) {
    const auto& tier = source.tiers[i];
    if (auto [it, fresh] = names.emplace(std::string(trim(tier.name)), tier.line); !fresh) {
      diag.error(source.display, tier.line, "tier-duplicate",
                 "a second tier named '" + printable(tier.name) + "' (the first is at line " +
                     std::to_string(it->second) + "); rename or merge one of them");
      ok = false;
      continue;
    }
    const TierKind kind = classify_tier(tier, schema, source.display, diag);
    if (kind.kind == TierKind::kBad) ok = false;
    if (kind.kind == TierKind::kBad || kind.kind == TierKind::kPredicted) continue;
    if (!check_no_overlap(tier, source.display, diag)) ok = false;
    if (kind.kind == TierKind::kRole) add_role_segments(tier, found, i);
    if (kind.kind == TierKind::kTask) label_tiers.emplace_back(&tier, kind);
  }
  std::stable_sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return a.first.start_s != b.first.start_s ? a.first.start_s < b.first.start_s
                                              : a.second < b.second;
  });
  Call call;
  call.call_id = source.call_id;
  call.split = source.split;
  call.line = source.media_line;
  for (auto& [segment, order] : found) call.segments.push_back(std::move(segment));
  for (const auto& [tier, kind] : label_tiers)
    if (!apply_label_tier(*tier, kind, call.segments, source, diag)) ok = false;
  if (call.segments.empty())
    diag.warning(source.display, 0, "no-segments",
                 "no speaker tier holds an interval with text, so the call has no segments; name "
                 "the tiers with the words after the speaker roles (agent, customer)");
  if (!source.media.empty()) {
    call.audio = "audio/" + call.call_id + [&] {
      std::string ext = source.media.extension().string();
      std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
      return ext;
    }();
    call.channels = options.channels;
    if (!check_recording(call, source.media, source.display, source.media_line, diag)) ok = false;
  }
  if (!ok) return std::nullopt;
  return call;
}

std::pair<std::string, std::string> call_id_and_split(const fs::path& relative) {
  fs::path rel = relative.lexically_normal();
  std::string split;
  auto first = rel.begin();
  const std::string top = first->string();
  if ((top == "train" || top == "dev" || top == "test") && std::next(first) != rel.end()) {
    split = top;
    rel = rel.lexically_relative(top);
  }
  return {rel.replace_extension().generic_string(), split};
}

std::vector<fs::path> tool_files(const fs::path& source, std::span<const std::string> extensions,
                                 const std::string& what) {
  std::error_code ec;
  if (fs::is_regular_file(source, ec)) return {source};
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(source, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    std::string ext = it->path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
    if (std::find(extensions.begin(), extensions.end(), ext) != extensions.end())
      files.push_back(it->path());
  }
  if (ec) throw IoError("cannot list " + source.string() + ": " + ec.message());
  if (files.empty())
    throw UsageError(source.string() + " holds no " + what + " (" + join(extensions, ", ") +
                     "); pass the file or the directory that holds them");
  std::sort(files.begin(), files.end());
  return files;
}

std::string display_path(const fs::path& source, const fs::path& file) {
  std::error_code ec;
  if (fs::is_regular_file(source, ec)) return source.string();
  return (source / file.lexically_relative(source)).lexically_normal().string();
}

}  // namespace import

namespace {

void check_unique_call_ids(const Dataset& dataset, Diagnostics& diag) {
  std::map<std::string, const Call*> seen;
  for (const auto& call : dataset.calls) {
    auto [it, fresh] = seen.emplace(call.call_id, &call);
    if (!fresh)
      diag.error(call.extra.value("source", std::string()), 0, "duplicate-call-id",
                 "the call id '" + printable(call.call_id) + "' is also that of " +
                     it->second->extra.value("source", std::string()) +
                     "; rename one of the two files (the id is the file's path without extension)");
  }
}

void refuse_output(const ImportOptions& options, const fs::path& out) {
  std::error_code ec;
  const fs::path dst = new_output_directory(out);
  if (fs::is_directory(options.source, ec) && path_within(dst, options.source))
    throw UsageError(out.string() + " lies inside the source " + options.source.string() +
                     "; tenor never writes into the tool's files: choose a directory outside it");
}

/// Validates the dataset written in `temp` as `data validate` does (findings named under
/// `out_arg`) and, when it has no error, renames it to `out`; false (nothing written) else.
bool publish_if_valid(TemporaryPath& temp, const fs::path& out, const fs::path& out_arg,
                      Diagnostics& diag) {
  ValidateOptions vo;
  vo.audio_duplicates = false;
  ValidationResult checked = validate_dataset(temp.path(), vo);
  for (Finding f : checked.diagnostics.findings()) {
    f.file = (out_arg / f.file).string();
    diag.add(std::move(f));
  }
  if (checked.diagnostics.error_count() > 0) return false;
  publish_directory(temp.path(), out);  // replaces the empty directory refuse_output allowed
  temp.keep();
  return true;
}

/// Builds the dataset in a temporary sibling of `out`, validates it, renames it into place.
bool write_imported(const ImportedCalls& imported, const ImportOptions& options,
                    const fs::path& out_arg, Diagnostics& diag) {
  const fs::path out = resolved_path(out_arg);  // checked by refuse_output
  std::error_code ec;
  fs::create_directories(out.parent_path(), ec);
  TemporaryPath temp(temp_path_for_output(out));
  fs::create_directory(temp.path(), ec);
  if (ec) throw IoError("cannot create " + temp.path().string() + ": " + ec.message());
  fs::copy_file(options.schema, temp.path() / "dataset.yaml", ec);
  if (ec) throw IoError("cannot copy " + options.schema.string() + ": " + ec.message());
  Dataset dataset = imported.dataset;
  dataset.root = temp.path();
  for (auto& call : dataset.calls) call.extra = nullptr;  // where it came from, not a field
  write_calls_jsonl(dataset, temp.path() / "calls.jsonl");
  for (const auto& call : dataset.calls) {
    if (call.audio.empty()) continue;
    const fs::path link = temp.path() / call.audio;
    fs::create_directories(link.parent_path(), ec);
    fs::create_symlink(fs::canonical(imported.media.at(call.call_id)), link, ec);
    if (ec) throw IoError("cannot link " + link.string() + ": " + ec.message());
  }
  return publish_if_valid(temp, out, out_arg, diag);
}

// --- --update: the tool's calls in place of a dataset's ----------------------------------

/// Labels (resolved and each annotator's) of `a` and `b` that differ.
size_t label_changes(const Segment& a, const Segment& b) {
  size_t n = 0;
  auto count = [&](const std::map<std::string, int>& x, const std::map<std::string, int>& y) {
    for (const auto& [task, cls] : x)
      if (auto it = y.find(task); it == y.end() || it->second != cls) ++n;
    for (const auto& [task, cls] : y)
      if (!x.count(task)) ++n;
  };
  count(a.labels, b.labels);
  for (const auto& [who, labels] : a.labels_by)
    count(labels, b.labels_by.count(who) ? b.labels_by.at(who) : std::map<std::string, int>());
  for (const auto& [who, labels] : b.labels_by)
    if (!a.labels_by.count(who)) count({}, labels);
  return n;
}

/// The segment of `call` with `s`'s speaker and times (to the millisecond), or nullptr.
Segment* same_segment(Call& call, const Segment& s) {
  for (auto& t : call.segments)
    if (t.speaker == s.speaker && std::abs(t.start_s - s.start_s) < 1e-3 &&
        std::abs(t.end_s - s.end_s) < 1e-3)
      return &t;
  return nullptr;
}

/// `target` re-labelled from the tool's `from`: segments with the same speaker and times keep
/// their place, times and unknown fields and take the tool's text and labels; when the tool's
/// segments differ (a boundary moved), they replace the call's. Returns the labels changed.
size_t replace_call(Call& target, const Call& from, const std::string& source,
                    Diagnostics& diag) {
  size_t changes = 0;
  std::set<const Segment*> matched;
  std::vector<Segment*> twin(from.segments.size());  // the dataset's segment of each, or null
  for (size_t i = 0; i < from.segments.size(); ++i) {
    twin[i] = same_segment(target, from.segments[i]);
    if (twin[i]) changes += label_changes(*twin[i], from.segments[i]);
    if (twin[i]) matched.insert(twin[i]);
  }
  if (matched.size() == target.segments.size() && matched.size() == from.segments.size()) {
    for (size_t i = 0; i < twin.size(); ++i) {  // in place: the segment indices stay
      twin[i]->text = from.segments[i].text;
      twin[i]->labels = from.segments[i].labels;
      twin[i]->labels_by = from.segments[i].labels_by;
    }
  } else {
    diag.warning(source, 0, "update-segments",
                 "call " + printable(target.call_id) + ": " +
                     std::to_string(from.segments.size() - matched.size()) + " segment(s) of the "
                     "tool's file are not in the dataset and " +
                     std::to_string(target.segments.size() - matched.size()) + " of the "
                     "dataset's are not in the file (moved boundaries?); the file's segments "
                     "replace the call's, and its segment indices change");
    std::vector<Segment> segments = from.segments;
    for (size_t i = 0; i < twin.size(); ++i)
      if (twin[i]) segments[i].extra = twin[i]->extra;
    target.segments = std::move(segments);
  }
  if (!from.channels.empty()) target.channels = from.channels;
  return changes;
}

/// `base` with each imported call in place of its own; an error for a call `base` lacks.
bool merge_into(Dataset& base, const ImportedCalls& imported, const fs::path& base_path,
                Diagnostics& diag, ImportResult& result) {
  std::map<std::string, Call*> by_id;
  for (auto& c : base.calls) by_id[c.call_id] = &c;
  bool ok = true;
  for (const auto& call : imported.dataset.calls) {
    const std::string source = call.extra.value("source", std::string());
    const auto it = by_id.find(call.call_id);
    if (it == by_id.end()) {
      diag.error(source, 0, "update-unknown-call",
                 "call " + printable(call.call_id) + " is not in " + base_path.string() +
                     "; --update re-labels calls of that dataset: name the file after one of "
                     "its calls, or import without --update into a new dataset");
      ok = false;
      continue;
    }
    result.changed_labels += replace_call(*it->second, call, source, diag);
    ++result.updated_calls;
  }
  return ok;
}

/// Writes `base` updated with the imported calls at `out` (through a temporary sibling),
/// validated as a fresh import is; false (nothing written) on any error.
bool write_updated(Dataset base, const ImportedCalls& imported, const ImportOptions& options,
                   const fs::path& out_arg, Diagnostics& diag, ImportResult& result) {
  if (!merge_into(base, imported, options.update, diag, result)) return false;
  const fs::path out = resolved_path(out_arg);  // checked by refuse_output
  std::error_code ec;
  fs::create_directories(out.parent_path(), ec);
  TemporaryPath temp(temp_path_for_output(out));
  write_derived_dataset(base, temp.path(),
                        base.source == "segments.csv" ? ManifestFormat::kCsv
                                                      : ManifestFormat::kJsonl);
  result.calls = base.calls.size();
  result.segments = base.segment_count();
  return publish_if_valid(temp, out, out_arg, diag);
}

/// With --update the schema is that dataset's dataset.yaml.
ImportOptions resolve_update(ImportOptions options) {
  if (options.update.empty()) return options;
  if (!options.schema.empty())
    throw UsageError("--schema and --update " + options.update.string() + " were both given; "
                     "the updated dataset's dataset.yaml is the schema: drop --schema");
  options.schema = options.update / "dataset.yaml";
  return options;
}

}  // namespace

ImportedCalls read_tool_files(const ImportOptions& options, const Schema& schema,
                              Diagnostics& diag) {
  ImportedCalls imported;
  switch (options.from) {
    case LabelTool::kTextGrid: imported = import::read_textgrids(options, schema, diag); break;
    case LabelTool::kElan: imported = import::read_elan(options, schema, diag); break;
    case LabelTool::kLabelStudio:
      imported = import::read_label_studio(options, schema, diag);
      break;
  }
  check_unique_call_ids(imported.dataset, diag);
  if (imported.dataset.calls.empty() && diag.error_count() == 0)
    diag.error(options.source.string(), 0, "no-calls",
               "no call could be read from it (no task, or no file with a tier); pass the "
               "tool's files of a labelled project");
  imported.dataset.schema = schema;
  return imported;
}

ImportResult import_dataset(const ImportOptions& given, const fs::path& out) {
  const ImportOptions options = resolve_update(given);
  // The dataset to update is read first: a missing or broken one is the input's problem (1).
  const std::optional<Dataset> base =
      options.update.empty() ? std::nullopt : std::optional(load_dataset_or_throw(options.update));
  std::error_code ec;
  if (!fs::exists(options.source, ec))
    throw UsageError(options.source.string() + " does not exist; pass the tool's file or the "
                     "directory that holds its files");
  if (!fs::is_regular_file(options.schema, ec))
    throw UsageError("--schema " + options.schema.string() + " is not a file; pass the "
                     "dataset.yaml that declares the tasks and their classes");
  refuse_output(options, out);
  if (!options.update.empty()) refuse_output_inside_dataset(options.update, out);
  ImportResult result;
  Diagnostics& diag = result.diagnostics;
  const Schema schema = load_schema(options.schema, options.schema.string(), diag);
  if (diag.error_count() == 0) {
    const ImportedCalls imported = read_tool_files(options, schema, diag);
    if (diag.error_count() == 0 && !options.update.empty()) {
      result.written = write_updated(*base, imported, options, out, diag, result);
    } else if (diag.error_count() == 0) {
      result.written = write_imported(imported, options, out, diag);
      result.calls = imported.dataset.calls.size();
      result.segments = imported.dataset.segment_count();
    }
  }
  diag.sort();
  return result;
}

}  // namespace tenor::data
