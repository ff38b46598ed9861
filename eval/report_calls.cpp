// One call's page: what `tenor eval --call ID` writes and the report's call links open.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "core/error.h"
#include "core/text.h"
#include "eval/html_parts.h"
#include "eval/plots.h"
#include "eval/report.h"

namespace tenor::eval {
namespace {

using html::row;

/// The call's segments in time order (then set order).
std::vector<size_t> call_segments(const EvalSet& test, const std::string& call_id) {
  const Segments& s = test.segments;
  std::vector<size_t> out;
  for (size_t i = 0; i < s.size(); ++i)
    if (s.call_ids[i] == call_id) out.push_back(i);
  if (out.empty()) {
    std::set<std::string> unique(s.call_ids.begin(), s.call_ids.end());
    const std::string near = nearest(call_id, std::vector<std::string>(unique.begin(), unique.end()));
    throw DataError("call '" + printable(call_id) + "' is not in this split" +
                    (near.empty() ? "; check the id (report.json lists the calls' timelines)"
                                  : "; did you mean '" + near + "'?"));
  }
  std::stable_sort(out.begin(), out.end(),
                   [&](size_t a, size_t b) { return s.start_s[a] < s.start_s[b]; });
  return out;
}

/// Per task, the call's labels counted by class ("calm 3, angry 1").
void labels_table(XmlWriter& w, const EvalReport& report, const EvalSet& test,
                  const std::vector<size_t>& segs) {
  w.open("table");
  row(w, {"task", "role", "labels in this call", "decisions in this call"}, true);
  for (const TaskReport& r : report.tasks) {
    const TaskPredictions& task = test.task(r.name);
    std::vector<int> labels(r.classes.size(), 0), decisions(r.classes.size(), 0);
    for (size_t i : segs) {
      if (!html::scored_for(test, task, i)) continue;
      if (task.labels[i] >= 0) ++labels[size_t(task.labels[i])];
      ++decisions[size_t(html::decision(r, i))];
    }
    auto counts = [&](const std::vector<int>& n) {
      std::vector<std::string> parts;
      for (size_t k = 0; k < n.size(); ++k)
        if (n[k] > 0) parts.push_back(r.classes[k] + " " + std::to_string(n[k]));
      return parts.empty() ? std::string("none") : join(parts, ", ");
    };
    row(w, {r.name, task.speaker.empty() ? "every speaker" : task.speaker, counts(labels),
            counts(decisions)});
  }
  w.close();
}

/// Every task's score over time on its role's segments (both roles in one plot), with each
/// binary task's threshold and the segments labelled above the first class as bands.
void scores_plot(XmlWriter& w, const EvalReport& report, const EvalSet& test,
                 const std::vector<size_t>& segs, const std::string& call_id) {
  const Segments& s = test.segments;
  Axes a;
  a.title = "Scores over time: call " + call_id;
  a.x_label = "time (s)";
  a.y_label = "score";
  a.width = 720;
  double end = 1.0;
  std::vector<Series> series;
  for (const TaskReport& r : report.tasks) {
    const TaskPredictions& task = test.task(r.name);
    const size_t c = r.classes.size();
    Series one{r.name + ": " + html::score_name(r) +
                   (task.speaker.empty() ? "" : " (" + task.speaker + ")"),
               {}, {}, series_color(series.size()), true};
    for (size_t i : segs) {
      end = std::max(end, s.end_s[i]);
      if (!html::scored_for(test, task, i)) continue;
      one.x.push_back((s.start_s[i] + s.end_s[i]) / 2);
      one.y.push_back(
          html::task_score(std::span<const double>(r.scored_probs).subspan(i * c, c), r.type));
      if (series.empty() && task.labels[i] > 0) a.x_bands.emplace_back(s.start_s[i], s.end_s[i]);
    }
    if (r.type == data::TaskType::kBinary) a.hlines.push_back(r.threshold);
    series.push_back(std::move(one));
  }
  a.x_max = nice_ceil(end);
  using Mark = LegendEntry::Mark;
  if (!a.hlines.empty()) a.legend.push_back({"decision threshold", "#ff7f0e", Mark::kDashed});
  if (!report.tasks.empty())
    a.legend.push_back({report.tasks[0].name + " labelled above " + report.tasks[0].classes[0],
                        "#d62728", Mark::kBar});
  line_plot(w, a, series);
}

/// Whether some task decided segment `i` wrongly.
bool wrong_somewhere(const EvalReport& report, const EvalSet& test, size_t i) {
  for (const TaskReport& r : report.tasks) {
    const TaskPredictions& task = test.task(r.name);
    if (task.labels[i] >= 0 && html::scored_for(test, task, i) &&
        html::decision(r, i) != task.labels[i])
      return true;
  }
  return false;
}

/// A task's label, decision and score on segment `i` in one cell ("frustrated / hostile /
/// 0.782", "-" for no label); blank on another role's segment.
void task_cell(XmlWriter& w, const TaskReport& r, const EvalSet& test, size_t i) {
  const TaskPredictions& task = test.task(r.name);
  if (!html::scored_for(test, task, i)) {
    w.element("td", {}, "");
    return;
  }
  const size_t c = r.classes.size();
  const double score =
      html::task_score(std::span<const double>(r.scored_probs).subspan(i * c, c), r.type);
  w.element("td", {{"class", "l"}},
            (task.labels[i] >= 0 ? r.classes[size_t(task.labels[i])] : std::string("-")) +
                " / " + r.classes[size_t(html::decision(r, i))] + " / " +
                svg_number(score, 3));
}

/// A player positioned on segment `i` by a media fragment (#t=start,end: it starts at the
/// turn and stops at its end), trying the relative URL first, then the absolute one.
void turn_player(XmlWriter& w, const EvalSet& test, size_t i, const CallAudio& audio) {
  const std::string fragment = "#t=" + svg_number(test.segments.start_s[i], 3) + "," +
                               svg_number(test.segments.end_s[i], 3);
  w.open("td");
  // Opened and closed: HTML parsers ignore the self-closing slash on non-void elements.
  w.open("audio", {{"controls", "controls"}, {"preload", "none"}});
  w.leaf("source", {{"src", audio.relative + fragment}});
  if (!audio.absolute.empty()) w.leaf("source", {{"src", audio.absolute + fragment}});
  w.close();
  w.close();
}

/// The transcript turn by turn: time, speaker, audio of the turn, text, and per task the
/// label, decision and score (blank on segments of another role; rows with a wrong decision
/// shaded).
void transcript_table(XmlWriter& w, const EvalReport& report, const EvalSet& test,
                      const std::vector<size_t>& segs, const CallAudio& audio) {
  const Segments& s = test.segments;
  const bool players = !audio.relative.empty();
  std::vector<std::string> head = {"time", "speaker"};
  if (players) head.push_back("audio");
  head.push_back("transcript");
  for (const TaskReport& r : report.tasks)
    head.push_back(r.name + ": label / decision / " + html::score_name(r));
  w.open("table");
  row(w, head, true);
  for (size_t i : segs) {
    w.open("tr", wrong_somewhere(report, test, i) ? XmlAttrs{{"class", "wrong"}} : XmlAttrs{});
    w.element("td", {{"class", "l time"}}, html::time_span(test, i));
    w.element("td", {{"class", "l"}}, s.speakers[i]);
    if (players) turn_player(w, test, i, audio);
    w.element("td", {{"class", "text"}}, s.texts.empty() ? "" : s.texts[i]);
    for (const TaskReport& r : report.tasks) task_cell(w, r, test, i);
    w.close();
  }
  w.close();
}

// Shows #audio-missing when a player's last source fails (every URL tried). No '<' or '&':
// written raw into a document that must parse as XML.
constexpr const char* kAudioScript = R"(
document.querySelectorAll('audio source:last-child').forEach(function (s) {
  s.addEventListener('error', function () {
    document.getElementById('audio-missing').hidden = false;
    s.parentElement.classList.add('missing');
  });
});
)";

/// Where the players' audio is, and the message shown (by kAudioScript) when it is not there.
void audio_note(XmlWriter& w, const CallAudio& audio) {
  w.open("p");
  w.text("Audio: ");
  w.element("a", {{"href", audio.relative}}, audio.relative);
  w.text(" (from this page; checked when the page was written)" +
         (audio.absolute.empty() ? std::string() : ", else " + audio.absolute) + ".");
  w.close();
  w.element("p", {{"id", "audio-missing"}, {"class", "flag"}, {"hidden", "hidden"}},
            "The call's audio is not where this page looks for it (" + audio.relative +
                " from this page, " + (audio.absolute.empty() ? "" : audio.absolute + ", ") +
                "neither found): the report or the dataset has moved since tenor eval wrote "
                "it. Put them back, move the report together with the dataset, or run tenor "
                "eval again with --audio DIR (or --dataset DIR) where they are now.");
}

}  // namespace

std::string call_page_path(const std::string& call_id) {
  std::string name;
  for (size_t k = 0; k < call_id.size(); ++k) {
    const unsigned char ch = static_cast<unsigned char>(call_id[k]);
    if (std::isalnum(ch) || ch == '-' || (ch == '.' && k > 0)) {
      name += static_cast<char>(ch);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "_%02X", ch);
      name += buf;
    }
  }
  return "calls/" + (name.empty() ? std::string("_") : name) + ".html";
}

std::string call_page(const EvalReport& report, const EvalSet& test, const std::string& call_id,
                      const CallAudio& audio) {
  const std::vector<size_t> segs = call_segments(test, call_id);
  XmlWriter w;
  html::open_page(w, "call " + call_id + ": tenor evaluation");
  w.element("h1", {}, "Call " + call_id);
  w.open("p");
  w.element("a", {{"href", "../report.html"}}, "back to the report");
  double end = 0.0;
  for (size_t i : segs) end = std::max(end, test.segments.end_s[i]);
  w.text(" · " + std::to_string(segs.size()) + " scored segments, " + svg_number(end, 1) +
         " s; scores calibrated with the " +
         "decision rules fitted on the " + report.rules_fitted_on +
         (audio.relative.empty() ? "; no audio at hand (tenor eval --dataset DIR, or --audio DIR "
                               "with --data, gives the call pages their audio)"
                             : ""));
  w.close();
  w.element("h2", {}, "Labels");
  labels_table(w, report, test, segs);
  w.element("h2", {}, "Scores over time");
  scores_plot(w, report, test, segs, call_id);
  w.element("h2", {}, "Transcript");
  if (!audio.relative.empty()) audio_note(w, audio);
  transcript_table(w, report, test, segs, audio);
  if (!audio.relative.empty()) w.open("script").raw(kAudioScript).close();
  w.close();  // body
  w.close();  // html
  return w.finish();
}

}  // namespace tenor::eval
