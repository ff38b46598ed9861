// What practitioners look for first in the report (issue 22, items 2 and 3): per-class
// precision-recall curves, reliability diagrams with counts, the worst errors, round ticks and
// legends off the data, training curves, predictions.jsonl and the page of one call.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#ifdef TENOR_HAVE_LIBXML2
#include <libxml/parser.h>
#endif

#include "core/error.h"
#include "eval/plots.h"
#include "eval/report.h"
#include "eval_fixtures.h"

namespace tenor::eval {
namespace {

using testing::binary_set;
using testing::multiclass_set;
using testing::Seg;

bool well_formed(const std::string& doc) {
#ifdef TENOR_HAVE_LIBXML2
  xmlDocPtr d = xmlReadMemory(doc.data(), static_cast<int>(doc.size()), "page.html", "UTF-8",
                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  const bool ok = d != nullptr;
  xmlFreeDoc(d);
  return ok;
#else
  return doc.find("<html") != std::string::npos && doc.ends_with("</html>");
#endif
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

/// Two calls of customer escalation and agent empathy, with transcripts: call "a" has a
/// confident false alarm (calm, 0.95) and call "b" a confident miss (escalated, 0.05).
EvalSet two_role_set() {
  EvalSet set = binary_set({{"a", 0, 0.95, "customer", 0, 4},
                            {"a", -1, 0.5, "agent", 4, 8},
                            {"a", 1, 0.9, "customer", 8, 12},
                            {"b", 1, 0.05, "customer", 0, 3},
                            {"b", -1, 0.5, "agent", 3, 6},
                            {"b", 0, 0.6, "customer", 6, 9},
                            {"b", 0, 0.1, "customer", 9, 12}});
  set.tasks[0].speaker = "customer";
  set.segments.texts = {"fine thanks",    "I understand <that>", "this is a joke",
                        "whatever",       "sorry to hear",       "ok",
                        "bye"};
  set.segments.indices = {0, 1, 2, 0, 1, 2, 3};
  TaskPredictions empathy;
  empathy.name = "empathy";
  empathy.type = data::TaskType::kBinary;
  empathy.classes = {"absent", "present"};
  empathy.speaker = "agent";
  const std::vector<int> labels = {-1, 1, -1, -1, 0, -1, -1};
  for (size_t i = 0; i < labels.size(); ++i) {
    empathy.labels.push_back(labels[i]);
    const double p = labels[i] == 1 ? 0.8 : 0.3;
    empathy.probs.insert(empathy.probs.end(), {1 - p, p});
  }
  set.tasks.push_back(std::move(empathy));
  return set;
}

EvalReport quick(const EvalSet& set) {
  EvalConfig config;
  config.bootstrap.resamples = 0;
  return evaluate(set, config);
}

TEST(Plots, TicksAreRoundAndAxesEndOnATick) {
  EXPECT_EQ(nice_ticks(0, 1), (std::vector<double>{0, 0.2, 0.4, 0.6, 0.8, 1.0}));
  EXPECT_EQ(nice_ticks(0, 37.3), (std::vector<double>{0, 10, 20, 30}));
  EXPECT_EQ(nice_ticks(0, 12), (std::vector<double>{0, 2.5, 5, 7.5, 10}));
  EXPECT_DOUBLE_EQ(nice_ceil(37.3), 40.0);
  EXPECT_DOUBLE_EQ(nice_ceil(12.0), 12.5);
  EXPECT_DOUBLE_EQ(nice_ceil(3.0), 3.0);
  EXPECT_DOUBLE_EQ(nice_ceil(30.04), 30.0);  // a hair past a tick ends on it
  // A call of 37.3 s: the axis ends at 40 and every tick label is a round number.
  Axes a;
  a.x_max = nice_ceil(37.3);
  Series s{"score", {1, 20, 37}, {0.1, 0.5, 0.9}};
  XmlWriter w;
  line_plot(w, a, std::span<const Series>(&s, 1));
  const std::string svg = w.finish();
  for (const char* tick : {">0<", ">10<", ">20<", ">30<", ">40<", ">0.2<", ">0.8<"})
    EXPECT_NE(svg.find(tick), std::string::npos) << tick;
  EXPECT_EQ(svg.find(">9.33<"), std::string::npos);  // what quarters of 37.3 gave
}

TEST(Plots, LegendsLieBelowThePlotArea) {
  Axes a;  // 360 x 280: the plot area ends 40 px above the bottom
  std::vector<Series> s = {{"first", {0, 1}, {0, 1}}, {"second", {0, 1}, {1, 0}, "#d62728"}};
  a.legend = {{"threshold", "#ff7f0e", LegendEntry::Mark::kDashed}};
  XmlWriter w;
  line_plot(w, a, s);
  const std::string svg = w.finish();
  EXPECT_TRUE(well_formed(svg));
  EXPECT_NE(svg.find("height=\"325\""), std::string::npos) << "280 + 3 legend rows of 15";
  for (const char* name : {">first<", ">second<", ">threshold<"}) {
    const size_t at = svg.find(name);
    ASSERT_NE(at, std::string::npos) << name;
    const size_t y = svg.rfind(" y=\"", at);
    EXPECT_GT(std::stod(svg.substr(y + 4)), 280.0) << name << " lies on the data";
  }
}

TEST(Plots, ReliabilityDiagramShowsCountsEmptyBinsAndALegend) {
  Calibration cal;
  cal.ece = 0.1;
  cal.n = 1212;
  for (int b = 0; b < 4; ++b) {
    ReliabilityBin bin{b / 4.0, (b + 1) / 4.0, NAN, NAN, 0};
    if (b == 2) bin = {0.5, 0.75, 0.6, 0.5, 12};
    if (b == 3) bin = {0.75, 1.0, 0.9, 0.95, 1200};
    cal.bins.push_back(bin);
  }
  XmlWriter w;
  reliability_diagram(w, "Reliability", cal);
  const std::string svg = w.finish();
  EXPECT_TRUE(well_formed(svg));
  EXPECT_NE(svg.find(">12<"), std::string::npos) << "bin count";
  EXPECT_NE(svg.find(">1.2k<"), std::string::npos) << "bin count";
  EXPECT_EQ(count(svg, "fill=\"none\" stroke=\"#bbb\""), 2u) << "two empty bins, drawn empty";
  EXPECT_EQ(svg.find("NaN"), std::string::npos);
  for (const char* entry : {"accuracy per bin", "mean confidence", "perfect calibration",
                            ">empty bin<", "ECE 0.1"})
    EXPECT_NE(svg.find(entry), std::string::npos) << entry;
}

TEST(Report, PrecisionRecallCurvesForEveryClassOfEveryTask) {
  const EvalSet set = multiclass_set({0, 1, 2, 3, 1, 0, 2, 3}, {0, 1, 2, 0, 1, 0, 3, 3}, 4,
                                     data::TaskType::kOrdinal);
  const std::string html = to_html(quick(set), set);
  EXPECT_TRUE(well_formed(html));
  EXPECT_EQ(count(html, "Precision-recall per class"), 2u) << "the plot's title and <title>";
  for (const char* cls : {"c0 (AP ", "c1 (AP ", "c2 (AP ", "c3 (AP "})
    EXPECT_NE(html.find(cls), std::string::npos) << cls;
  EXPECT_NE(html.find("c1 (AP 1, 2 segments)"), std::string::npos);
}

TEST(Report, WorstErrorsListTheMostConfidentFalseAlarmsAndMisses) {
  const EvalSet set = two_role_set();
  HtmlOptions options;
  options.call_links = true;
  const EvalReport report = quick(set);
  const std::string html = to_html(report, set, options);
  EXPECT_TRUE(well_formed(html));
  const size_t alarms = html.find("Most confident false alarms (labelled calm");
  const size_t misses = html.find("Most confident misses (labelled above calm");
  ASSERT_NE(alarms, std::string::npos);
  ASSERT_NE(misses, std::string::npos);
  // The false alarm: call a, 0-4 s, "fine thanks", score 0.95, labelled calm, decided escalated.
  const std::string alarm_rows = html.substr(alarms, misses - alarms);
  EXPECT_NE(alarm_rows.find("<a href=\"calls/a.html\">a</a>"), std::string::npos) << alarm_rows;
  for (const char* cell : {"0-4 s", ">customer<", "fine thanks", ">0.95<", ">calm<", ">escalated<"})
    EXPECT_NE(alarm_rows.find(cell), std::string::npos) << cell;
  EXPECT_NE(alarm_rows.find(">0.6<"), std::string::npos) << "the second false alarm";
  EXPECT_LT(alarm_rows.find(">0.95<"), alarm_rows.find(">0.6<")) << "most confident first";
  const std::string miss_rows = html.substr(misses, html.find("</table>", misses) - misses);
  EXPECT_NE(miss_rows.find("whatever"), std::string::npos);
  EXPECT_NE(miss_rows.find(">0.05<"), std::string::npos);
  EXPECT_EQ(linked_calls(report, set, options), (std::vector<std::string>{"a", "b"}));
}

TEST(Report, PredictionsJsonlHoldsEveryScoredSegment) {
  const EvalSet set = two_role_set();
  const EvalReport report = quick(set);
  const std::string text = predictions_jsonl(report, set);
  std::vector<nlohmann::json> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), set.segments.size());
  const auto& first = lines[0];
  EXPECT_EQ(first["call_id"], "a");
  EXPECT_EQ(first["segment"], 0);
  EXPECT_EQ(first["speaker"], "customer");
  EXPECT_EQ(first["start_s"], 0.0);
  EXPECT_EQ(first["end_s"], 4.0);
  EXPECT_EQ(first["text"], "fine thanks");
  // Each task on its role's segments only: escalation on the customer's, empathy on the agent's.
  EXPECT_EQ(first["tasks"].size(), 1u);
  const auto& esc = first["tasks"]["escalation"];
  EXPECT_EQ(esc["label"], "calm");
  EXPECT_EQ(esc["decision"], "escalated");
  EXPECT_NEAR(esc["probs"][1].get<double>(), 0.95, 1e-12);
  EXPECT_NEAR(esc["calibrated"][1].get<double>(), 0.95, 1e-12);  // no rules: as scored
  EXPECT_EQ(lines[1]["tasks"].size(), 1u);
  EXPECT_EQ(lines[1]["tasks"]["empathy"]["label"], "present");
  EXPECT_TRUE(lines[4]["tasks"]["empathy"]["label"] == "absent");
  // Unlabelled but scored segments keep a null label.
  EvalSet unlabelled = set;
  unlabelled.tasks[0].labels[6] = -1;
  const std::string again = predictions_jsonl(quick(unlabelled), unlabelled);
  EXPECT_NE(again.find("\"label\":null"), std::string::npos);
}

TEST(Report, CallPageShowsTheTranscriptScoresLabelsAndAudio) {
  const EvalSet set = two_role_set();
  const EvalReport report = quick(set);
  const std::string page =
      call_page(report, set, "a", {"../../data/audio/a%20b.wav", "file:///d/audio/a%20b.wav"});
  EXPECT_TRUE(well_formed(page));
  for (const char* want : {"Call a", "fine thanks", "I understand &lt;that&gt;", "this is a joke",
                           "Scores over time", "escalation: P(escalated) (customer)",
                           "empathy: P(present) (agent)",
                           "escalation: label / decision / P(escalated)",
                           ">calm / escalated / 0.95<", ">present / present / 0.8<",
                           "labels in this call", "calm 1, escalated 1", "../report.html"})
    EXPECT_NE(page.find(want), std::string::npos) << want;
  // One player per turn, positioned on it by a media fragment: the audio relative to the page
  // first, then by its absolute path (a report moved alone still plays).
  EXPECT_EQ(count(page, "<audio "), 3u);
  EXPECT_NE(page.find("<source src=\"../../data/audio/a%20b.wav#t=4,8\"/><source "
                      "src=\"file:///d/audio/a%20b.wav#t=4,8\"/>"),
            std::string::npos);
  // Where the audio is, and a message (hidden until a player finds neither) with the fix.
  EXPECT_NE(page.find("Audio: <a href=\"../../data/audio/a%20b.wav\">"), std::string::npos);
  EXPECT_NE(page.find("<p id=\"audio-missing\" class=\"flag\" hidden=\"hidden\">The call&#39;s "
                      "audio is not where this page looks for it"),
            std::string::npos);
  EXPECT_NE(page.find("run tenor eval again with --audio DIR"), std::string::npos);
  EXPECT_EQ(count(page, "<script"), 1u);
  EXPECT_EQ(page.find("<script src"), std::string::npos);  // inline: the page opens offline
  // Call b is not on a's page; without audio there is no player and the page says why.
  EXPECT_EQ(page.find("whatever"), std::string::npos);
  const std::string silent = call_page(report, set, "b");
  EXPECT_EQ(silent.find("<audio"), std::string::npos);
  EXPECT_EQ(silent.find("<script"), std::string::npos);
  EXPECT_NE(silent.find("no audio at hand"), std::string::npos);
  try {
    call_page(report, set, "aa");
    FAIL() << "an unknown call must be refused";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("call 'aa' is not in this split; did you mean 'a'?"),
              std::string::npos)
        << e.what();
  }
}

TEST(Report, CallPagePathsAreOneSafeFileName) {
  EXPECT_EQ(call_page_path("c14"), "calls/c14.html");
  EXPECT_EQ(call_page_path("a/b c"), "calls/a_2Fb_20c.html");
  EXPECT_EQ(call_page_path(".."), "calls/_2E..html");
  EXPECT_EQ(call_page_path("a_2F"), "calls/a_5F2F.html");  // no two ids share a name
  EXPECT_EQ(call_page_path("<x>"), "calls/_3Cx_3E.html");
}

TEST(Report, TrainingCurvesComeFromMetricsJsonl) {
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() / ("tenor-training-curves-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  {
    std::ofstream m(dir / "metrics.jsonl");
    m << R"({"epoch":1,"train_loss":0.9,"dev_loss":0.8,"dev_score":0.4,"dev":{"escalation":{"macro_f1":0.4,"loss":0.8}}})"
      << "\n"
      << R"({"epoch":2,"train_loss":0.6,"dev_loss":null,"dev_score":0.55,"dev":{"escalation":{"macro_f1":0.55}}})"
      << "\n"
      << R"({"epoch":3,"train_loss":0.5,"dev_loss":0.7,"dev_score":0.5})" << "\n"
      << "{\"epoch\": 4, \"train_lo" << "\n";
  }
  const TrainingHistory h = read_training_history(dir / "metrics.jsonl");
  ASSERT_EQ(h.epochs.size(), 3u);
  EXPECT_DOUBLE_EQ(h.epochs[1].train_loss, 0.6);
  EXPECT_TRUE(std::isnan(h.epochs[1].dev_loss));
  EXPECT_DOUBLE_EQ(h.epochs[1].dev_macro_f1.at("escalation"), 0.55);
  EXPECT_NE(h.problem.find("metrics.jsonl:4: not an epoch's metrics line"), std::string::npos)
      << h.problem;
  const TrainingHistory none = read_training_history(dir / "absent.jsonl");
  EXPECT_TRUE(none.epochs.empty());
  EXPECT_NE(none.problem.find("cannot be read"), std::string::npos);

  const EvalSet set = two_role_set();
  HtmlOptions options;
  options.training = &h;
  const std::string html = to_html(quick(set), set, options);
  EXPECT_TRUE(well_formed(html));
  for (const char* want : {"Loss per epoch", "Dev metric per epoch", ">train loss<", ">dev loss<",
                           "dev macro-F1: escalation", "best epoch (best.pt): 2",
                           "not an epoch&#39;s metrics line"})
    EXPECT_NE(html.find(want), std::string::npos) << want;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tenor::eval
