// `tenor eval` and `tenor eval compare` on a tiny trained run.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <vector>

#include <zlib.h>

#include <nlohmann/json.hpp>

#include "core/file_lock.h"
#include "data/features/store.h"
#include "tests/data/fixtures.h"
#include "tests/train/run_fixtures.h"

namespace tenor::test {
namespace {

fs::path trained_run() {
  static fs::path run = [] {
    fs::path dir = make_temp_dir("eval-run");
    std::string out;
    EXPECT_EQ(
        run_tenor("train --config " + write_train_config(dir, "  type: linear\n").string(), &out),
        0)
        << out;
    return dir / "run";
  }();
  return run;
}

TEST(E2eEval, ReportJsonHtmlCalibrationAndTimeline) {
  fs::path out = make_temp_dir("eval-out");
  std::string log;
  ASSERT_EQ(run_tenor("eval --run " + trained_run().string() + " --data " + tiny_store().string() +
                          " --split test --out " + out.string() + " --bootstrap 200 --timeline c14",
                      &log),
            0)
      << log;
  EXPECT_NE(log.find("escalation: macro-F1"), std::string::npos) << log;
  auto report = nlohmann::json::parse(std::ifstream(out / "report.json"));
  EXPECT_EQ(report["split"], "test");
  EXPECT_EQ(report["n_calls"], 2);
  std::string html((std::istreambuf_iterator<char>(std::ifstream(out / "report.html").rdbuf())),
                   {});
  EXPECT_NE(html.find("<svg"), std::string::npos);
  // The call page of --timeline (the older name of --call) and those the report links to.
  EXPECT_TRUE(fs::exists(out / "calls" / "c14.html"));
  for (size_t at = html.find("href=\"calls/"); at != std::string::npos;
       at = html.find("href=\"calls/", at + 1)) {
    const size_t end = html.find('"', at + 6);
    EXPECT_TRUE(fs::exists(out / html.substr(at + 6, end - at - 6))) << html.substr(at, 40);
  }
  // predictions.jsonl: every scored segment, as the report scored it.
  std::ifstream lines(out / "predictions.jsonl");
  size_t n = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    const auto p = nlohmann::json::parse(line);
    EXPECT_TRUE(p["call_id"].is_string() && p["segment"].is_number() && p["text"].is_string());
    EXPECT_FALSE(p["tasks"].empty()) << line;
    for (const auto& [task, t] : p["tasks"].items())
      EXPECT_TRUE(t["decision"].is_string() && t["calibrated"].size() == t["probs"].size());
  }
  EXPECT_EQ(n, report["n_segments"].get<size_t>());
  // Scored with the decision rules training fitted on dev and saved with the run.
  auto calibration = nlohmann::json::parse(std::ifstream(trained_run() / "calibration.json"));
  EXPECT_EQ(calibration["fitted_on"], "dev split of " + tiny_store().string());
  EXPECT_GT(calibration["tasks"]["empathy"]["temperature"].get<double>(), 0.0);
  EXPECT_EQ(report["config"]["decision_rules_fitted_on"], calibration["fitted_on"]);
  EXPECT_EQ(report["calibration"], "run");
  for (const auto& t : report["tasks"]) {
    if (t["name"] == "empathy") {
      EXPECT_EQ(t["decision"]["threshold"], calibration["tasks"]["empathy"]["threshold"]);
    }
  }
  // --calibration dev fits the rules on the evaluated store's dev split instead (here the
  // run's own store: the same rules, so the same report), and the report says which.
  const fs::path dev_out = make_temp_dir("eval-dev");
  ASSERT_EQ(run_tenor("eval --run " + trained_run().string() + " --data " + tiny_store().string() +
                          " --split test --out " + dev_out.string() +
                          " --bootstrap 200 --calibration dev",
                      &log),
            0)
      << log;
  auto dev_report = nlohmann::json::parse(std::ifstream(dev_out / "report.json"));
  EXPECT_EQ(dev_report["calibration"], "dev");
  EXPECT_EQ(dev_report["tasks"], report["tasks"]);
  EXPECT_EQ(run_tenor("eval --run " + trained_run().string() + " --data " + tiny_store().string() +
                          " --out " + dev_out.string() + " --calibration test",
                      &log),
            2);
  EXPECT_EQ(run_tenor("eval --run " + trained_run().string() + " --data " + tiny_store().string() +
                          " --out " + out.string() + " --timeline nosuchcall",
                      &log),
            1);
  EXPECT_NE(log.find("call 'nosuchcall' is not in this split"), std::string::npos) << log;
  // --audio names a dataset directory, checked before any scoring.
  EXPECT_EQ(run_tenor("eval --run " + trained_run().string() + " --data " + tiny_store().string() +
                          " --out " + out.string() + " --audio " + out.string(),
                      &log),
            2);
  EXPECT_NE(log.find("holds no dataset.yaml; give the dataset directory"), std::string::npos)
      << log;
}

// Injected at the top of a copy of a page: records script errors, then, once the page is laid
// out, every plot's title, rendered size, number of marks and the text that sticks out of it,
// as JSON in <pre id="tenor-check">, which --dump-dom prints.
constexpr const char* kPageChecker = R"(<script>
window.tenorErrors = [];
window.addEventListener('error', e => window.tenorErrors.push(String(e.message)));
window.addEventListener('load', () => {
  const out = {errors: window.tenorErrors, plots: [], audio: document.querySelectorAll('audio').length};
  for (const svg of document.querySelectorAll('svg')) {
    const box = svg.getBoundingClientRect();
    const clipped = [];
    for (const t of svg.querySelectorAll('text')) {
      const b = t.getBoundingClientRect();
      if (t.textContent.length && (b.left < box.left - 1 || b.right > box.right + 1 ||
                                   b.top < box.top - 1 || b.bottom > box.bottom + 1))
        clipped.push(t.textContent);
    }
    out.plots.push({title: svg.querySelector('title').textContent, width: box.width,
                    height: box.height,
                    marks: svg.querySelectorAll('polyline, circle, rect, line').length,
                    clipped: clipped});
  }
  // The first players: each loaded as a click on it would, where it stands once the audio's
  // metadata is in (its media fragment's start), or that every source failed.
  // A 1 ms timer while they load makes headless Chromium's virtual time advance in small
  // steps, so the real reads of the audio (and a fallback's retry) finish within the budget.
  const tick = setInterval(() => {}, 1);
  const probes = Array.from(document.querySelectorAll('audio')).slice(0, 3).map(a =>
    new Promise(resolve => {
      const first = a.querySelector('source'), last = a.querySelector('source:last-child') || a;
      const m = /#t=([0-9.]+),([0-9.]+)/.exec(first ? first.getAttribute('src') : a.src);
      const start = m ? parseFloat(m[1]) : null;
      a.addEventListener('loadedmetadata', () =>
        resolve({start: start, current: a.currentTime, duration: a.duration}));
      last.addEventListener('error', () => resolve({start: start, error: true}));
      a.load();
    }));
  Promise.all(probes).then(players => {
    clearInterval(tick);
    out.players = players;
    const missing = document.getElementById('audio-missing');
    out.missing_shown = missing ? !missing.hidden : null;
    const pre = document.createElement('pre');
    pre.id = 'tenor-check';
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  });
});
</script>)";

std::string read_text(const fs::path& file) {
  return std::string((std::istreambuf_iterator<char>(std::ifstream(file).rdbuf())), {});
}

std::string command_output(const std::string& command) {
  FILE* pipe = ::popen(command.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while (pipe && (n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  if (pipe) ::pclose(pipe);
  return out;
}

/// The share of a PNG's pixels that are not near-white (8-bit RGB or RGBA, not interlaced, as
/// Chromium writes its screenshots); -1 when the file is not such a PNG.
double inked_share(const fs::path& png) {
  const std::string bytes = read_text(png);
  if (bytes.size() < 33 || bytes.compare(1, 3, "PNG") != 0) return -1;
  auto be32 = [&](size_t at) {
    return uint32_t(uint8_t(bytes[at])) << 24 | uint32_t(uint8_t(bytes[at + 1])) << 16 |
           uint32_t(uint8_t(bytes[at + 2])) << 8 | uint32_t(uint8_t(bytes[at + 3]));
  };
  const uint32_t width = be32(16), height = be32(20);
  const int depth = uint8_t(bytes[24]), color = uint8_t(bytes[25]), interlace = uint8_t(bytes[28]);
  if (depth != 8 || (color != 2 && color != 6) || interlace != 0) return -1;
  const size_t bpp = color == 6 ? 4 : 3;
  std::string idat;
  for (size_t at = 8; at + 8 <= bytes.size();) {
    const uint32_t len = be32(at);
    if (bytes.compare(at + 4, 4, "IDAT") == 0) idat.append(bytes, at + 8, len);
    at += 12 + len;
  }
  const size_t stride = width * bpp;
  std::vector<uint8_t> raw(height * (stride + 1));
  uLongf raw_size = raw.size();
  if (::uncompress(raw.data(), &raw_size, reinterpret_cast<const Bytef*>(idat.data()),
                   idat.size()) != Z_OK || raw_size != raw.size())
    return -1;
  std::vector<uint8_t> prev(stride, 0), cur(stride);
  size_t inked = 0;
  for (uint32_t y = 0; y < height; ++y) {
    const uint8_t* line = raw.data() + y * (stride + 1);
    for (size_t i = 0; i < stride; ++i) {
      const int a = i >= bpp ? cur[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
      int pred = 0;
      switch (line[0]) {
        case 1: pred = a; break;
        case 2: pred = b; break;
        case 3: pred = (a + b) / 2; break;
        case 4: {
          const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
          pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
      }
      cur[i] = uint8_t(line[1 + i] + pred);
    }
    for (size_t x = 0; x < width; ++x)
      inked += cur[x * bpp] < 200 || cur[x * bpp + 1] < 200 || cur[x * bpp + 2] < 200;
    prev.swap(cur);
  }
  return double(inked) / (double(width) * height);
}

/// Loads `page` in headless Chromium: its checker JSON (script errors, every plot's size,
/// marks and clipped text, where the first players stand once loaded), and a screenshot at
/// `shot` (none when empty).
nlohmann::json render_page(const fs::path& page, const fs::path& shot, const fs::path& profile) {
  std::string html = read_text(page);
  const size_t head = html.find("<head>");
  EXPECT_NE(head, std::string::npos);
  html.insert(head + 6, kPageChecker);
  const fs::path checked = page.parent_path() / ("checked-" + page.filename().string());
  std::ofstream(checked) << html;
  const std::string flags =
      "/usr/bin/chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
      "--disable-background-networking --disable-component-update --disable-sync "
      // Virtual time runs ahead of the audio files' real reads: a player falling back from a
      // missing source to the next needs more of it than the plots (it costs no real time).
      "--virtual-time-budget=20000 --user-data-dir=" +
      profile.string() + " --window-size=1280,2400 ";
  if (!shot.empty()) {
    EXPECT_EQ(std::system((flags + "--screenshot=" + shot.string() + " file://" + page.string() +
                           " >/dev/null 2>&1")
                              .c_str()),
              0);
  }
  std::string dom = command_output(flags + "--dump-dom file://" + checked.string() + " 2>/dev/null");
  const size_t from = dom.find("<pre id=\"tenor-check\">"), to = dom.find("</pre>", from);
  if (from == std::string::npos || to == std::string::npos) {
    ADD_FAILURE() << "the checker did not run on " << page << ": " << dom.substr(0, 500);
    return nlohmann::json::object();
  }
  std::string text = dom.substr(from + 22, to - from - 22);
  for (const auto& [entity, ch] : {std::pair{"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}})
    for (size_t p = text.find(entity); p != std::string::npos; p = text.find(entity, p + 1))
      text.replace(p, std::string(entity).size(), ch);
  return nlohmann::json::parse(text);
}

/// Every plot of a checked page is drawn with a size, marks and no text outside it.
void expect_plots_drawn(const nlohmann::json& check, const std::string& page) {
  EXPECT_TRUE(check["errors"].empty()) << page << ": " << check["errors"].dump();
  for (const auto& plot : check["plots"]) {
    const std::string title = plot["title"];
    EXPECT_GT(plot["width"].get<double>(), 100) << page << ": " << title;
    EXPECT_GT(plot["height"].get<double>(), 100) << page << ": " << title;
    EXPECT_GE(plot["marks"].get<int>(), 3) << page << ": " << title;
    EXPECT_TRUE(plot["clipped"].empty()) << page << ": " << title << " clips " << plot["clipped"];
  }
}

/// Every probed player of a checked page loaded its audio and stands at its turn's start: the
/// media fragment really seeks (issue 22: checked in a browser, not only in the HTML).
void expect_players_on_their_turns(const nlohmann::json& check, const std::string& page) {
  ASSERT_TRUE(check.contains("players") && !check["players"].empty()) << page;
  bool later = false;
  for (const auto& p : check["players"]) {
    ASSERT_FALSE(p.value("error", false)) << page << ": a player could not load its audio";
    EXPECT_NEAR(p["current"].get<double>(), p["start"].get<double>(), 1e-3) << page;
    EXPECT_GT(p["duration"].get<double>(), p["start"].get<double>()) << page;
    later = later || p["start"].get<double>() > 0;
  }
  EXPECT_TRUE(later) << page << ": no probed turn starts after 0 s, so nothing was sought";
}

// The report and a call page as a browser shows them: no script errors, every plot present,
// sized, drawn and not clipped, pixels on the screenshot; the call page with its players.
TEST(E2eEval, HtmlReportRendersInHeadlessChromium) {
  const char* chromium = "/usr/bin/chromium";
  if (!fs::exists(chromium))
    GTEST_SKIP() << "chromium is not installed (scripts/install-deps.sh installs it)";
  fs::path out = make_temp_dir("eval-shot");
  std::string log;
  ASSERT_EQ(run_tenor("eval --run " + trained_run().string() + " --data " + tiny_store().string() +
                          " --out " + out.string() + " --bootstrap 50 --call c14 --audio " +
                          tiny_dataset().string(),
                      &log),
            0)
      << log;
  const std::string html = read_text(out / "report.html");
  // Self-contained: nothing is fetched (namespace URIs like xmlns="http://..." are names, not
  // fetches).
  for (const char* fetch : {"src=\"http", "href=\"http", "<link", "@import", "<script src"})
    EXPECT_EQ(html.find(fetch), std::string::npos) << "the report must open offline: " << fetch;
  const nlohmann::json report = render_page(out / "report.html", out / "shot.png", out / "profile");
  expect_plots_drawn(report, "report.html");
  std::vector<std::string> titles;
  for (const auto& plot : report["plots"]) titles.push_back(plot["title"]);
  for (const char* want : {"Loss per epoch", "Dev metric per epoch", "Confusion: escalation",
                           "Confusion: empathy", "Precision-recall per class", "ROC, AUROC",
                           "Reliability (raw), ECE", "call c14"})
    EXPECT_TRUE(std::any_of(titles.begin(), titles.end(),
                            [&](const std::string& t) { return t.starts_with(want); }))
        << want << " is not among the plots";
  EXPECT_GE(titles.size(), 12u);
  EXPECT_GT(inked_share(out / "shot.png"), 0.02) << "the screenshot is blank";

  const fs::path call = out / "calls" / "c14.html";
  ASSERT_TRUE(fs::exists(call));
  const nlohmann::json page = render_page(call, out / "call.png", out / "profile");
  expect_plots_drawn(page, "calls/c14.html");
  ASSERT_EQ(page["plots"].size(), 1u);
  EXPECT_EQ(page["plots"][0]["title"], "Scores over time: call c14");
  EXPECT_GE(page["audio"].get<int>(), 2) << "a player on each turn";
  EXPECT_GT(inked_share(out / "call.png"), 0.01) << "the call page's screenshot is blank";
  expect_players_on_their_turns(page, "calls/c14.html");
  EXPECT_FALSE(page["missing_shown"].get<bool>());
  // The page moved alone (its relative link broken): the player falls back to the absolute one.
  const std::string call_html = read_text(call);
  const fs::path moved = out / "moved/deeper/c14.html";
  fs::create_directories(moved.parent_path());
  std::ofstream(moved) << call_html;
  const nlohmann::json alone = render_page(moved, "", out / "profile");
  expect_players_on_their_turns(alone, "a moved call page");
  EXPECT_FALSE(alone["missing_shown"].get<bool>());
  // Neither link leads to the audio: every player fails and the page says why.
  std::string lost = call_html;
  const std::string prefix = "src=\"file://";
  for (size_t at = lost.find(prefix); at != std::string::npos; at = lost.find(prefix, at + 1))
    lost.insert(at + prefix.size(), "/nonexistent");
  std::ofstream(out / "moved/deeper/lost.html") << lost;
  const nlohmann::json none = render_page(out / "moved/deeper/lost.html", "", out / "profile");
  ASSERT_TRUE(none.contains("players") && !none["players"].empty());
  for (const auto& p : none["players"]) EXPECT_TRUE(p.value("error", false)) << p;
  EXPECT_TRUE(none["missing_shown"].get<bool>()) << "the page must say the audio is missing";
}

TEST(E2eEval, CompareAndGate) {
  std::string log;
  const std::string base = "eval compare " + trained_run().string() + " " + trained_run().string() +
                           " --data " + tiny_store().string() + " --bootstrap 100";
  EXPECT_EQ(run_tenor(base + " --fail-if-worse macro_f1:0", &log), 0) << log;
  EXPECT_NE(log.find("gate passed"), std::string::npos) << log;
  EXPECT_EQ(run_tenor(base + " --fail-if-worse macro_f2:0.1", &log), 2) << log;
  EXPECT_NE(log.find("macro_f1"), std::string::npos) << log;  // the suggestion
  // --alpha: the gate's significance level, checked before any scoring.
  EXPECT_EQ(run_tenor(base + " --fail-if-worse macro_f1:0 --alpha 0.05 --out " +
                          make_temp_dir("eval-compare-alpha").string(),
                      &log),
            0)
      << log;
  EXPECT_NE(log.find("gate passed"), std::string::npos) << log;
  EXPECT_EQ(run_tenor(base + " --fail-if-worse macro_f1:0 --alpha 0", &log), 2) << log;
  EXPECT_NE(log.find("ALPHA must lie in (0, 1)"), std::string::npos) << log;
  EXPECT_EQ(run_tenor(base + " --alpha 0.05", &log), 2) << log;
  EXPECT_NE(log.find("add a gate such as --fail-if-worse"), std::string::npos) << log;
}

// compare scores each run as its report does (dev-fitted temperature and thresholds), so
// the A and B columns are the reports' numbers, not those of a 0.5 threshold.
TEST(E2eEval, CompareUsesTheReportsCalibration) {
  const fs::path out = make_temp_dir("eval-compare-calibrated");
  std::string log;
  ASSERT_EQ(run_tenor("eval --run " + trained_run().string() + " --data " + tiny_store().string() +
                          " --out " + (out / "report").string() + " --bootstrap 0",
                      &log),
            0)
      << log;
  ASSERT_EQ(run_tenor("eval compare " + trained_run().string() + " " + trained_run().string() +
                          " --data " + tiny_store().string() + " --bootstrap 0 --out " +
                          (out / "cmp").string(),
                      &log),
            0)
      << log;
  auto report = nlohmann::json::parse(std::ifstream(out / "report/report.json"));
  auto cmp = nlohmann::json::parse(std::ifstream(out / "cmp/comparison.json"));
  int checked = 0;
  for (const auto& row : cmp["rows"])
    for (const auto& t : report["tasks"])
      if (t["name"] == row["task"] && t["metrics"].contains(row["metric"].get<std::string>()) &&
          !row["a"].is_null()) {
        EXPECT_NEAR(row["a"].get<double>(),
                    t["metrics"][row["metric"].get<std::string>()]["value"].get<double>(), 1e-12)
            << row.dump();
        ++checked;
      }
  EXPECT_GE(checked, 4);
  // The binary task's decision threshold is the one fitted on dev and kept with the run.
  auto calibration = nlohmann::json::parse(std::ifstream(trained_run() / "calibration.json"));
  for (const char* side : {"a", "b"})
    EXPECT_DOUBLE_EQ(cmp["thresholds"][side]["empathy"].get<double>(),
                     calibration["tasks"]["empathy"]["threshold"].get<double>())
        << side;
  // --out is a directory outside both runs, refused before any scoring otherwise (a file used
  // to be an internal error; the run itself was written into).
  const std::string compare = "eval compare " + trained_run().string() + " " +
                              trained_run().string() + " --data " + tiny_store().string() +
                              " --bootstrap 0 --out ";
  EXPECT_EQ(run_tenor(compare + (out / "report/report.json").string(), &log), 2) << log;
  EXPECT_NE(log.find("is a file; give a directory for comparison.json"), std::string::npos)
      << log;
  EXPECT_EQ(run_tenor(compare + trained_run().string(), &log), 2) << log;
  EXPECT_NE(log.find("tenor eval never writes into a run"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(trained_run() / "comparison.json"));
}

TEST(E2eEval, RefusesADamagedCheckpoint) {
  const fs::path run = make_temp_dir("eval-damaged") / "run";
  fs::copy(trained_run(), run);
  // Most of the linear model's best.pt is its 4 MB n-gram table: the middle is weight data.
  std::fstream f(run / "best.pt", std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(0, std::ios::end);
  const auto middle = f.tellg() / 2;
  std::string bytes(64, '\0');
  f.seekg(middle);
  f.read(bytes.data(), 64);
  for (char& c : bytes) c = char(~c);
  f.seekp(middle);
  f.write(bytes.data(), 64);
  f.close();
  std::string log;
  EXPECT_EQ(run_tenor("eval --run " + run.string() + " --data " + tiny_store().string() +
                          " --out " + make_temp_dir("eval-damaged-out").string(),
                      &log),
            1);
  const std::string refusal = "checkpoint " + (run / "best.pt").string() + " is damaged";
  EXPECT_NE(log.find(refusal), std::string::npos) << log;
  EXPECT_EQ(run_tenor("predict --run " + run.string() + " --features " + tiny_store().string() +
                          " --call c14",
                      &log),
            1);
  EXPECT_NE(log.find(refusal), std::string::npos) << log;
}

TEST(E2eEval, ASecondEvaluationIntoTheSameReportDirectoryIsRefusedWithTheHoldersPid) {
  const fs::path out = make_temp_dir("eval-locked");
  FileLock held(out / ".lock", "the report directory " + out.string());
  std::string log;
  EXPECT_EQ(run_tenor("eval --run " + trained_run().string() + " --data " +
                          tiny_store().string() + " --out " + out.string(),
                      &log),
            1);
  EXPECT_NE(log.find("is in use by another tenor process (pid " + std::to_string(::getpid())),
            std::string::npos)
      << log;
  EXPECT_FALSE(fs::exists(out / "report.json"));
  EXPECT_FALSE(fs::exists(out / "report.html"));
}

/// report.json's per-task results (everything but where the report was made from).
nlohmann::json task_results(const fs::path& report_dir) {
  auto j = nlohmann::json::parse(std::ifstream(report_dir / "report.json"));
  return j["tasks"];
}

TEST(E2eEval, ClassesAreMatchedByNameNotPosition) {
  const fs::path dir = make_temp_dir("eval-classes");
  const fs::path run = dir / "run";
  fs::copy(trained_run(), run);
  // The same dataset listing escalation's classes in reverse order: labels follow by name.
  std::vector<std::string> classes =
      features::read_store(tiny_store()).task_classes.at("escalation");
  const std::vector<std::string> original = classes;
  std::reverse(classes.begin(), classes.end());
  const fs::path reversed = tiny_store_with_classes(dir / "reversed.h5", "escalation", classes);
  std::string log;
  for (const auto& [store, out] :
       {std::pair(tiny_store(), dir / "a"), std::pair(reversed, dir / "b")})
    ASSERT_EQ(run_tenor("eval --run " + run.string() + " --data " + store.string() + " --out " +
                            out.string() + " --bootstrap 50",
                        &log),
              0)
        << log;
  EXPECT_NE(log.find("matched by name"), std::string::npos) << log;
  EXPECT_EQ(task_results(dir / "a"), task_results(dir / "b"));
  std::string by_original, by_reversed;
  ASSERT_EQ(run_tenor("predict --run " + run.string() + " --features " + tiny_store().string() +
                          " --call c14",
                      &by_original),
            0)
      << by_original;
  ASSERT_EQ(run_tenor("predict --run " + run.string() + " --features " + reversed.string() +
                          " --call c14 --out " + (dir / "p.json").string(),
                      &log),
            0)
      << log;
  EXPECT_EQ(nlohmann::json::parse(by_original)["segments"],
            nlohmann::json::parse(std::ifstream(dir / "p.json"))["segments"]);

  // Another class name: refused, naming the task and both lists.
  std::vector<std::string> renamed = original;
  renamed[0] = "relaxed";
  const fs::path other = tiny_store_with_classes(dir / "renamed.h5", "escalation", renamed);
  EXPECT_EQ(run_tenor("eval --run " + run.string() + " --data " + other.string() + " --out " +
                          (dir / "c").string(),
                      &log),
            1);
  auto listed = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& c : v) out += (out.empty() ? "" : ", ") + c;
    return "[" + out + "]";
  };
  EXPECT_NE(log.find("task 'escalation' has classes " + listed(renamed) + ", but run " +
                     run.string() + " was trained on " + listed(original)),
            std::string::npos)
      << log;

  // A run from before class names were recorded still evaluates on its store, by position.
  auto shape = nlohmann::json::parse(std::ifstream(run / "shape.json"));
  for (auto& t : shape["tasks"]) {
    ASSERT_TRUE(t.contains("classes")) << t;
    t.erase("classes");
  }
  std::ofstream(run / "shape.json") << shape.dump(2);
  // Such runs predate the run format record (format 0) and input_transform.json.
  fs::remove(run / "run.json");
  write_normalizer_instead_of_transform(run);
  ASSERT_EQ(run_tenor("eval --run " + run.string() + " --data " + tiny_store().string() +
                          " --out " + (dir / "d").string() + " --bootstrap 50",
                      &log),
            0)
      << log;
  EXPECT_NE(log.find("records no class names"), std::string::npos) << log;
  EXPECT_EQ(task_results(dir / "a"), task_results(dir / "d"));
}

TEST(E2eEval, RefusesAStoreThatDoesNotMatchTheRun) {
  // A store built from other transcripts has another tokenizer.
  DatasetFixture fx("eval-other");
  fx.calls[0]["segments"][0]["text"] = "completely different words here";
  fx.write();
  fs::path store = make_temp_dir("eval-other-store") / "f.h5";
  std::string log;
  ASSERT_EQ(
      run_tenor("data build " + fx.root.string() + " --no-progress --out " + store.string(), &log),
      0)
      << log;
  EXPECT_EQ(run_tenor("eval --run " + trained_run().string() + " --data " + store.string() +
                          " --out " + make_temp_dir("eval-refused").string(),
                      &log),
            1);
  EXPECT_NE(log.find("different SentencePiece model"), std::string::npos) << log;
  EXPECT_NE(log.find("--tokenizer"), std::string::npos) << log;

  // The fix the message names: the same dataset tokenized with the run's store's tokenizer
  // is scored by the text-reading run. A file that is not a tokenizer is refused by name,
  // and no store is written.
  const fs::path same = store.parent_path() / "same-tokenizer.h5";
  ASSERT_EQ(run_tenor("data build " + fx.root.string() + " --no-progress --out " + same.string() +
                          " --tokenizer " + tiny_store().string(),
                      &log),
            0)
      << log;
  EXPECT_EQ(run_tenor("eval --run " + trained_run().string() + " --data " + same.string() +
                          " --out " + make_temp_dir("eval-same-tokenizer").string() +
                          " --bootstrap 50",
                      &log),
            0)
      << log;
  const fs::path garbage = store.parent_path() / "garbage.model";
  std::ofstream(garbage) << "not a model";
  const fs::path refused = store.parent_path() / "refused.h5";
  EXPECT_EQ(run_tenor("data build " + fx.root.string() + " --no-progress --out " +
                          refused.string() + " --tokenizer " + garbage.string(),
                      &log),
            1);
  EXPECT_NE(log.find(garbage.string() + " is not a SentencePiece model"), std::string::npos)
      << log;
  EXPECT_FALSE(fs::exists(refused));

  // A run that reads no text scores it: the tokens never reach the model. The report says
  // which rules scored it, and the run is not written into.
  const fs::path dir = make_temp_dir("eval-prosody-run");
  ASSERT_EQ(run_tenor("train --config " +
                          write_train_config(dir, "  type: fusion\n  use_text: false\n").string(),
                      &log),
            0)
      << log;
  const auto before = fs::last_write_time(dir / "run/calibration.json");
  const fs::path out = make_temp_dir("eval-prosody-out");
  ASSERT_EQ(run_tenor("eval --run " + (dir / "run").string() + " --data " + store.string() +
                          " --out " + out.string() + " --bootstrap 50",
                      &log),
            0)
      << log;
  const auto report = nlohmann::json::parse(std::ifstream(out / "report.json"));
  EXPECT_EQ(report["calibration"], "run");
  EXPECT_EQ(fs::last_write_time(dir / "run/calibration.json"), before);
}

}  // namespace
}  // namespace tenor::test
