// `tenor predict (--bundle B | --run R) --dataset DIR | --list FILES.txt --out preds.jsonl`:
// many calls scored in one process. The model is loaded once; each call is checked and its
// features extracted as `tenor predict CALL.wav` does it (features::extract_features), and the
// rows of many calls are scored together (one model run per batch of rows; a bundle's ONNX
// Runtime child, export/ort_runner.h, is started once per process).
#include <algorithm>
#include <chrono>
#include <exception>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <string_view>

#include "cli/predict.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/temporary_path.h"
#include "core/text.h"
#include "data/audio.h"
#include "data/line_reader.h"

namespace tenor::cli {
namespace {
using nlohmann::json;
namespace fs = std::filesystem;

/// A batch is scored once it holds this many segments or seconds of segment audio: one ONNX
/// Runtime start then serves hundreds of short calls, and its input tensors (rows x frames x
/// LLD columns, frames cut by the model's input transform) stay within tens of megabytes.
constexpr size_t kBatchRows = 512;
constexpr double kBatchAudioS = 1800;

/// Appends every row of `from` to `into`: two stores extracted for the same model (same
/// layout, task classes, tokenizer and sentence-embedding width), `into` possibly empty.
void append_rows(features::Store& into, const features::Store& from) {
  const size_t n = from.segments.size();
  if (from.frame_offsets.size() != n + 1 || from.token_offsets.size() != n + 1)
    throw std::logic_error("append_rows: a store without its offsets");
  if (into.frame_offsets.empty()) {
    into = from;
    return;
  }
  const int64_t frames0 = into.frame_offsets.back(), tokens0 = into.token_offsets.back();
  into.segments.insert(into.segments.end(), from.segments.begin(), from.segments.end());
  const auto append = [](auto& to, const auto& part) {
    to.insert(to.end(), part.begin(), part.end());
  };
  append(into.functionals, from.functionals);
  append(into.functional_mask, from.functional_mask);
  append(into.frames, from.frames);
  append(into.tokens, from.tokens);
  for (size_t i = 1; i <= n; ++i) {
    into.frame_offsets.push_back(frames0 + from.frame_offsets[i]);
    into.token_offsets.push_back(tokens0 + from.token_offsets[i]);
  }
}

/// An error of the model or of its ONNX Runtime while scoring a batch: never a call's fault,
/// so never skipped by --keep-going (it is not a tenor::Error, which a call's failure is).
struct ScoringFailed {
  std::exception_ptr error;
};

/// Collects groups of calls' rows (features::extract_features' sink), scores them many calls
/// at a time and writes each call's lines, in call order, once the call is whole and scored.
class BatchScorer {
 public:
  BatchScorer(train::Predictor& model, std::ostream& out, const fs::path& out_path)
      : model_(model), out_(out), out_path_(out_path) {}

  /// A group of call `call`'s rows. A call's second group is scored alone, after everything
  /// before it: a batch never holds one call twice (context rows are found by call id), and
  /// memory holds one group of a long call, as for `tenor predict CALL.wav`.
  void add(size_t call, const features::Store& store, const std::vector<int64_t>& rows) {
    const bool later_group = !calls_.try_emplace(call).second;
    if (later_group) flush();
    double audio_s = 0;
    for (int64_t r : rows) {
      const auto& segment = store.segments[size_t(r)];
      audio_s += segment.end_s - segment.start_s;
    }
    pending_.push_back({call, store, rows, audio_s});
    size_t n = 0;
    double total_s = 0;
    for (const auto& p : pending_) n += p.rows.size(), total_s += p.audio_s;
    if (later_group || n >= kBatchRows || total_s >= kBatchAudioS) flush();
  }

  /// Call `call` is extracted whole: its lines are written once scored.
  void finish_call(size_t call) {
    auto it = calls_.find(call);
    if (it != calls_.end()) it->second.finished = true;
    write_finished();
  }

  /// Forgets call `call` (it failed): nothing of it is written.
  void drop_call(size_t call) {
    std::erase_if(pending_, [&](const Pending& p) { return p.call == call; });
    calls_.erase(call);
  }

  /// Scores every pending row in one model run and writes the calls that are done.
  void flush() {
    if (pending_.empty()) return;
    features::Store merged;
    std::vector<int64_t> rows;
    std::vector<std::pair<size_t, int64_t>> owner;  // (call, row within the call)
    for (const auto& p : pending_) {
      const auto base = int64_t(merged.segments.size());
      append_rows(merged, p.store);
      for (int64_t r : p.rows) rows.push_back(base + r), owner.emplace_back(p.call, r);
    }
    pending_.clear();
    json scores;
    try {
      train::TrainData data = model_.prepare(std::move(merged), "the calls' features");
      scores = train::segment_scores(model_, data, rows, model_.probabilities(data, rows));
      for (size_t i = 0; i < rows.size(); ++i)
        scores[i]["call_id"] = data.store.segments[size_t(rows[i])].call_id;
    } catch (const Error&) {
      throw ScoringFailed{std::current_exception()};
    }
    ++model_runs_;
    for (size_t i = 0; i < rows.size(); ++i)
      calls_[owner[i].first].by_row[owner[i].second] = std::move(scores[i]);
    write_finished();
  }

  size_t segments() const { return segments_; }
  size_t model_runs() const { return model_runs_; }
  /// The seconds of audio a call is extracted in per group (cli::group_audio_s).
  double group_audio_s() const { return cli::group_audio_s(model_); }

 private:
  struct Pending {
    size_t call;
    features::Store store;
    std::vector<int64_t> rows;
    double audio_s;
  };
  struct CallLines {
    bool finished = false;
    std::map<int64_t, json> by_row;  ///< scored rows, by segment index
  };

  /// Writes the calls at the front that are whole and scored, in call order.
  void write_finished() {
    while (!calls_.empty()) {
      auto it = calls_.begin();
      const bool pending = std::any_of(pending_.begin(), pending_.end(),
                                       [&](const Pending& p) { return p.call == it->first; });
      if (!it->second.finished || pending) break;
      for (auto& [row, line] : it->second.by_row)
        out_ << line.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
      segments_ += it->second.by_row.size();
      calls_.erase(it);
    }
    if (!out_)
      throw IoError("writing " + out_path_.string() +
                    " failed (is the disk full?); free space or choose another --out");
  }

  train::Predictor& model_;
  std::ostream& out_;
  fs::path out_path_;
  std::vector<Pending> pending_;
  std::map<size_t, CallLines> calls_;
  size_t segments_ = 0, model_runs_ = 0;
};

/// `e` again, of the same type (so the same exit status), its message naming the call; a
/// usage error is the command line's, which --keep-going would not skip.
[[noreturn]] void rethrow_naming(const Error& e, const std::string& where) {
  std::string what = e.what();
  const bool usage = dynamic_cast<const UsageError*>(&e) != nullptr;
  const std::string msg =
      (what.rfind(where, 0) == 0 ? what : where + ": " + what) +
      (usage ? " (nothing was written)"
             : " (nothing was written; pass --keep-going to skip such calls and score the "
               "others)");
  if (dynamic_cast<const ConfigError*>(&e)) throw ConfigError(msg);
  if (dynamic_cast<const UsageError*>(&e)) throw UsageError(msg);
  if (dynamic_cast<const IoError*>(&e)) throw IoError(msg);
  if (dynamic_cast<const ExportError*>(&e)) throw ExportError(msg);
  throw DataError(msg);
}

/// Extracts and hands on one call; true when it was scored or is pending, false when it failed
/// and was skipped (keep_going).
bool predict_one(const BatchCall& call, size_t index, const std::string& tokenizer,
                 BatchScorer& scorer, const BatchOptions& options, BatchReport& report) {
  try {
    const CheckedCall checked = call.check();
    features::extract_features(
        checked.dataset, checked.options, tokenizer, scorer.group_audio_s(),
        [&](features::Store& store, const std::vector<int64_t>& rows) {
          scorer.add(index, store, rows);
        });
    scorer.finish_call(index);
    return true;
  } catch (const Error& e) {
    // A usage, device or configuration error is no call's fault: the command line is the
    // same for every call, so it would fail them all.
    if (!options.keep_going || dynamic_cast<const UsageError*>(&e)) rethrow_naming(e, call.where);
    scorer.drop_call(index);
    logger("predict")->warn("skipped {}: {}", call.where, e.what());
    report.skipped.push_back(call.where + ": " + e.what());
    return false;
  }
}

}  // namespace

BatchReport predict_batch(train::Predictor& model, const std::vector<BatchCall>& calls,
                          const BatchOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string tokenizer = model.tokenizer_model();
  AtomicFile file(options.out);
  // AtomicFile removes its temporary file when unwinding; this also on SIGINT or SIGTERM.
  TemporaryPath partial(file.temp_path());
  BatchScorer scorer(model, file.stream(), options.out);
  Progress progress("predict", "calls", int64_t(calls.size()), options.progress);
  BatchReport report;
  try {
    for (size_t i = 0; i < calls.size(); ++i) {
      report.calls += predict_one(calls[i], i, tokenizer, scorer, options, report);
      progress.update(int64_t(i + 1));
    }
    scorer.flush();
  } catch (const ScoringFailed& failed) {
    std::rethrow_exception(failed.error);
  }
  progress.finish();
  if (report.calls == 0)
    throw DataError("none of the " + std::to_string(calls.size()) +
                    " call(s) could be scored (each is reported above); " +
                    options.out.string() + " was not written");
  file.commit();
  partial.keep();
  report.segments = scorer.segments();
  report.model_runs = scorer.model_runs();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

// --- --list FILES.txt ------------------------------------------------------------------------

namespace {

std::string trimmed(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return "";
  return std::string(s.substr(b, s.find_last_not_of(" \t\r") - b + 1));
}

/// A path of the list, relative to the list's directory unless absolute.
fs::path resolved(const fs::path& base, const std::string& written) {
  const fs::path p(written);
  return p.is_absolute() ? p : base / p;
}

/// A line without a tab whose whole is no file, but which is two files split at its last
/// space: the transcript was separated by a space. DataError saying so.
void refuse_space_separated(const fs::path& base, const std::string& field,
                            const std::string& where) {
  std::error_code ec;
  const auto cut = field.find_last_of(' ');
  if (cut == std::string::npos || fs::exists(resolved(base, field), ec)) return;
  const std::string audio = trimmed(field.substr(0, cut)), text = trimmed(field.substr(cut));
  if (fs::is_regular_file(resolved(base, audio), ec) &&
      fs::is_regular_file(resolved(base, text), ec))
    throw DataError(where + ": '" + field + "' is no file, but '" + audio + "' and '" + text +
                    "' are: separate the transcript from the audio with a tab (AUDIO<TAB>"
                    "TRANSCRIPT)");
}

/// One line's call, or nullopt for a blank or comment line.
std::optional<ListedCall> parse_list_line(std::string_view text, int64_t number,
                                          const fs::path& base, const std::string& where) {
  if (text.find('\0') != std::string_view::npos)
    throw DataError(where + ": the line holds a NUL byte: this is not a text list of calls; "
                    "write one WAV path per line, optionally followed by a tab and its transcript");
  const std::string line = trimmed(text);
  if (line.empty() || line.front() == '#') return std::nullopt;
  std::vector<std::string> fields;
  for (size_t from = 0;;) {
    const size_t tab = line.find('\t', from);
    fields.push_back(trimmed(line.substr(from, tab == std::string::npos ? tab : tab - from)));
    if (tab == std::string::npos) break;
    from = tab + 1;
  }
  if (fields.size() > 2 || fields[0].empty() || (fields.size() == 2 && fields[1].empty()))
    throw DataError(where + ": expected AUDIO or AUDIO<TAB>TRANSCRIPT, got " +
                    std::to_string(fields.size()) + " tab-separated field(s) '" + line +
                    "'; write the call's WAV, optionally followed by one tab and its transcript");
  if (fields.size() == 1) refuse_space_separated(base, fields[0], where);
  ListedCall call;
  call.audio = resolved(base, fields[0]);
  if (fields.size() == 2) call.transcript = resolved(base, fields[1]);
  call.call_id = fs::path(fields[0]).lexically_normal().replace_extension().generic_string();
  call.line = number;
  return call;
}

}  // namespace

std::vector<ListedCall> read_call_list(const fs::path& list) {
  std::error_code ec;
  if (!fs::is_regular_file(list, ec))
    throw DataError("--list " + list.string() + " is not a readable file; give a text file " +
                    "with one WAV path per line");
  const fs::path base = fs::absolute(list).parent_path();
  data::LineReader reader(list, size_t{1} << 16);
  data::LineReader::Line line;
  std::vector<ListedCall> calls;
  std::map<std::string, int64_t> seen;  // call id -> line
  while (reader.next(line)) {
    const std::string where = list.string() + ":" + std::to_string(line.number);
    if (line.too_long)
      throw DataError(where + ": the line is over 64 KiB, no path is; this is not a list of "
                      "calls (one WAV per line, optionally a tab and its transcript)");
    auto call = parse_list_line(line.text, line.number, base, where);
    if (!call) continue;
    auto [it, fresh] = seen.emplace(call->call_id, line.number);
    if (!fresh)
      throw DataError(where + ": call id '" + call->call_id + "' (the audio's path without its " +
                      "extension) is line " + std::to_string(it->second) + "'s too; list each " +
                      "call once");
    calls.push_back(std::move(*call));
  }
  if (calls.empty())
    throw DataError("--list " + list.string() + " lists no call; write one WAV path per line, " +
                    "optionally followed by a tab and the call's transcript (JSONL)");
  return calls;
}

// --- --dataset DIR ---------------------------------------------------------------------------

namespace {

/// The dataset's calls of `split` (all: every call), labels dropped, under `schema`.
data::Dataset selected_calls(data::Dataset ds, const std::string& split,
                             const data::Schema& schema, const fs::path& dir) {
  if (split != "all" && split != "train" && split != "dev" && split != "test")
    throw UsageError("--split must be train, dev, test or all, not '" + split + "'");
  std::map<std::string, size_t> per_split;
  std::vector<data::Call> kept;
  for (auto& c : ds.calls) {
    ++per_split[c.split.empty() ? "(none)" : c.split];
    if (split != "all" && c.split != split) continue;
    for (auto& s : c.segments) s.labels.clear(), s.labels_by.clear();
    kept.push_back(std::move(c));
  }
  if (kept.empty()) {
    std::string counts;
    for (const auto& [name, n] : per_split)
      counts += (counts.empty() ? "" : ", ") + name + " " + std::to_string(n);
    throw DataError("dataset " + dir.string() + " has no call in split '" + split +
                    "' (calls per split: " + (counts.empty() ? "none" : counts) +
                    "); choose another --split, or --split all");
  }
  ds.calls = std::move(kept);
  ds.schema = schema;
  return ds;
}

/// Refuses a dataset none of whose segments has a role the model scores (every line would
/// have empty `tasks`): its speakers are named otherwise.
void check_roles(const data::Dataset& ds, const data::Schema& schema, const fs::path& dir) {
  std::set<std::string> roles, found;
  for (const auto& t : schema.tasks) roles.insert(t.speaker);
  for (const auto& c : ds.calls)
    for (const auto& s : c.segments) {
      if (roles.count(s.speaker)) return;
      found.insert(s.speaker);
    }
  const std::vector<std::string> want(roles.begin(), roles.end()), have(found.begin(), found.end());
  throw DataError("dataset " + dir.string() + ": no segment has a speaker the model scores (" +
                  join(want, ", ") + "); its segments' speakers are " +
                  (have.empty() ? std::string("none") : join(have, ", ")) +
                  "; name the roles in calls.jsonl as the model's tasks do");
}

/// A dataset call on multi-channel audio without `channels` in calls.jsonl takes the mapping of
/// the model's training calls when its audio has their layout (as one call's `tenor predict`
/// does); otherwise the call is refused (its channels would be mixed, every voice scored as
/// every role), with the fix.
void map_channels(data::Call& call, const fs::path& root, const data::ChannelConvention& c) {
  if (!call.channels.empty()) return;
  const int channels = data::probe_audio(root / call.audio).channels;
  if (channels < 2) return;
  if (!c.fits(channels))
    throw DataError(call.audio + " has " + std::to_string(channels) +
                    " channels and the call has no `channels` mapping" +
                    (c.fits(c.audio_channels) ? " (the model's training calls had " +
                                                    std::to_string(c.audio_channels) +
                                                    " channel(s): " +
                                                    data::channel_map_text(c.channels) + ")"
                                              : std::string()) +
                    "; add e.g. \"channels\": {\"agent\": 0, \"customer\": 1} to the call in "
                    "calls.jsonl");
  call.channels = c.channels;
}

}  // namespace

std::vector<BatchCall> dataset_calls(train::Predictor& model, const fs::path& dir,
                                     const std::string& split,
                                     const features::BuildOptions& options, bool keep_going,
                                     const data::ChannelConvention& convention) {
  const data::Schema schema = predict_schema(model);
  data::Dataset ds = selected_calls(data::load_dataset_or_throw(dir), split, schema, dir);
  check_roles(ds, schema, dir);
  features::BuildOptions audio_check = options;
  audio_check.keep_going = keep_going;
  const std::map<size_t, std::string> rejected = features::audio_rejections(ds, dir, audio_check);
  std::vector<BatchCall> calls;
  for (size_t c = 0; c < ds.calls.size(); ++c) {
    data::Dataset one;
    one.root = ds.root;
    one.schema = ds.schema;
    one.source = ds.source;
    one.calls.push_back(std::move(ds.calls[c]));
    const data::Call& call = one.calls.front();
    const std::string where =
        "call " + call.call_id + " (" + (dir / one.source).string() + ":" + std::to_string(call.line) + ")";
    auto bad = rejected.find(c);
    const std::string reason = bad == rejected.end() ? "" : bad->second;
    calls.push_back({where, [one = std::move(one), options, reason, convention]() mutable {
                       if (!reason.empty()) throw DataError(reason);
                       data::Call& call = one.calls.front();
                       if (!call.audio.empty()) {
                         check_call_audio(one.root / call.audio, options.lld);
                         map_channels(call, one.root, convention);
                       }
                       return CheckedCall{one, options};
                     }});
  }
  return calls;
}

}  // namespace tenor::cli
