#include "data/validate.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/text.h"
#include "data/agreement.h"
#include "data/parallel.h"

namespace tenor::data {
namespace fs = std::filesystem;
namespace {

std::string seconds(double s) {
  std::ostringstream out;
  out.precision(s < 10 ? 3 : 4);
  out << s << " s";
  return out.str();
}

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
                       seconds(scan.declared_duration_s) + " but the file holds " +
                       seconds(scan.duration_s()) + "; re-copy or re-export the file",
                   call.call_id);
      }
      if (scan.frames_read == 0) {
        diag.error(f, call.line, "audio-empty", call.audio + " holds no samples; re-export it",
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
        double loudest = *std::max_element(scan.channel_rms.begin(), scan.channel_rms.end());
        if (loudest < kSilenceRms) {
          diag.warning(
              f, call.line, "audio-silent",
              call.audio +
                  " is all silence (RMS below -80 dBFS on every channel); check the recording",
              call.call_id);
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
    for (const auto& [role, channel] : call.channels) {
      if (channel >= scan.info.channels) {
        diag.error(f, call.line, "channel-missing",
                   "channels maps role '" + role + "' to channel " + std::to_string(channel) +
                       ", but " + call.audio + " has " + std::to_string(scan.info.channels) +
                       " channel(s) (0.." + std::to_string(scan.info.channels - 1) + ")",
                   call.call_id);
      }
    }
    if (scan.info.channels > 1 && call.channels.empty()) {
      diag.warning(
          f, call.line, "channels-unmapped",
          call.audio + " has " + std::to_string(scan.info.channels) +
              " channels but the call has no `channels` mapping; all channels will be mixed down",
          call.call_id);
    }
    const double duration = scan.duration_s();
    for (size_t i = 0; i < call.segments.size(); ++i) {
      const Segment& seg = call.segments[i];
      if (seg.end_s > duration + kEndToleranceSeconds) {
        diag.error(f, seg.line, "segment-past-end",
                   "segment ends at " + seconds(seg.end_s) + ", past the audio's " +
                       seconds(duration) + "; fix end or the audio path",
                   call.call_id, static_cast<int>(i));
      }
    }
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
                     "segment lasts " + seconds(seg.duration_s()) + ", shorter than " +
                         seconds(kMinSegmentSeconds) + "; too short for reliable prosody",
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
                       "segment (" + seconds(seg.start_s) + " to " + seconds(seg.end_s) +
                           ") overlaps segment " + std::to_string(order[k - 1]) + " (" +
                           seconds(prev.start_s) + " to " + seconds(prev.end_s) +
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
  // Exact duplicate transcripts across splits: text leakage between train and test.
  std::map<std::string, std::map<std::string, std::pair<const Call*, size_t>>> text_splits;
  for (const auto& call : ds.calls) {
    if (call.split.empty()) continue;
    if (auto id = call.speaker_id(); !id.empty()) speaker_splits[id].emplace(call.split, &call);
    for (const auto& seg : call.segments) {
      if (!seg.text) continue;
      std::string text(trim(*seg.text));
      if (text.empty()) continue;
      auto& entry = text_splits[text][call.split];
      if (!entry.first) entry.first = &call;
      ++entry.second;
    }
  }
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
  for (const auto& [text, splits] : text_splits) {
    if (splits.size() < 2) continue;
    std::vector<std::string> parts;
    for (const auto& [split, entry] : splits)
      parts.push_back(split + ": " + std::to_string(entry.second));
    const Call* first = nullptr;
    for (const auto& [split, entry] : splits)
      if (!first || entry.first->line < first->line) first = entry.first;
    diag.warning(ds.source, first->line, "transcript-across-splits",
                 "the transcript \"" + printable(text) + "\" occurs in several splits (" +
                     join(parts, ", ") + " segments); a text model can memorise it");
  }
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
  check_labels(ds, options.agreement_resamples, result.diagnostics);
  result.diagnostics.sort();
  return result;
}

}  // namespace tenor::data
