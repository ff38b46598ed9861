#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <vector>

#ifdef TENOR_HAVE_LIBXML2
#include <libxml/parser.h>
#endif

#include "core/error.h"
#include "eval/plots.h"
#include "eval/report.h"
#include "eval/xml_writer.h"
#include "eval_fixtures.h"

namespace tenor::eval {
namespace {

using testing::binary_set;
using testing::multiclass_set;
using testing::Seg;

/// A small well-formedness check independent of libxml2: tags balance and nest, attribute
/// values are quoted, and every '&' starts an entity. Returns "" or the first problem.
std::string check_balanced(const std::string& doc) {
  std::vector<std::string> stack;
  for (size_t i = 0; i < doc.size(); ++i) {
    if (doc[i] == '&') {
      const size_t semi = doc.find(';', i);
      const std::string ent = doc.substr(i + 1, semi - i - 1);
      if (semi == std::string::npos ||
          (ent != "amp" && ent != "lt" && ent != "gt" && ent != "quot" && ent != "#39"))
        return "bad entity at " + std::to_string(i);
      continue;
    }
    if (doc[i] == '>') return "stray '>' at " + std::to_string(i);
    if (doc[i] != '<') continue;
    const size_t end = doc.find('>', i);
    if (end == std::string::npos) return "unterminated tag at " + std::to_string(i);
    std::string tag = doc.substr(i + 1, end - i - 1);
    i = end;
    if (tag.starts_with("!DOCTYPE")) continue;
    size_t quotes = 0;
    for (char ch : tag) quotes += ch == '"';
    if (quotes % 2) return "unbalanced quotes in <" + tag + ">";
    if (tag.find('<') != std::string::npos) return "'<' inside a tag";
    const bool closing = tag.starts_with("/"), self = tag.ends_with("/");
    std::string name;
    for (char ch : tag.substr(closing ? 1 : 0))
      if (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == ':')
        name += ch;
      else
        break;
    if (self) continue;
    if (!closing) {
      stack.push_back(name);
    } else {
      if (stack.empty() || stack.back() != name) return "</" + name + "> does not close";
      stack.pop_back();
    }
  }
  return stack.empty() ? "" : "<" + stack.back() + "> left open";
}

/// libxml2's strict XML parse (no network, no recovery) when available.
bool parses_as_xml(const std::string& doc) {
#ifdef TENOR_HAVE_LIBXML2
  xmlDocPtr d = xmlReadMemory(doc.data(), static_cast<int>(doc.size()), "report.html", "UTF-8",
                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  const bool ok = d != nullptr;
  xmlFreeDoc(d);
  return ok;
#else
  return check_balanced(doc).empty();
#endif
}

EvalSet hostile_set() {
  // Meta values and call ids that would break naive XML/HTML output.
  std::vector<Seg> segs;
  for (int c = 0; c < 12; ++c) {
    const std::string call = c == 0 ? "<call & \"0\">" : "c" + std::to_string(c);
    const std::map<std::string, std::string> meta = {
        {"site", c % 2 ? "</svg><script>alert('x')</script>" : "a&b \x01 \xff"}};
    for (int s = 0; s < 4; ++s)
      segs.push_back(
          {call, (s + c) % 3 == 0, 0.1 + 0.2 * s, "customer", 5.0 * s, 5.0 * s + 4, meta});
  }
  return binary_set(segs);
}

TEST(XmlWriter, EscapesTextAndRefusesUnbalancedDocuments) {
  EXPECT_EQ(xml_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  EXPECT_EQ(xml_escape("x\x01y"), "x\\x01y");
  EXPECT_EQ(xml_escape("caf\xc3\xa9"), "caf\xc3\xa9");  // valid UTF-8 kept
  EXPECT_EQ(xml_escape("\xff"), "\\xff");               // invalid UTF-8 made visible
  XmlWriter w;
  w.open("svg").open("g");
  EXPECT_THROW(w.finish(), UsageError);
  XmlWriter v;
  EXPECT_THROW(v.close(), UsageError);
  // The checkers themselves catch malformed documents.
  EXPECT_NE(check_balanced("<svg><g></svg>"), "");
  EXPECT_NE(check_balanced("<svg>a & b</svg>"), "");
  EXPECT_FALSE(parses_as_xml("<svg><g></svg>"));
  EXPECT_TRUE(parses_as_xml("<svg><g/></svg>"));
  EXPECT_EQ(svg_number(1.50), "1.5");
  EXPECT_EQ(svg_number(-0.001), "0");
  EXPECT_EQ(svg_number(std::nan("")), "0");
}

TEST(Report, HtmlIsWellFormedAndSelfContained) {
  const EvalSet set = hostile_set();
  EvalConfig config;
  config.bootstrap.resamples = 50;
  const DecisionRules rules = fit_decision_rules(set, "dev");
  const EvalReport report = evaluate(set, config, &rules);
  const std::string html = to_html(report, set);
  EXPECT_EQ(check_balanced(html), "");
  EXPECT_TRUE(parses_as_xml(html));
  EXPECT_EQ(html.find("<script"), std::string::npos);  // the hostile value is escaped
  EXPECT_NE(html.find("&lt;/svg&gt;&lt;script&gt;"), std::string::npos);
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/"));  // only namespaces
  EXPECT_EQ(html.find("src="), std::string::npos);
  // Heat map, raw and scaled reliability, ROC, PR, slice bars and call timelines.
  size_t svgs = 0;
  for (size_t p = html.find("<svg"); p != std::string::npos; p = html.find("<svg", p + 1)) ++svgs;
  EXPECT_GE(svgs, 6u + 6u);

  // A field with more values than max_slice_values is named, not sliced.
  EvalSet ticketed = set;
  for (size_t i = 0; i < ticketed.segments.size(); ++i)
    ticketed.segments.meta[i]["ticket"] = "t-" + ticketed.segments.call_ids[i];
  config.max_slice_values = 4;
  const std::string named = to_html(evaluate(ticketed, config, &rules), ticketed);
  EXPECT_TRUE(parses_as_xml(named));
  EXPECT_NE(named.find("meta.ticket is not sliced: 12 distinct values (more than 4)"),
            std::string::npos);
  EXPECT_EQ(named.find("ticket = "), std::string::npos);
}

TEST(Report, EveryPlotIsWellFormedOnItsOwn) {
  const EvalSet set = hostile_set();
  EvalConfig config;
  config.bootstrap.resamples = 20;
  const TaskReport r = evaluate(set, config).tasks[0];
  XmlWriter w;
  confusion_heatmap(w, "<cm>", r.confusion, r.classes);
  EXPECT_TRUE(parses_as_xml(w.finish()));
  XmlWriter w2;
  reliability_diagram(w2, "rel & diag", r.calibration);
  EXPECT_TRUE(parses_as_xml(w2.finish()));
  XmlWriter w3;
  std::vector<BarRow> bars = {{"a<b", 0.5, 0.4, 0.6, true}, {"empty", std::nan(""), 0, 0, false}};
  interval_bars(w3, "bars", bars, 0.5, 0.45, 0.55);
  const std::string svg = w3.finish();
  EXPECT_EQ(check_balanced(svg), "");
  EXPECT_TRUE(parses_as_xml(svg));
}

// A categorical task is "categorical" in report.json and report.html, the word of dataset.yaml,
// shape.json and the model card (report schema 1 said "nominal").
TEST(Report, CategoricalTaskIsNamedWithTheSchemasWord) {
  const EvalSet set = multiclass_set({0, 1, 2, 2, 1, 0}, {0, 1, 2, 0, 1, 0}, 3);
  EvalConfig config;
  config.bootstrap.resamples = 20;
  const EvalReport report = evaluate(set, config);
  const nlohmann::json j = to_json(report, set);
  EXPECT_EQ(j["schema_version"], kReportSchemaVersion);
  EXPECT_EQ(j["tasks"][0]["kind"], "categorical");
  const std::string html = to_html(report, set);
  EXPECT_NE(html.find("Task task (categorical)"), std::string::npos);
  EXPECT_EQ(html.find("nominal"), std::string::npos);
}

// A slice whose labels hold one class shows its class's recall and is marked, in report.json
// and report.html alike, never flagged in red (issue 22, item 1).
TEST(Report, SingleClassSliceShowsRecallNotAFlag) {
  std::vector<Seg> segs;
  for (int c = 0; c < 24; ++c) {
    const std::string call = "c" + std::to_string(c);
    const bool calm_site = c >= 12;
    const std::map<std::string, std::string> meta = {{"site", calm_site ? "calm" : "mixed"}};
    segs.push_back({call, 0, 0.2, "customer", 0, 5, meta});
    segs.push_back({call, calm_site ? 0 : 1, c % 4 ? 0.8 : 0.3, "customer", 5, 10, meta});
  }
  const EvalSet set = binary_set(segs);
  EvalConfig config;
  config.bootstrap.resamples = 100;
  config.slice_by_speaker = false;
  const EvalReport report = evaluate(set, config);
  const nlohmann::json j = to_json(report, set);
  EXPECT_GE(j["schema_version"], 3);
  const nlohmann::json* calm = nullptr;
  for (const auto& s : j["tasks"][0]["slices"])
    if (s["value"] == "calm") calm = &s;
  ASSERT_NE(calm, nullptr);
  EXPECT_EQ((*calm)["single_class"], "calm");
  EXPECT_NEAR((*calm)["class_recall"].get<double>(), 15.0 / 24, 1e-12);
  EXPECT_TRUE((*calm)["flagged"].is_null());
  EXPECT_FALSE((*calm)["outside_overall"].get<bool>());
  EXPECT_EQ((*calm)["note"], "single-class (calm): recall of its class shown");
  const std::string html = to_html(report, set);
  EXPECT_TRUE(parses_as_xml(html));
  EXPECT_NE(html.find("recall of calm"), std::string::npos);
  EXPECT_NE(html.find("single-class (calm): recall of its class shown"), std::string::npos);
  EXPECT_EQ(html.find("<tr class=\"flag\">"), std::string::npos) << "nothing is flagged";
  EXPECT_NE(html.find("site = mixed (12 calls)"), std::string::npos) << "bars name their calls";
  EXPECT_EQ(html.find("site = calm (12 calls)"), std::string::npos) << "no macro-F1 bar";
}

TEST(Report, JsonFollowsTheDocumentedSchema) {
  const EvalSet set = hostile_set();
  EvalConfig config;
  config.bootstrap.resamples = 50;
  const nlohmann::json j = nlohmann::json::parse(to_json(evaluate(set, config), set).dump());
  EXPECT_EQ(j["schema"], "tenor-eval-report");
  EXPECT_EQ(j["schema_version"], kReportSchemaVersion);
  EXPECT_EQ(j["n_segments"], 48);
  EXPECT_EQ(j["n_calls"], 12);
  const auto& t = j["tasks"][0];
  EXPECT_EQ(t["name"], "escalation");
  EXPECT_EQ(t["kind"], "binary");
  for (const char* m : {"accuracy", "macro_f1", "uar", "auroc", "auprc"}) {
    ASSERT_TRUE(t["metrics"].contains(m)) << m;
    EXPECT_TRUE(t["metrics"][m]["value"].is_number()) << m;
    EXPECT_LE(t["metrics"][m]["ci_low"].get<double>(), t["metrics"][m]["value"].get<double>());
  }
  EXPECT_FALSE(t["metrics"].contains("qwk"));  // ordinal only
  EXPECT_EQ(t["confusion"].size(), 2u);
  EXPECT_EQ(t["calibration"]["raw"]["bins"].size(), 15u);
  EXPECT_TRUE(t["calibration"]["temperature"].is_null());  // no dev set
  EXPECT_TRUE(t["curves"]["roc"]["fpr"].is_array());
  EXPECT_TRUE(t["timeline"]["per_call"].is_array());
  // Undefined values are null, never NaN text: a single-class split.
  const EvalSet one_class = binary_set({{"a", 0, 0.2}, {"b", 0, 0.6}});
  const nlohmann::json single = to_json(evaluate(one_class, config), one_class);
  EXPECT_TRUE(single["tasks"][0]["metrics"]["auroc"]["value"].is_null());
  EXPECT_EQ(single.dump().find("NaN"), std::string::npos);
}

// report.json carries what the page shows first: per-class precision-recall curves of every
// task and the worst-error tables, the same rows in the same order (schema 4; issue 22).
TEST(Report, JsonCarriesThePagesWorstErrorsAndPerClassCurves) {
  const EvalSet set = hostile_set();
  EvalConfig config;
  config.bootstrap.resamples = 20;
  const EvalReport report = evaluate(set, config);
  const nlohmann::json j = nlohmann::json::parse(to_json(report, set, 3).dump());
  EXPECT_EQ(j["schema_version"], 4);
  EXPECT_EQ(j["config"]["worst_errors"], 3);
  const auto& t = j["tasks"][0];
  ASSERT_EQ(t["pr_per_class"].size(), 2u);
  for (const auto& c : t["pr_per_class"]) {
    EXPECT_GT(c["support"].get<int>(), 0);
    EXPECT_EQ(c["recall"].size(), c["precision"].size());
    EXPECT_FALSE(c["recall"].empty());
    EXPECT_GT(c["average_precision"].get<double>(), 0.0);
  }
  // AP of class 1 against the rest is the task's auprc.
  EXPECT_NEAR(t["pr_per_class"][1]["average_precision"].get<double>(),
              t["metrics"]["auprc"]["value"].get<double>(), 1e-9);
  const auto& e = t["worst_errors"];
  EXPECT_EQ(e["score_name"], "P(escalated)");
  ASSERT_FALSE(e["false_alarms"].empty());
  EXPECT_LE(e["false_alarms"].size(), 3u);
  const auto& top = e["false_alarms"][0];
  EXPECT_EQ(top["label"], "calm");
  EXPECT_EQ(top["decision"], "escalated");
  for (size_t i = 1; i < e["false_alarms"].size(); ++i)  // most confident first
    EXPECT_GE(top["score"].get<double>(), e["false_alarms"][i]["score"].get<double>());
  for (size_t i = 1; i < e["misses"].size(); ++i)
    EXPECT_LE(e["misses"][0]["score"].get<double>(), e["misses"][i]["score"].get<double>());
  // The page's first false-alarm row is the JSON's.
  HtmlOptions html;
  html.worst_errors = 3;
  const std::string page = to_html(report, set, html);
  const size_t table = page.find("Most confident false alarms");
  ASSERT_NE(table, std::string::npos);
  EXPECT_NE(page.find(">" + xml_escape(top["call_id"].get<std::string>()) + "<", table),
            std::string::npos);
  // A categorical task: one list of errors, a curve per class.
  const EvalSet multi = multiclass_set({0, 1, 2, 2, 1, 0}, {0, 1, 2, 0, 1, 0}, 3);
  const auto m = to_json(evaluate(multi, config), multi)["tasks"][0];
  EXPECT_EQ(m["pr_per_class"].size(), 3u);
  EXPECT_EQ(m["worst_errors"]["errors"].size(), 1u);
  EXPECT_FALSE(m["worst_errors"].contains("misses"));
  EXPECT_TRUE(to_json(report, set, 0)["tasks"][0]["worst_errors"].is_null());
}

TEST(Report, ComparisonJsonCarriesTheGate) {
  const EvalSet a = binary_set({{"a", 0, 0.2}, {"b", 1, 0.7}, {"c", 1, 0.4}});
  const Comparison c = compare_runs(a, a);
  const std::vector<GateSpec> gates = {parse_gate("macro_f1:0")};
  const GateResult g = apply_gate(c, gates);
  const nlohmann::json j = to_json(c, &g);
  EXPECT_EQ(j["schema"], "tenor-eval-comparison");
  EXPECT_TRUE(j["gate"]["passed"].get<bool>());
  EXPECT_EQ(j["rows"].size(), 5u);
  EXPECT_EQ(j["thresholds"]["a"]["escalation"], 0.5);
}

}  // namespace
}  // namespace tenor::eval
