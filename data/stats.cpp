#include "data/stats.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

#include "data/agreement.h"
#include "data/audio.h"

namespace tenor::data {
using nlohmann::json;
namespace {

std::string split_name(const Call& call) { return call.split.empty() ? "unassigned" : call.split; }

/// Linear interpolation between order statistics (type 7, as numpy's default).
double percentile(std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  double pos = q * (sorted.size() - 1);
  size_t i = static_cast<size_t>(pos);
  double frac = pos - i;
  return i + 1 < sorted.size() ? sorted[i] + frac * (sorted[i + 1] - sorted[i]) : sorted[i];
}

/// The percentiles of segment durations reported, in the order they are printed.
constexpr int kDurationPercentiles[] = {0, 5, 25, 50, 75, 95, 100};

std::string percentile_key(int p) { return "p" + std::to_string(p); }

json finite_or_null(double x) { return std::isfinite(x) ? json(x) : json(nullptr); }

}  // namespace

json dataset_stats(const Dataset& ds, const StatsOptions& options) {
  json out;
  out["dataset"] = ds.schema.name;
  out["calls"] = ds.calls.size();
  out["segments"] = ds.segment_count();

  std::map<std::string, std::set<std::string>> speakers;
  std::map<std::string, size_t> calls, segments, text_only;
  std::map<std::string, double> audio_hours;
  std::map<std::string, std::map<std::string, double>> speech_hours;
  std::vector<double> durations;
  for (const auto& call : ds.calls) {
    const std::string split = split_name(call);
    ++calls[split];
    segments[split] += call.segments.size();
    if (auto id = call.speaker_id(); !id.empty()) speakers[split].insert(id);
    if (options.probe_audio && !call.audio.empty()) {
      try {
        audio_hours[split] += probe_audio(ds.root / call.audio).duration_s() / 3600.0;
      } catch (const std::exception&) {
        // Unreadable audio is validate's business; stats count what can be read.
      }
    }
    // A text-only call's times order its turns; they are no speech to count.
    if (call.audio.empty()) {
      ++text_only[split];
      continue;
    }
    for (const auto& seg : call.segments) {
      speech_hours[split][seg.speaker] += seg.duration_s() / 3600.0;
      durations.push_back(seg.duration_s());
    }
  }
  json splits = json::object();
  for (const auto& [split, n] : calls) {
    json s = {{"calls", n},
              {"segments", segments[split]},
              {"speakers", speakers[split].size()},
              {"speech_hours_by_role", speech_hours[split]},
              {"text_only_calls", text_only[split]}};
    if (options.probe_audio) s["audio_hours"] = audio_hours[split];
    splits[split] = std::move(s);
  }
  out["splits"] = std::move(splits);

  std::sort(durations.begin(), durations.end());
  json pct = json::object();
  if (!durations.empty())
    for (int p : kDurationPercentiles) pct[percentile_key(p)] = percentile(durations, p / 100.0);
  out["segment_seconds"] = std::move(pct);

  json tasks = json::object();
  for (const auto& task : ds.schema.tasks) {
    json t = {{"type", to_string(task.type)}, {"speaker", task.speaker}, {"classes", task.classes}};
    std::map<std::string, std::vector<size_t>> counts;
    for (const auto& call : ds.calls) {
      for (const auto& seg : call.segments) {
        if (auto label = resolved_label(seg, task)) {
          auto& c = counts[split_name(call)];
          c.resize(task.classes.size());
          ++c[static_cast<size_t>(*label)];
          auto& all = counts["all"];
          all.resize(task.classes.size());
          ++all[static_cast<size_t>(*label)];
        }
      }
    }
    json by_split = json::object();
    for (const auto& [split, c] : counts) {
      size_t total = 0;
      for (size_t x : c) total += x;
      json classes = json::object();
      for (size_t k = 0; k < c.size(); ++k) {
        classes[task.classes[k]] = {{"count", c[k]}, {"share", total ? double(c[k]) / total : 0.0}};
      }
      by_split[split] = {{"labelled", total}, {"classes", classes}};
    }
    t["labels"] = std::move(by_split);
    int coders = 0;
    auto units = reliability_data(ds, task, &coders);
    if (!units.empty()) {
      auto metric = alpha_metric_for(task);
      auto est = krippendorff_alpha_bootstrap(units, task.num_classes(), metric,
                                              options.bootstrap_resamples, options.seed);
      t["agreement"] = {{"metric", metric == AlphaMetric::kOrdinal ? "ordinal" : "nominal"},
                        {"krippendorff_alpha", finite_or_null(est.alpha)},
                        {"ci95", {finite_or_null(est.low), finite_or_null(est.high)}},
                        {"pairable_segments", est.pairable_units},
                        {"annotators", coders},
                        {"bootstrap_resamples", options.bootstrap_resamples}};
    }
    tasks[task.name] = std::move(t);
  }
  out["tasks"] = std::move(tasks);
  return out;
}

std::string stats_to_text(const json& s) {
  std::ostringstream o;
  o << std::fixed;
  o << "dataset " << s["dataset"].get<std::string>() << ": " << s["calls"] << " calls, "
    << s["segments"] << " segments\n\n";
  o << std::left << std::setw(12) << "split" << std::right << std::setw(8) << "calls"
    << std::setw(10) << "segments" << std::setw(10) << "speakers" << std::setw(13) << "audio_hours"
    << "  speech hours by role\n";
  for (const auto& [split, v] : s["splits"].items()) {
    o << std::left << std::setw(12) << split << std::right << std::setw(8)
      << v["calls"].get<size_t>() << std::setw(10) << v["segments"].get<size_t>() << std::setw(10);
    if (const size_t speakers = v["speakers"].get<size_t>(); speakers > 0)
      o << speakers;
    else
      o << "-";  // no meta.speaker_id in this split
    if (v.contains("audio_hours")) {
      o << std::setw(13) << std::setprecision(3) << v["audio_hours"].get<double>();
    } else {
      o << std::setw(13) << "-";
    }
    o << " ";
    for (const auto& [role, h] : v["speech_hours_by_role"].items())
      o << " " << role << "=" << std::setprecision(3) << h.get<double>();
    if (const size_t text = v.value("text_only_calls", size_t(0)); text > 0)
      o << (v["speech_hours_by_role"].empty() ? " text only (" : " + text only (") << text
        << (text == 1 ? " call)" : " calls)");
    o << "\n";
  }
  o << "\nsegment duration (s):";
  if (s["segment_seconds"].empty()) o << " no segment of a call with audio";
  // In numeric order (a JSON object's keys iterate as strings: p0, p100, p25, ...).
  for (int p : kDurationPercentiles)
    if (s["segment_seconds"].contains(percentile_key(p)))
      o << " " << percentile_key(p) << "=" << std::setprecision(2)
        << s["segment_seconds"][percentile_key(p)].get<double>();
  o << "\n";
  for (const auto& [name, t] : s["tasks"].items()) {
    o << "\ntask " << name << " (" << t["type"].get<std::string>() << ", "
      << t["speaker"].get<std::string>() << ")\n";
    o << std::left << std::setw(12) << "split" << std::right << std::setw(9) << "labelled";
    for (const auto& c : t["classes"])
      o << std::setw(std::max<int>(16, static_cast<int>(c.get<std::string>().size()) + 2))
        << c.get<std::string>();
    o << "\n";
    for (const auto& [split, v] : t["labels"].items()) {
      o << std::left << std::setw(12) << split << std::right << std::setw(9)
        << v["labelled"].get<size_t>();
      for (const auto& c : t["classes"]) {
        const auto& cell = v["classes"][c.get<std::string>()];
        std::ostringstream txt;
        txt << cell["count"].get<size_t>() << " (" << std::fixed << std::setprecision(1)
            << cell["share"].get<double>() * 100 << "%)";
        o << std::setw(std::max<int>(16, static_cast<int>(c.get<std::string>().size()) + 2))
          << txt.str();
      }
      o << "\n";
    }
    if (t.contains("agreement")) {
      const auto& a = t["agreement"];
      o << "agreement: Krippendorff's alpha (" << a["metric"].get<std::string>() << ") = ";
      if (a["krippendorff_alpha"].is_null()) {
        o << "undefined (no variation)";
      } else {
        o << std::setprecision(3) << a["krippendorff_alpha"].get<double>();
        if (!a["ci95"][0].is_null())
          o << ", 95% CI [" << a["ci95"][0].get<double>() << ", " << a["ci95"][1].get<double>()
            << "]";
      }
      o << " over " << a["pairable_segments"] << " segments, " << a["annotators"]
        << " annotators\n";
    } else {
      o << "agreement: no labels_by, not computed\n";
    }
  }
  return o.str();
}

}  // namespace tenor::data
