#include "data/validate.h"

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstdint>
#include <set>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include "core/error.h"
#include "core/text.h"
#include "data/agreement.h"
#include "data/dataset_internal.h"
#include "data/duplicates.h"
#include "data/parallel.h"

namespace tenor::data {
namespace fs = std::filesystem;
namespace {

std::string percent(double share) {
  std::ostringstream out;
  out.precision(share < 0.1 ? 2 : 3);
  out << share * 100 << " %";
  return out.str();
}

struct AudioOutcome {
  std::optional<AudioScan> scan;
  std::string error;
};

/// Scans each distinct audio file once, in parallel.
std::map<std::string, AudioOutcome> scan_all(const Dataset& dataset, int threads) {
  std::map<std::string, AudioOutcome> outcomes;
  for (const auto& call : dataset.calls)
    if (!call.audio.empty()) outcomes[call.audio];
  std::vector<std::pair<const std::string, AudioOutcome>*> work;
  for (auto& entry : outcomes) work.push_back(&entry);
  // A scan's own errors are findings; anything else (out of memory) reaches the caller.
  parallel_for(work.size(), static_cast<unsigned>(std::max(0, threads)), [&](size_t i) {
    auto& [path, outcome] = *work[i];
    try {
      outcome.scan = scan_audio(dataset.root / path);
    } catch (const Error& e) {
      outcome.error = e.what();
    }
  });
  return outcomes;
}

}  // namespace

void internal::check_call_fits_audio(const Call& call, const std::string& audio, int channels,
                           double duration_s, const std::string& file, Diagnostics& diag) {
  for (const auto& [role, channel] : call.channels) {
    if (channel >= channels) {
      diag.error(file, call.line, "channel-missing",
                 "channels maps role '" + role + "' to channel " + std::to_string(channel) +
                     ", but " + audio + " has " + std::to_string(channels) + " channel(s) (0.." +
                     std::to_string(channels - 1) + "); channels count from 0",
                 call.call_id);
    }
  }
  for (size_t i = 0; i < call.segments.size(); ++i) {
    const Segment& seg = call.segments[i];
    if (seg.end_s > duration_s + kEndToleranceSeconds) {
      diag.error(file, seg.line, "segment-past-end",
                 "segment ends at " + format_seconds(seg.end_s) + ", past the audio's " +
                     format_seconds(duration_s) + "; fix end or the audio path",
                 call.call_id, static_cast<int>(i));
    }
  }
}

namespace {

void check_audio(const Dataset& ds, const std::map<std::string, AudioOutcome>& outcomes,
                 Diagnostics& diag) {
  std::map<std::string, const Call*> reported;  // one file-level finding per audio file
  for (const auto& call : ds.calls) {
    if (call.audio.empty()) continue;
    const auto& outcome = outcomes.at(call.audio);
    const bool first_use = reported.emplace(call.audio, &call).second;
    const std::string& f = ds.source;
    if (!outcome.scan) {
      std::string msg = outcome.error;
      // The library's message names the absolute path; say it relative to the dataset.
      if (auto pos = msg.find((ds.root / call.audio).string()); pos != std::string::npos)
        msg.replace(pos, (ds.root / call.audio).string().size(), call.audio);
      const std::string code = msg.find("does not exist") != std::string::npos ? "audio-missing"
                               : msg.find("empty") != std::string::npos        ? "audio-empty"
                                                                               : "audio-unreadable";
      diag.error(f, call.line, code, msg, call.call_id);
      continue;
    }
    const AudioScan& scan = *outcome.scan;
    if (first_use) {
      if (scan.truncated) {
        diag.error(f, call.line, "audio-truncated",
                   call.audio + " is truncated: its header promises " +
                       format_seconds(scan.declared_duration_s) + " but the file holds " +
                       format_seconds(scan.duration_s()) + "; re-copy or re-export the file",
                   call.call_id);
      }
      if (scan.frames_read == 0) {
        diag.error(f, call.line, "audio-empty", call.audio + " holds no samples; re-export it",
                   call.call_id);
      }
      if (scan.non_finite.count > 0) {
        diag.error(f, call.line, "audio-non-finite",
                   scan.non_finite.describe_in_file(call.audio, scan.info.sample_rate_hz),
                   call.call_id);
      }
      if (scan.info.sample_rate_hz < kMinSampleRateHz) {
        diag.warning(f, call.line, "audio-low-sample-rate",
                     call.audio + " is sampled at " + std::to_string(scan.info.sample_rate_hz) +
                         " Hz, below telephone quality (" + std::to_string(kMinSampleRateHz) +
                         " Hz); prosody features will be unreliable",
                     call.call_id);
      }
      if (scan.frames_read > 0) {
        if (scan.silent()) {
          diag.warning(
              f, call.line, "audio-silent",
              call.audio +
                  " is all silence (RMS below -80 dBFS on every channel); check the recording",
              call.call_id);
        }
        if (scan.over_full_scale()) {
          diag.warning(f, call.line, "audio-over-full-scale",
                       call.audio + " " + scan.describe_over_full_scale(), call.call_id);
        }
        if (scan.clipped_share > kHeavyClippingShare) {
          diag.warning(f, call.line, "audio-clipped",
                       call.audio + " is heavily clipped: " + percent(scan.clipped_share) +
                           " of samples at full scale (over " + percent(kHeavyClippingShare) +
                           "); pitch and loudness will be distorted",
                       call.call_id);
        }
      }
    }
    if (scan.info.channels > 1 && call.channels.empty()) {
      const bool csv = fs::path(f).extension() == ".csv";
      diag.warning(f, call.line, "channels-unmapped",
                   call.audio + " has " + std::to_string(scan.info.channels) +
                       " channels but the call has no `channels` mapping, so they are mixed "
                       "down; if each role speaks on its own channel, map them (" +
                       (csv ? std::string("a channels column such as agent:0;customer:1")
                            : std::string("\"channels\": {\"agent\": 0, \"customer\": 1}")) +
                       ", or tenor data import --channels agent=0,customer=1)",
                   call.call_id);
    }
    internal::check_call_fits_audio(call, call.audio, scan.info.channels, scan.duration_s(), f, diag);
  }
}

void check_segments(const Dataset& ds, Diagnostics& diag) {
  size_t with_text = 0, total = 0;
  for (const auto& call : ds.calls)
    for (const auto& seg : call.segments)
      ++total, with_text += seg.text && !trim(*seg.text).empty();
  const bool dataset_has_text = with_text * 2 > total;

  for (const auto& call : ds.calls) {
    if (call.segments.empty()) {
      diag.warning(ds.source, call.line, "call-no-segments",
                   "call has no segments; nothing in it can be used", call.call_id);
    }
    std::map<std::string, std::vector<size_t>> by_speaker;
    for (size_t i = 0; i < call.segments.size(); ++i) {
      const Segment& seg = call.segments[i];
      const int idx = static_cast<int>(i);
      by_speaker[seg.speaker].push_back(i);
      if (seg.duration_s() < kMinSegmentSeconds) {
        diag.warning(ds.source, seg.line, "segment-short",
                     "segment lasts " + format_seconds(seg.duration_s()) + ", shorter than " +
                         format_seconds(kMinSegmentSeconds) + "; too short for reliable prosody",
                     call.call_id, idx);
      }
      const bool labelled = !seg.labels.empty() || !seg.labels_by.empty();
      if (labelled && seg.text && trim(*seg.text).empty()) {
        diag.warning(ds.source, seg.line, "transcript-empty",
                     "labelled segment has an empty transcript; fill in `text` or remove the field "
                     "if it is audio-only",
                     call.call_id, idx);
      } else if (labelled && !seg.text && dataset_has_text) {
        diag.warning(ds.source, seg.line, "transcript-missing",
                     "labelled segment has no transcript while most segments have one",
                     call.call_id, idx);
      }
    }
    for (const auto& [speaker, indices] : by_speaker) {
      std::vector<size_t> order = indices;
      std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return call.segments[a].start_s < call.segments[b].start_s;
      });
      for (size_t k = 1; k < order.size(); ++k) {
        const Segment& prev = call.segments[order[k - 1]];
        const Segment& seg = call.segments[order[k]];
        if (seg.start_s < prev.end_s) {
          diag.warning(ds.source, seg.line, "segment-overlap",
                       "segment (" + format_seconds(seg.start_s) + " to " +
                           format_seconds(seg.end_s) + ") overlaps segment " + std::to_string(order[k - 1]) + " (" +
                           format_seconds(prev.start_s) + " to " + format_seconds(prev.end_s) +
                           ") of the same speaker '" + speaker + "'; merge or trim them",
                       call.call_id, static_cast<int>(order[k]));
        }
      }
    }
  }
}

void check_splits(const Dataset& ds, Diagnostics& diag) {
  // meta.speaker_id in two splits: the same voice would be tested on after training on it.
  std::map<std::string, std::map<std::string, const Call*>> speaker_splits;
  for (const auto& call : ds.calls)
    if (auto id = call.speaker_id(); !call.split.empty() && !id.empty())
      speaker_splits[id].emplace(call.split, &call);
  for (const auto& [id, splits] : speaker_splits) {
    if (splits.size() < 2) continue;
    std::vector<std::string> parts;
    for (const auto& [split, call] : splits)
      parts.push_back(split + " (e.g. call " + call->call_id + ")");
    const Call* first = nullptr;
    for (const auto& [split, call] : splits)
      if (!first || call->line < first->line) first = call;
    diag.warning(ds.source, first->line, "speaker-in-two-splits",
                 "speaker_id '" + printable(id) + "' appears in " + join(parts, " and ") +
                     "; results would be measured on a voice seen in training. Run `tenor data "
                     "split` to regroup");
  }
}

// ---- duplicates and repeated transcripts ----------------------------------------------------

/// Splits in the order leakage flows: a later split must not hold copies of an earlier one.
int split_rank(const std::string& split) {
  return split == "train" ? 0 : split == "dev" ? 1 : split == "test" ? 2 : 3;
}

std::string split_name(const std::string& split) { return split.empty() ? "unassigned" : split; }

bool leaks(const Call& a, const Call& b) {
  return a.split != b.split && split_rank(a.split) < 3 && split_rank(b.split) < 3;
}

double similarity(const DuplicatePair& p) {
  return std::max(p.text_jaccard.value_or(0), 1 - p.audio_bit_errors.value_or(1));
}

/// What makes the two calls alike, as words.
std::string likeness(const DuplicatePair& p) {
  std::vector<std::string> parts;
  if (p.text_jaccard) {
    std::ostringstream out;
    out.precision(2);
    out << std::fixed << *p.text_jaccard;
    parts.push_back(*p.text_jaccard >= 1
                        ? "identical transcripts (once normalised; word 3-gram Jaccard 1.00)"
                        : "transcripts alike (word 3-gram Jaccard " + out.str() + ")");
  }
  if (p.audio_bit_errors)
    parts.push_back("the same recording (" + percent(*p.audio_bit_errors) +
                    " of audio fingerprint bits differ)");
  return join(parts, " and ");
}

/// The edges of a spanning forest of the duplicate graph, pairs across splits first, then the
/// most alike: every group is reported with as few pairs as connect it, and a leak is never
/// hidden behind a copy within one split.
std::vector<DuplicatePair> spanning_pairs(const Dataset& ds, std::vector<DuplicatePair> pairs) {
  std::stable_sort(pairs.begin(), pairs.end(), [&](const auto& x, const auto& y) {
    const bool lx = leaks(ds.calls[x.a], ds.calls[x.b]), ly = leaks(ds.calls[y.a], ds.calls[y.b]);
    return lx != ly ? lx : similarity(x) > similarity(y);
  });
  CallGroups forest(ds.calls.size());
  std::vector<DuplicatePair> edges;
  for (const auto& p : pairs) {
    if (forest.find(p.a) == forest.find(p.b)) continue;
    forest.join(p.a, p.b);
    edges.push_back(p);
  }
  return edges;
}

/// One finding per pair, on the copy (the call of the later split, or line), naming the other
/// call, its line and split, and the likeness.
void report_pair(const Dataset& ds, const DuplicatePair& p, bool as_warnings, Diagnostics& diag) {
  const Call* orig = &ds.calls[p.a];
  const Call* copy = &ds.calls[p.b];
  if (split_rank(copy->split) < split_rank(orig->split)) std::swap(orig, copy);
  const std::string what = "in " + split_name(copy->split) + ", duplicates call " +
                           printable(orig->call_id) + " (line " + std::to_string(orig->line) +
                           ", " + split_name(orig->split) + "): " + likeness(p);
  if (!leaks(*orig, *copy)) {
    diag.warning(ds.source, copy->line, "duplicate-call",
                 what + "; it weighs twice in training and in any score: remove the copy, or "
                        "keep both if they are distinct calls",
                 copy->call_id);
    return;
  }
  const std::string msg = what + "; a " + copy->split +
                          " score on it measures memory, not generalisation; remove one of the "
                          "two, or run `tenor data split --reassign` to put them in one split";
  if (as_warnings) {
    diag.warning(ds.source, copy->line, "duplicate-across-splits", msg, copy->call_id);
  } else {
    diag.error(ds.source, copy->line, "duplicate-across-splits", msg, copy->call_id);
  }
}

std::string count_of(size_t n, const std::string& noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

/// "train/test: 3, dev/test: 1": the pairs across splits by the splits they join.
std::string pairs_by_splits(const Dataset& ds, const std::vector<DuplicatePair>& edges) {
  static const std::array<std::string, 3> names = {"train", "dev", "test"};
  std::map<std::pair<int, int>, size_t> counts;
  for (const auto& p : edges) {
    if (!leaks(ds.calls[p.a], ds.calls[p.b])) continue;
    const int x = split_rank(ds.calls[p.a].split), y = split_rank(ds.calls[p.b].split);
    ++counts[{std::min(x, y), std::max(x, y)}];
  }
  std::vector<std::string> parts;
  for (const auto& [splits, n] : counts)
    parts.push_back(names[size_t(splits.first)] + "/" + names[size_t(splits.second)] + ": " +
                    std::to_string(n));
  return join(parts, ", ");
}

/// "3 of 120 test calls copy a train call": how many calls of each later split are in a group
/// of duplicates with a call of an earlier split (directly or through another copy).
std::vector<std::string> leaked_call_counts(const Dataset& ds,
                                            const std::vector<DuplicatePair>& edges) {
  CallGroups groups(ds.calls.size());
  for (const auto& p : edges) groups.join(p.a, p.b);
  std::map<size_t, int> earliest;  // group -> its earliest split rank
  for (size_t i = 0; i < ds.calls.size(); ++i) {
    auto [it, fresh] = earliest.try_emplace(groups.find(i), split_rank(ds.calls[i].split));
    if (!fresh) it->second = std::min(it->second, split_rank(ds.calls[i].split));
  }
  std::array<size_t, 3> leaked{}, calls_in{};
  for (size_t i = 0; i < ds.calls.size(); ++i) {
    const int s = split_rank(ds.calls[i].split);
    if (s > 2) continue;
    ++calls_in[size_t(s)];
    leaked[size_t(s)] += earliest[groups.find(i)] < s;
  }
  static const std::array<std::string, 3> names = {"train", "dev", "test"};
  std::vector<std::string> parts;
  for (size_t s = 2; s >= 1; --s)
    if (leaked[s] > 0)
      parts.push_back(std::to_string(leaked[s]) + " of " + std::to_string(calls_in[s]) + " " +
                      names[s] + " calls copy a call of an earlier split");
  return parts;
}

/// The headline, then one finding per pair of `edges` up to kMaxListedDuplicatePairs: "N call
/// pairs look duplicated, M of them across splits (train/test: K), ...".
void report_duplicates(const Dataset& ds, const std::vector<DuplicatePair>& edges,
                       bool as_warnings, Diagnostics& diag) {
  const size_t across = static_cast<size_t>(std::count_if(edges.begin(), edges.end(), [&](auto& p) {
    return leaks(ds.calls[p.a], ds.calls[p.b]);
  }));
  std::string msg = "duplicate calls: " + count_of(edges.size(), "call pair") + " look" +
                    (edges.size() == 1 ? "s" : "") + " duplicated, " + std::to_string(across) +
                    " of them across splits";
  if (across > 0) msg += " (" + pairs_by_splits(ds, edges) + ")";
  msg += ", " + std::to_string(edges.size() - across) +
         " within one split (or with a call without one)";
  if (const auto leaked = leaked_call_counts(ds, edges); !leaked.empty())
    msg += "; " + join(leaked, ", ") + " (directly or through another copy)";
  const size_t listed = std::min(edges.size(), kMaxListedDuplicatePairs);
  msg += listed == edges.size()
             ? std::string("; each pair is listed below")
             : "; the first " + std::to_string(listed) + " pairs (across splits first) are "
               "listed below, " + std::to_string(edges.size() - listed) +
               " more in `--json FILE`";
  msg += ". Fix: remove the copies, or run `tenor data split DIR --out NEW --reassign`, which "
         "keeps duplicates in one split";
  const auto& first = edges.front();  // a leak when there is one
  Finding f{across == 0 || as_warnings ? Severity::kWarning : Severity::kError,
            ds.source,
            std::max(ds.calls[first.a].line, ds.calls[first.b].line),
            {},
            -1,
            "duplicate-summary",
            msg};
  f.headline = true;
  diag.add(std::move(f));
  for (size_t k = 0; k < listed; ++k) report_pair(ds, edges[k], as_warnings, diag);
}

/// Calls of every group of duplicates that spans two splits: reported as pairs already.
std::set<size_t> leaked_calls(const Dataset& ds, const std::vector<DuplicatePair>& pairs) {
  std::set<size_t> out;
  for (const auto& p : pairs)
    if (leaks(ds.calls[p.a], ds.calls[p.b])) out.insert(p.a), out.insert(p.b);
  return out;
}

struct Repeat {
  std::array<size_t, 3> calls{};  ///< by split rank (train, dev, test)
  size_t last_call = SIZE_MAX;    ///< the call last counted, so a call counts once
  size_t total = 0;
  size_t words = 0;
  int64_t line = 0;  ///< of its first segment
  int splits() const { return (calls[0] > 0) + (calls[1] > 0) + (calls[2] > 0); }
};

std::string repeat_text(std::string_view text, const Repeat& r) {
  static const std::array<std::string, 3> names = {"train", "dev", "test"};
  std::vector<std::string> parts;
  for (size_t s = 0; s < 3; ++s)
    if (r.calls[s] > 0) parts.push_back(names[s] + " " + std::to_string(r.calls[s]));
  return "\"" + printable(text) + "\" in " + std::to_string(r.total) + " calls (" +
         join(parts, ", ") + ")";
}

/// Every trimmed transcript with the calls of each split that hold it, leaving out `skip`.
std::unordered_map<std::string_view, Repeat> count_transcripts(const Dataset& ds,
                                                              const std::set<size_t>& skip) {
  std::unordered_map<std::string_view, Repeat> texts;
  for (size_t i = 0; i < ds.calls.size(); ++i) {
    const int rank = split_rank(ds.calls[i].split);
    if (rank > 2 || skip.count(i)) continue;
    for (const auto& seg : ds.calls[i].segments) {
      if (!seg.text || trim(*seg.text).empty()) continue;
      Repeat& r = texts[trim(*seg.text)];
      if (r.line == 0) r.line = seg.line;
      if (r.last_call != i) ++r.calls[size_t(rank)], ++r.total, r.last_call = i;
    }
  }
  return texts;
}

/// Transcripts that recur across splits, counted in one finding instead of one per text:
/// "Yes." in 412 calls is harmless, while a long sentence in train and test can be memorised.
/// Calls already reported as duplicates across splits are left out.
void check_repeated_transcripts(const Dataset& ds, const std::set<size_t>& skip,
                                Diagnostics& diag) {
  auto texts = count_transcripts(ds, skip);
  std::vector<std::pair<std::string_view, Repeat*>> across;
  for (auto& [text, r] : texts) {
    if (r.splits() < 2) continue;
    r.words = static_cast<size_t>(std::count(text.begin(), text.end(), ' ')) + 1;
    across.emplace_back(text, &r);
  }
  if (across.empty()) return;
  std::sort(across.begin(), across.end(), [](const auto& x, const auto& y) {
    if (x.second->total != y.second->total) return x.second->total > y.second->total;
    return x.second->line != y.second->line ? x.second->line < y.second->line : x.first < y.first;
  });
  std::vector<std::string> top;
  for (size_t k = 0; k < std::min<size_t>(5, across.size()); ++k)
    top.push_back(repeat_text(across[k].first, *across[k].second));
  std::string msg = std::to_string(across.size()) +
                    " distinct transcript(s) occur in more than one split; the most frequent: " +
                    join(top, ", ") + (across.size() > 5 ? ", ..." : "");
  auto longest = std::max_element(across.begin(), across.end(), [](const auto& x, const auto& y) {
    return x.second->words < y.second->words;
  });
  const size_t long_ones = static_cast<size_t>(std::count_if(
      across.begin(), across.end(), [](const auto& x) { return x.second->words >= 8; }));
  if (long_ones > 0) {
    msg += "; " + std::to_string(long_ones) + " of them have 8 words or more, which a text " +
           "model can memorise (the longest: " + repeat_text(longest->first, *longest->second) +
           "): remove or regroup the calls that repeat them";
  } else {
    msg += "; short stock phrases like these are harmless to keep";
  }
  diag.warning(ds.source, across.front().second->line, "transcript-across-splits", msg);
}

void check_labels(const Dataset& ds, int resamples, Diagnostics& diag) {
  for (const auto& task : ds.schema.tasks) {
    std::vector<size_t> counts(task.classes.size(), 0);
    size_t total = 0;
    for (const auto& call : ds.calls)
      for (const auto& seg : call.segments)
        if (auto label = resolved_label(seg, task)) ++counts[static_cast<size_t>(*label)], ++total;
    if (total == 0) {
      diag.warning("dataset.yaml", 0, "task-unlabelled",
                   "task '" + task.name + "' has no labels anywhere in the dataset");
      continue;
    }
    for (size_t c = 0; c < counts.size(); ++c) {
      double share = double(counts[c]) / total;
      if (share < kRareClassShare) {
        diag.warning("dataset.yaml", 0, "class-rare",
                     "class '" + task.classes[c] + "' of task '" + task.name + "' has " +
                         std::to_string(counts[c]) + " of " + std::to_string(total) + " labels (" +
                         percent(share) + ", under " + percent(kRareClassShare) +
                         "); a model cannot learn it reliably");
      }
    }
    int coders = 0;
    auto units = reliability_data(ds, task, &coders);
    auto estimate = krippendorff_alpha_bootstrap(units, task.num_classes(), alpha_metric_for(task),
                                                 resamples, 1);
    if (estimate.pairable_units > 0 && !std::isnan(estimate.alpha) && estimate.alpha < kMinAlpha) {
      std::ostringstream msg;
      msg.precision(3);
      msg << "annotator agreement on task '" << task.name << "' is low: Krippendorff's alpha ("
          << (alpha_metric_for(task) == AlphaMetric::kOrdinal ? "ordinal" : "nominal")
          << ") = " << estimate.alpha << " over " << estimate.pairable_units << " segments, below "
          << kMinAlpha << "; review the guidelines or the disputed segments";
      diag.warning("dataset.yaml", 0, "agreement-low", msg.str());
    }
  }
}

}  // namespace

std::map<std::string, AudioScan> check_dataset_audio(const Dataset& ds, int threads,
                                                     Diagnostics& diagnostics) {
  auto outcomes = scan_all(ds, threads);
  check_audio(ds, outcomes, diagnostics);
  std::map<std::string, AudioScan> scans;
  for (auto& [path, outcome] : outcomes)
    if (outcome.scan) scans.emplace(path, std::move(*outcome.scan));
  return scans;
}

ValidationResult validate_dataset(const fs::path& root, const ValidateOptions& options) {
  ValidationResult result;
  result.dataset = load_dataset(root, result.diagnostics, options.load);
  const Dataset& ds = result.dataset;
  std::error_code ec;
  result.manifest_bytes = fs::file_size(root / ds.source, ec);
  if (ec) result.manifest_bytes = 0;
  if (options.check_audio) {
    result.audio = check_dataset_audio(ds, options.threads, result.diagnostics);
    std::set<std::string> files;
    for (const auto& call : ds.calls)
      if (!call.audio.empty()) files.insert(call.audio);
    for (const auto& [path, scan] : result.audio)
      result.audio_bytes += fs::file_size(ds.root / path, ec);
    result.audio_files = files.size();
  }
  check_segments(ds, result.diagnostics);
  check_splits(ds, result.diagnostics);
  DuplicateOptions duplicates;
  duplicates.audio = options.check_audio && options.audio_duplicates;
  duplicates.threads = options.threads;
  duplicates.duplicate_jaccard = options.duplicate_jaccard;
  result.duplicates = find_duplicates(ds, duplicates);
  if (!result.duplicates.empty())
    report_duplicates(ds, spanning_pairs(ds, result.duplicates), options.duplicates_as_warnings,
                      result.diagnostics);
  check_repeated_transcripts(ds, leaked_calls(ds, result.duplicates), result.diagnostics);
  check_labels(ds, options.agreement_resamples, result.diagnostics);
  result.diagnostics.sort();
  return result;
}

}  // namespace tenor::data
