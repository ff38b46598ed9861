// `tenor data review DIR --out REVIEW`: labels flipped on purpose in a small dataset must come
// out at the top of the suspects; review.json, oof.jsonl and review.html (checked in headless
// Chromium when it is installed).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/sha256.h"
#include "tests/data/fixtures.h"

namespace tenor::test {
namespace {

using nlohmann::json;

constexpr int kCalls = 60;
/// Calls whose label is flipped: c03, c17 (escalated -> calm), c28, c42 (the other way).
const std::set<std::string> kFlipped = {"c03", "c17", "c28", "c42"};

std::string call_name(int i) { return (i < 10 ? "c0" : "c") + std::to_string(i); }

/// 60 one-segment calls (1.5 s tones, so the page has audio) whose transcripts say the label
/// plainly, 30 speakers of two calls; the labels of kFlipped are flipped.
const fs::path& flipped_dataset() {
  static fs::path root = [] {
    const fs::path dir = make_temp_dir("review-data");
    write_text(dir / "dataset.yaml",
               "name: review-fixture\nversion: 1\nlabels:\n  escalation:\n    type: binary\n"
               "    classes: [calm, escalated]\n    speaker: customer\n");
    const std::vector<std::string> angry = {"this is outrageous", "I am furious",
                                            "completely unacceptable", "worst service ever",
                                            "I want a refund now", "you people are useless"};
    const std::vector<std::string> calm = {"thank you so much", "that is very helpful",
                                           "lovely have a nice day", "great that works for me",
                                           "I appreciate your help", "perfect thanks again"};
    std::ofstream out(dir / "calls.jsonl");
    for (int i = 0; i < kCalls; ++i) {
      const std::string id = call_name(i);
      const int label = i % 2;
      const auto& words = label ? angry : calm;
      // A distinct pair of phrases per call (30 of each class): no two calls share a
      // transcript, which would make them duplicates with contradictory labels.
      const int pair = i / 2, first = pair % 6, second = (first + 1 + pair / 6) % 6;
      const std::string text = words[size_t(first)] + " " + words[size_t(second)];
      write_tone(dir / "audio" / (id + ".wav"), 1.5, 16000, 1);
      json call = {{"call_id", id},
                   {"audio", "audio/" + id + ".wav"},
                   {"meta", {{"speaker_id", "s" + std::to_string(i / 2)}}},
                   {"segments",
                    {{{"start", 0.0},
                      {"end", 1.5},
                      {"speaker", "customer"},
                      {"text", text},
                      {"labels", {{"escalation", kFlipped.count(id) ? 1 - label : label}}},
                      // ann-1 gave the labels; ann-2 disagrees on every tenth call.
                      {"labels_by",
                       {{"ann-1", {{"escalation", kFlipped.count(id) ? 1 - label : label}}},
                        {"ann-2", {{"escalation", i % 10 == 0 ? 1 - label : label}}}}}}}}};
      out << call.dump() << "\n";
    }
    return dir;
  }();
  return root;
}

json read_json(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

std::map<std::string, std::string> file_hashes(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out[fs::relative(e.path(), dir).string()] = sha256_file(e.path());
  return out;
}

/// One review of flipped_dataset(), shared by the tests that read it.
const fs::path& reviewed() {
  static fs::path out = [] {
    const fs::path dir = make_temp_dir("review-out") / "review";
    std::string log;
    EXPECT_EQ(run_tenor("data review " + flipped_dataset().string() + " --folds 3 --out " +
                            dir.string(),
                        &log),
              0)
        << log;
    return dir;
  }();
  return out;
}

// The flipped labels have the lowest out-of-fold self-confidence p(given) of all, and they are
// the first suspects (confident learning may flag a few more after them: pruning by noise rate
// takes as many as the calibrated joint estimates).
TEST(Review, FindsTheFlippedLabelsFirst) {
  const auto before = file_hashes(flipped_dataset());
  const json review = read_json(reviewed() / "review.json");
  EXPECT_EQ(file_hashes(flipped_dataset()), before);  // the dataset is never written
  std::vector<std::pair<double, std::string>> self;
  std::ifstream oof(reviewed() / "oof.jsonl");
  for (std::string line; std::getline(oof, line);) {
    const json j = json::parse(line);
    self.emplace_back(j["probs"][j["label"].get<int>()].get<double>(), j["call_id"]);
  }
  std::sort(self.begin(), self.end());
  ASSERT_EQ(self.size(), size_t(kCalls));
  std::set<std::string> lowest;
  for (size_t i = 0; i < kFlipped.size(); ++i) lowest.insert(self[i].second);
  EXPECT_EQ(lowest, kFlipped);

  const auto& suspects = review["suspects"];
  ASSERT_GE(suspects.size(), kFlipped.size()) << review.dump(2);
  std::set<std::string> top;
  for (size_t i = 0; i < suspects.size(); ++i) {
    const auto& s = suspects[i];
    if (i < kFlipped.size()) {
      top.insert(s["call_id"].get<std::string>());
      EXPECT_GT(s["score"].get<double>(), 0.5) << s.dump();
    }
    EXPECT_EQ(s["rank"], i + 1);
    EXPECT_EQ(s["segment"], 0);
    EXPECT_EQ(s["task"], "escalation");
    EXPECT_NE(s["given"], s["suggested"]);
    EXPECT_NEAR(s["score"].get<double>() + s["self_confidence"].get<double>(), 1.0, 1e-9);
    if (i > 0) {
      EXPECT_LE(s["score"].get<double>(), suspects[i - 1]["score"].get<double>());
    }
  }
  EXPECT_EQ(top, kFlipped) << suspects.dump(2);
  const auto& task = review["tasks"]["escalation"];
  EXPECT_EQ(task["labelled"], kCalls);
  EXPECT_EQ(task["confident_joint"].size(), 2u);
  EXPECT_EQ(task["suspects"], suspects.size());
  EXPECT_EQ(review["segments"], kCalls);
  // Against the adjudicated `labels`: ann-1 always, ann-2 not on c00, c10, ... nor on the
  // four flipped labels it did not flip.
  const auto& annotators = review["annotators"]["escalation"];
  ASSERT_EQ(annotators.size(), 2u) << review["annotators"].dump();
  EXPECT_EQ(annotators[0]["annotator"], "ann-1");
  EXPECT_EQ(annotators[0]["agreed"], kCalls);
  EXPECT_EQ(annotators[1]["agreed"], kCalls - 6 - int(kFlipped.size()));
  EXPECT_EQ(annotators[1]["confusion"].size(), 2u);
}

TEST(Review, WritesTheOutOfFoldProbabilitiesAndAPageWithPlayers) {
  std::ifstream oof(reviewed() / "oof.jsonl");
  std::string line;
  int lines = 0;
  while (std::getline(oof, line)) {
    const json j = json::parse(line);
    ASSERT_EQ(j["probs"].size(), 2u);
    EXPECT_NEAR(j["probs"][0].get<double>() + j["probs"][1].get<double>(), 1.0, 1e-5);
    ++lines;
  }
  EXPECT_EQ(lines, kCalls);
  std::ifstream in(reviewed() / "review.html");
  const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t rows = read_json(reviewed() / "review.json")["suspects"].size();
  size_t players = 0;
  for (size_t p = html.find("src=\"data:audio/wav;base64,"); p != std::string::npos;
       p = html.find("src=\"data:audio/wav;base64,", p + 1))
    ++players;
  EXPECT_EQ(players, rows);
  for (const auto& s : read_json(reviewed() / "review.json")["suspects"])
    EXPECT_NE(html.find(">" + s["call_id"].get<std::string>() + " #0<"), std::string::npos);
  for (const auto& e : fs::directory_iterator(reviewed()))  // no work directory left
    EXPECT_NE(e.path().filename().string().rfind(".review-work-", 0), 0u) << e.path();
}

/// The page's filter and sort run in a real browser: the fragment filters to one call and
/// sorts by confidence; the script marks the body with what it applied.
TEST(Review, PageSortsAndFiltersInHeadlessChromium) {
  const char* browsers[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser",
                            "/usr/bin/google-chrome"};
  std::string browser;
  for (const char* b : browsers)
    if (fs::exists(b)) browser = b;
  if (browser.empty()) GTEST_SKIP() << "no Chromium installed";
  const fs::path dump = make_temp_dir("review-dom") / "dom.html";
  const json suspects = read_json(reviewed() / "review.json")["suspects"];
  ASSERT_FALSE(suspects.empty());
  const std::string url = "file://" + fs::absolute(reviewed() / "review.html").string() +
                          "#q=" + suspects[0]["call_id"].get<std::string>() +
                          "&sort=confidence&dir=desc";
  const std::string cmd = browser + " --headless --no-sandbox --disable-gpu --no-first-run " +
                          "--user-data-dir=" + (dump.parent_path() / "profile").string() +
                          " --virtual-time-budget=3000 --dump-dom '" + url + "' > " +
                          dump.string() + " 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream in(dump);
  const std::string dom((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(dom.find("data-ready=\"confidence:desc:1\""), std::string::npos) << dom.substr(0, 2000);
  EXPECT_NE(dom.find("1 of "), std::string::npos);
}

// A copy of a call across train and test is an error for `data validate` (and `tenor eval`),
// but the review ignores the splits and keeps copies in one fold: it reviews such a set.
TEST(Review, ReviewsASetWhoseCopiesCrossSplits) {
  const fs::path dir = make_temp_dir("review-leak") / "data";
  fs::create_directories(dir);
  fs::copy(flipped_dataset(), dir, fs::copy_options::recursive);
  std::ifstream in(flipped_dataset() / "calls.jsonl");
  std::ofstream out(dir / "calls.jsonl", std::ios::trunc);
  for (std::string line; std::getline(in, line);) {
    json call = json::parse(line);
    call["split"] = "train";
    if (call["call_id"] != "c05") {
      out << call.dump() << "\n";
      continue;
    }
    // Long enough (10 words) to be compared by text.
    call["segments"][0]["text"] = "I have waited on the phone for an hour and this is outrageous";
    out << call.dump() << "\n";
    call["call_id"] = "c05-export2", call["split"] = "test", call["meta"]["speaker_id"] = "s-copy";
    out << call.dump() << "\n";
  }
  out.close();
  std::string log;
  EXPECT_EQ(run_tenor("data validate --no-audio " + dir.string(), &log), 1) << log;
  const fs::path review = make_temp_dir("review-leak-out") / "r";
  EXPECT_EQ(run_tenor("data review " + dir.string() + " --folds 3 --no-audio --out " +
                          review.string(),
                      &log),
            0)
      << log;
  EXPECT_TRUE(fs::exists(review / "review.json")) << log;
}

TEST(Review, RefusesAnOutputInsideTheDatasetAndTooManyFolds) {
  std::string out;
  // "DIR/", as a shell's completion writes it, is still DIR.
  EXPECT_EQ(run_tenor("data review " + flipped_dataset().string() + "/ --out " +
                          (flipped_dataset() / "review").string(),
                      &out),
            2)
      << out;
  EXPECT_NE(out.find("inside the input dataset"), std::string::npos) << out;
  const fs::path dir = make_temp_dir("review-folds") / "r";
  EXPECT_EQ(run_tenor("data review " + flipped_dataset().string() + " --folds 31 --out " +
                          dir.string(),
                      &out),
            1)
      << out;
  EXPECT_NE(out.find("fewer than the 31 folds"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir));  // nothing half-written
}

// The built-in model has no config keys: --set alone would be ignored silently.
// A --config whose model reads a speech encoder's states (configs/ravdess-anger.yaml): the
// review's store is built with them, in the config's window, so the fold models train.
TEST(Review, BuildsTheSpeechEncoderStatesAConfigReads) {
  const fs::path dir = make_temp_dir("review-speech") / "review";
  std::string log;
  ASSERT_EQ(run_tenor("data review " + flipped_dataset().string() + " --folds 3 --out " +
                          dir.string() + " --config " TENOR_SOURCE_DIR
                          "/configs/demo-linear.yaml --set speech_encoder=whisper-tiny-en"
                          " --set speech_window=clip --set device=cpu --set threads=1",
                      &log),
            0)
      << log;
  size_t rows = 0;
  std::ifstream oof(dir / "oof.jsonl");
  for (std::string line; std::getline(oof, line);) ++rows;
  EXPECT_EQ(rows, size_t(kCalls));
}

TEST(Review, RefusesSetWithoutAConfig) {
  std::string out;
  const fs::path dir = make_temp_dir("review-set") / "r";
  EXPECT_EQ(run_tenor("data review " + flipped_dataset().string() + " --set epochs=3 --out " +
                          dir.string(),
                      &out),
            2)
      << out;
  EXPECT_NE(out.find("--config configs/demo-linear.yaml"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir));
}

// review.json names the built-in model and the penalty inner cross-validation chose per fold.
TEST(Review, RecordsTheBuiltInModelsPenalties) {
  const json review = read_json(reviewed() / "review.json");
  EXPECT_EQ(review["model"]["type"], "logistic") << review["model"].dump();
  const auto& penalties = review["tasks"]["escalation"]["penalties"];
  ASSERT_EQ(penalties.size(), 3u) << review["tasks"].dump();
  for (const auto& p : penalties) EXPECT_GT(p.get<double>(), 0.0);
}

}  // namespace
}  // namespace tenor::test
