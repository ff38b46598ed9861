// A Label Studio JSON export (Export > JSON: a list of tasks, each with `data`, `annotations`
// and `predictions`) of audio tasks -> calls. A region is the results sharing one `id` with a
// start and an end (seconds): `speaker` Labels give its role, a Labels or Choices control named
// after a task its class, a TextArea its transcript. Each annotation is one annotator's
// labels (`labels_by`); the ground-truth annotation holds the resolved `labels`. Predictions
// are never imported. Format: https://labelstud.io/guide/task_format
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/text.h"
#include "data/audio.h"
#include "data/import_internal.h"

namespace tenor::data::import {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

/// Result types of other Label Studio task types, with the kind of task they mean.
const std::map<std::string, std::string> kOtherTypes = {
    {"rectanglelabels", "image"},       {"polygonlabels", "image"},
    {"keypointlabels", "image"},        {"brushlabels", "image"},
    {"ellipselabels", "image"},         {"rectangle", "image"},
    {"hypertextlabels", "HTML"},        {"paragraphlabels", "dialogue"},
    {"timeserieslabels", "time series"}, {"videorectangle", "video"},
    {"rating", "rating"},               {"ranker", "ranking"}};

struct Place {
  std::string display;
  std::string task;  ///< "task 3 (id 17)"
};

struct Region {
  double start_s = 0, end_s = 0;
  std::optional<int> channel;
  std::string placed_by;  ///< the control of the first result, which gave the times and channel
  std::string role;
  std::optional<std::string> text;
  std::map<std::string, int> labels;
  std::string id;
};

/// Whether `obj` lacks `key` (or holds null) or holds it of the kind Label Studio writes
/// (`is`, e.g. &json::is_string).
bool absent_or(const json& obj, const char* key, bool (json::*is)() const noexcept) {
  const auto it = obj.find(key);
  return it == obj.end() || it->is_null() || ((*it).*is)();
}

/// A value of the wrong kind where Label Studio writes another: an edited or foreign file.
void malformed(Diagnostics& diag, const Place& at, const std::string& where,
               const std::string& what) {
  diag.error(at.display, 0, "ls-malformed",
             where + what + "; Label Studio does not write that: export the project again with "
             "Export > JSON (or mend the edit)");
}

/// Whether each named field of `obj` is absent or a text, with an error for the first not.
bool strings_or_absent(const json& obj, std::initializer_list<const char*> keys,
                       Diagnostics& diag, const Place& at, const std::string& where) {
  for (const char* key : keys)
    if (!absent_or(obj, key, &json::is_string)) {
      malformed(diag, at, where, "'" + std::string(key) + "' is " +
                                     printable(obj[key].dump(), 40) + ", not a text");
      return false;
    }
  return true;
}

std::string annotator_name(const json& a, size_t index) {
  for (const auto& r : a.value("result", json::array()))  // tenor's export puts it there
    if (r.is_object() && r.contains("meta") && r["meta"].is_object() &&
        r["meta"].contains("annotator") && r["meta"]["annotator"].is_string())
      return r["meta"]["annotator"];
  const json by = a.value("completed_by", json());
  if (by.is_object()) {
    if (by.contains("email") && by["email"].is_string()) return by["email"];
    if (by.contains("id")) return "user-" + by["id"].dump();
  }
  if (by.is_string()) return by;
  if (by.is_number_integer()) return "user-" + by.dump();
  return "annotation-" + std::to_string(index + 1);
}

/// The recording of `url`: Label Studio's /data/local-files/?d=PATH, an upload
/// (/data/upload/N/HASH-name.wav), a URL or a path, looked up under `media` by its path, then
/// by its file name, then without the 8-hex-digit prefix an upload adds.
fs::path resolve_audio(std::string url, const fs::path& media) {
  if (auto d = url.find("?d="); d != std::string::npos) url = url.substr(d + 3);
  if (auto scheme = url.find("://"); scheme != std::string::npos) {
    url = url.substr(scheme + 3);
    url = url.substr(std::min(url.size(), url.find('/')));
  }
  std::error_code ec;
  const fs::path p(url);
  std::vector<fs::path> candidates = {media / p.relative_path(), p, media / p.filename()};
  const std::string name = p.filename().string();
  if (name.size() > 9 && name[8] == '-' &&
      name.substr(0, 8).find_first_not_of("0123456789abcdef") == std::string::npos)
    candidates.push_back(media / name.substr(9));
  for (const auto& c : candidates)
    if (p.is_absolute() || c != p)
      if (fs::is_regular_file(c, ec)) return c.lexically_normal();
  return {};
}

/// The audio URL of a task, or "" (with an error) when its data holds none.
std::string audio_url(const json& data, const Place& at, Diagnostics& diag) {
  if (data.contains("audio") && data["audio"].is_string() && data["audio"] != "")
    return data["audio"];
  for (const auto& [key, value] : data.items()) {
    if (!value.is_string()) continue;
    std::string low = value.get<std::string>();
    std::transform(low.begin(), low.end(), low.begin(), ::tolower);
    if (low.ends_with(".wav") || low.ends_with(".flac")) return value;
  }
  std::vector<std::string> keys;
  for (const auto& [key, value] : data.items()) keys.push_back(key);
  diag.error(at.display, 0, "ls-not-audio",
             at.task + ": its data holds no audio (keys: " + printable(join(keys, ", "), 80) +
                 "); this is an export of another task type: tenor imports audio tasks whose "
                 "regions are labelled (an <Audio> tag with Labels, Choices or TextArea per "
                 "region); export the audio project");
  return {};
}

/// Adds one result to its region; false (with an error) when it cannot be used.
bool add_result(const json& r, const Schema& schema, const std::string& where, const Place& at,
                std::map<std::string, Region>& regions, std::set<std::string>& ignored,
                Diagnostics& diag) {
  if (!strings_or_absent(r, {"type", "from_name", "id"}, diag, at, where)) return false;
  const std::string type = r.value("type", "");
  const std::string from = r.value("from_name", "");
  if (type == "relation") return true;
  if (kOtherTypes.count(type)) {
    diag.error(at.display, 0, "ls-other-task-type",
               where + "a result of type '" + type + "' (a " + kOtherTypes.at(type) +
                   " task); tenor imports audio tasks labelled with regions: export the audio "
                   "project");
    return false;
  }
  if (!absent_or(r, "value", &json::is_object)) {
    malformed(diag, at, where, "the value of '" + printable(from) + "' is " +
                                   printable(r["value"].dump(), 40) + ", not an object");
    return false;
  }
  const json value = r.value("value", json::object());
  const char* list = type == "choices" ? "choices" : type == "textarea" ? "text" : "labels";
  const bool texts = absent_or(value, list, &json::is_array) &&
                     (!value.contains(list) || value[list].is_null() ||
                      std::all_of(value[list].begin(), value[list].end(),
                                  [](const json& v) { return v.is_string(); }));
  if (!texts || !absent_or(value, "channel", &json::is_number_integer)) {
    malformed(diag, at, where, "'" + printable(from) + "' gives " +
                                   (texts ? "the channel " + printable(value["channel"].dump(), 40)
                                          : "'" + std::string(list) + "' as " +
                                                printable(value[list].dump(), 40)) +
                                   (texts ? ", not a whole number" : ", not a list of texts"));
    return false;
  }
  const bool region_less = !value.is_object() || !value.contains("start") ||
                           !value.contains("end") || !value["start"].is_number() ||
                           !value["end"].is_number();
  if (region_less && !schema.find(from) && from != "speaker") {
    ignored.insert(from);  // a whole-file control of the project that is no task: not ours
    return true;
  }
  if (region_less) {
    diag.error(at.display, 0, "ls-no-region",
               where + "'" + printable(from) + "' (" + printable(type) + ") has no start and end: "
               "a label of the whole file; tenor reads labels of regions: in the labelling "
               "config give the control perRegion=\"true\", or label regions with <Labels>");
    return false;
  }
  Region& region = regions[r.value("id", "")];
  region.id = r.value("id", "");
  const double start_s = value["start"], end_s = value["end"];
  std::optional<int> channel;
  if (value.contains("channel") && value["channel"].is_number_integer()) {
    const auto ch = value["channel"].get<int64_t>();  // out of range: a channel no file has
    channel = ch >= 0 && ch < (1 << 16) ? int(ch) : (1 << 16);
  }
  const std::string control = "'" + printable(from) + "'";
  // To the millisecond, as regions are matched across annotators; a result that states no
  // channel (Label Studio before multichannel audio) takes the region's.
  auto ms = [](double s) { return std::llround(s * 1000); };
  if (region.placed_by.empty()) {
    region.placed_by = control;
    region.start_s = start_s;
    region.end_s = end_s;
    region.channel = channel;
  } else if (ms(start_s) != ms(region.start_s) || ms(end_s) != ms(region.end_s) ||
             (channel && region.channel && *channel != *region.channel)) {
    auto place = [](double a, double b, std::optional<int> ch) {
      return format_number(a) + " to " + format_seconds(b) +
             (ch ? " on channel " + std::to_string(*ch) : "");
    };
    diag.error(at.display, 0, "ls-region-conflict",
               where + "the results of region '" + printable(region.id) + "' disagree on where it "
               "is: " + place(region.start_s, region.end_s, region.channel) + " in " +
               region.placed_by + ", " + place(start_s, end_s, channel) + " in " + control +
               "; the results of one region share its times and channel: export the project "
               "again with Export > JSON, or fix the region in Label Studio");
    return false;
  } else if (!region.channel) {
    region.channel = channel;
  }
  // The one label of a Labels or Choices result; more than one is an error, never a silent pick.
  bool several = false;
  auto first = [&](const char* key) -> std::string {
    if (!value.contains(key) || !value[key].is_array() || value[key].empty() ||
        !value[key][0].is_string())
      return {};
    std::vector<std::string> distinct;
    for (const auto& v : value[key]) {
      if (!v.is_string()) continue;
      const std::string name = printable(v.get<std::string>());
      if (std::find(distinct.begin(), distinct.end(), name) == distinct.end())
        distinct.push_back(name);
    }
    if (distinct.size() > 1) {
      diag.error(at.display, 0, "ls-several-labels",
                 where + control + " gives the region from " + format_seconds(start_s) + " " +
                     std::to_string(distinct.size()) + " labels (" + join(distinct, ", ") +
                     "); a segment takes one: keep one in Label Studio (set choice=\"single\" "
                     "on the control in the labelling config)");
      several = true;
    }
    return value[key][0];
  };
  if (type == "textarea") {
    std::vector<std::string> lines;
    for (const auto& t : value.value("text", json::array()))
      if (t.is_string()) lines.push_back(t);
    region.text = join(lines, "\n");
    return true;
  }
  const std::string label = first(type == "choices" ? "choices" : "labels");
  if (several) return false;
  if (from == "speaker") {
    region.role = label;
    return true;
  }
  const Task* task = schema.find(from);
  if (!task) {
    ignored.insert(from);
    return true;
  }
  const auto cls = class_value(*task, label);
  if (!cls) {
    diag.error(at.display, 0, "label-unknown-class",
               where + "'" + printable(label) + "' (region from " + format_number(region.start_s) +
                   " s) is not a class of " + task->name + " (" + class_list(*task) +
                   "); relabel it in Label Studio, or add the class to the schema");
    return false;
  }
  region.labels[task->name] = *cls;
  if (region.role.empty()) region.role = task->speaker;
  return true;
}

/// Checks a region and merges it into the call's segments (matched across annotators by
/// speaker, start and end to the millisecond).
bool merge_region(const Region& region, const std::string& annotator, const Schema& schema,
                  const std::string& where, const Place& at, Call& call,
                  std::map<std::tuple<std::string, int64_t, int64_t>, size_t>& index,
                  Diagnostics& diag) {
  const std::string in = where + "region '" + printable(region.id) + "' (" +
                         format_number(region.start_s) + " to " + format_number(region.end_s) +
                         " s): ";
  if (region.role.empty()) {
    diag.error(at.display, 0, "ls-region-speaker",
               in + "no speaker; label it with the 'speaker' Labels (agent, customer) or a task");
    return false;
  }
  if (!(region.start_s >= 0) || !(region.end_s > region.start_s)) {
    diag.error(at.display, 0, "interval-times",
               in + "a region must start at 0 s or later and end after it starts; fix it");
    return false;
  }
  for (const auto& [task, cls] : region.labels)
    if (const Task* t = schema.find(task); t->speaker != region.role) {
      diag.error(at.display, 0, "label-wrong-speaker",
                 in + task + " labels " + t->speaker + " segments, but the region's speaker is " +
                     region.role + "; fix the speaker or remove the label");
      return false;
    }
  if (region.channel) {
    auto [it, fresh] = call.channels.emplace(region.role, *region.channel);
    if (it->second != *region.channel) {
      diag.error(at.display, 0, "ls-channel-conflict",
                 in + "on channel " + std::to_string(*region.channel) + ", but the " +
                     region.role + " is on channel " + std::to_string(it->second) +
                     " elsewhere in the call; move the region to the speaker's channel");
      return false;
    }
  }
  const auto key = std::make_tuple(region.role, std::llround(region.start_s * 1000),
                                   std::llround(region.end_s * 1000));
  auto [it, fresh] = index.emplace(key, call.segments.size());
  if (fresh) {
    Segment s;
    s.start_s = region.start_s;
    s.end_s = region.end_s;
    s.speaker = region.role;
    call.segments.push_back(std::move(s));
  }
  Segment& s = call.segments[it->second];
  if (!s.text && region.text && !region.text->empty()) s.text = region.text;
  for (const auto& [task, cls] : region.labels) {
    if (annotator.empty()) s.labels[task] = cls;
    else s.labels_by[annotator][task] = cls;
  }
  return true;
}

/// One task's annotations into `call` (ground truth first, so its transcript wins).
bool read_annotations(const json& task, const Schema& schema, const Place& at, Call& call,
                      Diagnostics& diag) {
  const json annotations = task.value("annotations", json::array());
  if (!annotations.is_array()) {
    malformed(diag, at, at.task + ": ",
              "'annotations' is " + printable(task["annotations"].dump(), 40) + ", not a list");
    return false;
  }
  for (size_t i = 0; i < annotations.size(); ++i) {
    const json& a = annotations[i];
    const std::string where = at.task + ", annotation " + std::to_string(i + 1) + ": ";
    if (!a.is_object()) {
      malformed(diag, at, where,
                "the annotation is " + printable(a.dump(), 40) + ", not an object");
      return false;
    }
    using Kind = std::tuple<const char*, bool (json::*)() const noexcept, const char*>;
    for (const auto& [key, is, kind] : {Kind{"ground_truth", &json::is_boolean, "true or false"},
                                        Kind{"was_cancelled", &json::is_boolean, "true or false"},
                                        Kind{"result", &json::is_array, "a list"}})
      if (!absent_or(a, key, is)) {
        malformed(diag, at, where, "'" + std::string(key) + "' is " + printable(a[key].dump(), 40) +
                                       ", not " + kind);
        return false;
      }
    for (const auto& r : a.value("result", json::array()))
      if (!r.is_object()) {
        malformed(diag, at, where, "a result is " + printable(r.dump(), 40) + ", not an object");
        return false;
      }
  }
  std::vector<size_t> order(annotations.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_partition(order.begin(), order.end(),
                        [&](size_t i) { return annotations[i].value("ground_truth", false); });
  bool ok = true;
  std::set<std::string> ignored;
  std::map<std::tuple<std::string, int64_t, int64_t>, size_t> index;
  for (size_t i : order) {
    const json& a = annotations[i];
    if (a.value("was_cancelled", false)) continue;
    const std::string annotator = a.value("ground_truth", false) ? "" : annotator_name(a, i);
    const std::string where = at.task + ", annotation " + std::to_string(i + 1) + ": ";
    std::map<std::string, Region> regions;
    for (const auto& r : a.value("result", json::array()))
      if (!add_result(r, schema, where, at, regions, ignored, diag)) ok = false;
    for (const auto& [id, region] : regions)
      if (!merge_region(region, annotator, schema, where, at, call, index, diag)) ok = false;
  }
  for (const auto& name : ignored)
    diag.warning(at.display, 0, "ls-control-ignored",
                 at.task + ": the control '" + printable(name) + "' is neither 'speaker', a "
                 "TextArea nor a task of the schema (" + join(schema.task_names(), ", ") +
                 "); its results were skipped: rename it after a task to import them");
  return ok;
}

/// The call's id, split and meta from the task's data; false (with an error) for a split that
/// is none of tenor's or values of the wrong kind.
bool read_call_fields(const json& data, const std::string& url, const Place& at, Call& call,
                      Diagnostics& diag) {
  if (!strings_or_absent(data, {"split"}, diag, at, at.task + ": data: ")) return false;
  if (!absent_or(data, "meta", &json::is_object)) {
    malformed(diag, at, at.task + ": data: ",
              "'meta' is " + printable(data["meta"].dump(), 40) + ", not an object");
    return false;
  }
  if (data.contains("call_id") && data["call_id"].is_string()) {
    call.call_id = data["call_id"];
  } else {
    std::string stem = fs::path(url).stem().string();
    if (stem.size() > 9 && stem[8] == '-' &&
        stem.substr(0, 8).find_first_not_of("0123456789abcdef") == std::string::npos)
      stem = stem.substr(9);  // the prefix Label Studio gives uploads
    call.call_id = stem;
  }
  const std::string split = data.value("split", "");
  if (!split.empty() && split != "train" && split != "dev" && split != "test") {
    diag.error(at.display, 0, "bad-split",
               at.task + ": data: split '" + printable(split) + "' is not train, dev or test; "
               "rename it in the task's data (or leave it out, for tenor data split to assign)");
    return false;
  }
  call.split = split;
  if (data.contains("meta") && data["meta"].is_object())
    for (const auto& [k, v] : data["meta"].items())
      if (v.is_string()) call.meta[k] = v;
  return true;
}

std::optional<Call> read_task(const json& task, size_t index, const Schema& schema,
                              const ImportOptions& options, const fs::path& media_dir,
                              const std::string& display, fs::path& media, Diagnostics& diag) {
  Place at{display, "task " + std::to_string(index + 1)};
  if (task.is_object() && task.contains("id")) at.task += " (id " + task["id"].dump() + ")";
  if (!task.is_object() || !task.contains("data") || !task["data"].is_object()) {
    diag.error(display, 0, "ls-malformed",
               at.task + ": no 'data' object; this is not Label Studio's JSON export (a JSON-MIN "
               "or CSV export lacks the regions): use Export > JSON");
    return std::nullopt;
  }
  const json& data = task["data"];
  // tenor's export of a text-only call: `"audio": ""` beside its call_id.
  const bool text_only = data.value("audio", json()) == "" && data.contains("call_id");
  const std::string url = text_only ? "" : audio_url(data, at, diag);
  if (url.empty() && !text_only) return std::nullopt;
  Call call;
  bool ok = read_call_fields(data, url, at, call, diag);
  ok = read_annotations(task, schema, at, call, diag) && ok;
  std::stable_sort(call.segments.begin(), call.segments.end(), [](const auto& a, const auto& b) {
    return std::tie(a.start_s, a.end_s, a.speaker) < std::tie(b.start_s, b.end_s, b.speaker);
  });
  if (text_only) {
    if (!ok) return std::nullopt;
    call.extra = {{"source", display + " " + at.task}};
    return call;
  }
  media = resolve_audio(url, media_dir);
  if (media.empty()) {
    diag.error(display, 0, "media-missing",
               at.task + ": its audio " + printable(url, 120) + " is not under " +
                   media_dir.string() + "; pass --media with the directory that holds the "
                   "project's audio files");
    return std::nullopt;
  }
  if (data.contains("channels") && data["channels"].is_object()) {
    for (const auto& [role, ch] : data["channels"].items())
      if (ch.is_number_integer() && !call.channels.count(role))
        call.channels[role] = int(std::clamp<int64_t>(ch.get<int64_t>(), -1, 1 << 16));
  } else if (!options.channels.empty()) {
    for (const auto& [role, ch] : options.channels) call.channels.emplace(role, ch);
  }
  call.audio = "audio/" + call.call_id + fs::path(media).extension().string();
  if (!check_recording(call, media, display, 0, diag, at.task + ": ")) ok = false;
  if (!ok) return std::nullopt;
  call.extra = {{"source", display + " " + at.task}};
  return call;
}

/// The export's tasks, or nullopt (with an error) when the file is not one.
std::optional<json> read_export(const fs::path& file, const std::string& display,
                                Diagnostics& diag) {
  std::string text;
  try {
    text = read_file(file);
  } catch (const IoError& e) {
    diag.error(display, 0, "ls-unreadable", e.what());
    return std::nullopt;
  }
  json tasks = json::parse(text, nullptr, false);
  if (tasks.is_discarded()) {
    diag.error(display, 0, "ls-malformed",
               "not valid JSON; export the project again with Export > JSON");
    return std::nullopt;
  }
  if (tasks.is_object() && tasks.contains("data")) tasks = json::array({tasks});
  if (!tasks.is_array()) {
    diag.error(display, 0, "ls-malformed",
               "not a Label Studio JSON export (a list of tasks); use Export > JSON");
    return std::nullopt;
  }
  return tasks;
}

}  // namespace

ImportedCalls read_label_studio(const ImportOptions& options, const Schema& schema,
                                Diagnostics& diag) {
  static const std::vector<std::string> kExtensions = {".json"};
  ImportedCalls out;
  for (const auto& file : tool_files(options.source, kExtensions, "Label Studio JSON exports")) {
    ++out.files;
    const std::string display = display_path(options.source, file);
    const auto tasks = read_export(file, display, diag);
    if (!tasks) continue;
    const fs::path media_dir =
        options.media.empty() ? fs::absolute(file).parent_path() : fs::absolute(options.media);
    for (size_t i = 0; i < tasks->size(); ++i) {
      fs::path media;
      std::optional<Call> call;
      try {
        call = read_task((*tasks)[i], i, schema, options, media_dir, display, media, diag);
      } catch (const json::exception& e) {  // a field of a kind the checks above do not name
        malformed(diag, Place{display, {}}, "task " + std::to_string(i + 1) + ": ",
                  "a value of the wrong kind (" + std::string(e.what()) + ")");
      }
      if (!call) continue;
      if (!media.empty()) out.media[call->call_id] = fs::absolute(media);
      out.dataset.calls.push_back(std::move(*call));
    }
  }
  return out;
}

}  // namespace tenor::data::import
