// Export end to end: train tiny fusion (with context) and linear runs and the model of
// configs/demo.yaml on a generated store, export them through the parity gate, verify the bundle,
// refuse tampered bundles, and compare `tenor predict --run` with `tenor predict --bundle`
// (tolerance 1e-4, same decisions), from the store and from the call's WAV and transcript.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <functional>
#include <set>
#include <sstream>

#include <onnx/onnx_pb.h>

#include "core/atomic_file.h"
#include "core/fetch_cache.h"
#include "core/sha256.h"
#include "data/audio.h"
#include "tests/data/fixtures.h"
#include "tests/train/run_fixtures.h"

namespace tenor::test {
namespace {
using nlohmann::json;

/// A trained tiny run of `type`, once per type.
fs::path trained_run(const std::string& type) {
  static std::map<std::string, fs::path> runs;
  if (runs.count(type)) return runs[type];
  fs::path dir = make_temp_dir("export-run-" + type);
  if (type == "demo") {  // the README demo's own config, on the tiny store, two epochs
    std::string out;
    EXPECT_EQ(run_tenor("train --config " TENOR_SOURCE_DIR "/configs/demo.yaml --set features=" +
                            tiny_store().string() + " --set out=" + (dir / "run").string() +
                            " --set epochs=2",
                        &out),
              0)
        << out;
    return runs[type] = dir / "run";
  }
  // "ensemble": three fusion models (model.members), each reading the context too.
  const bool ensemble = type == "ensemble";
  std::ofstream(dir / "config.yaml")
      << "features: " << tiny_store().string() << "\nout: " << (dir / "run").string()
      << "\nepochs: 2\nbatch_size: 8\nmodel:\n  type: " << (ensemble ? "fusion" : type)
      << "\n  hidden: 16\n  conv_channels: 8\n  embedding_dim: 8\n"
         "  hash_buckets: 512\n"
      // The tiny fusion model reads the previous segment's first 6 tokens as context.
      << (type == "fusion" || ensemble ? "  context_tokens: 6\n" : "")
      << (ensemble ? "  members: 3\n" : "");
  std::string out;
  EXPECT_EQ(run_tenor("train --config " + (dir / "config.yaml").string(), &out), 0) << out;
  return runs[type] = dir / "run";
}

json read_json(const fs::path& p) { return json::parse(read_file(p)); }

/// Every file of a directory tree with its size and modification time: what changes when
/// anything is written into it.
std::map<std::string, std::pair<uintmax_t, fs::file_time_type>> listing(const fs::path& dir) {
  std::map<std::string, std::pair<uintmax_t, fs::file_time_type>> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file())
      out[fs::relative(e.path(), dir).string()] = {e.file_size(), e.last_write_time()};
  return out;
}

/// The transcript of tiny_dataset()'s call `call_id` as `tenor predict --transcript` takes it.
void write_transcript(const std::string& call_id, const fs::path& file) {
  std::ifstream calls(tiny_dataset() / "calls.jsonl");
  std::ofstream t(file);
  for (std::string line; std::getline(calls, line);) {
    auto call = json::parse(line);
    if (call["call_id"] != call_id) continue;
    for (const auto& seg : call["segments"])
      t << json{{"start", seg["start"]},
                {"end", seg["end"]},
                {"speaker", seg["speaker"]},
                {"text", seg["text"]}}
               .dump()
        << "\n";
  }
}

class ExportE2e : public ::testing::TestWithParam<std::string> {};

TEST_P(ExportE2e, ExportsPassesTheGateVerifiesAndPredictsLikeLibTorch) {
  const fs::path run = trained_run(GetParam());
  const fs::path bundle = make_temp_dir("export-bundle") / "bundle";
  std::string out;
  ASSERT_EQ(run_tenor("export --run " + run.string() + " --out " + bundle.string(), &out), 0)
      << out;
  for (const char* f : {"model.onnx", "manifest.json", "model_card.md", "config.yaml",
                        "labels.json", "calibration.json", "features.json", "tokenizer.model",
                        "input_transform.json", "parity.json", "parity/cases.json"})
    EXPECT_TRUE(fs::exists(bundle / f)) << f;
  auto parity = read_json(bundle / "parity.json");
  EXPECT_TRUE(parity["passed"].get<bool>()) << parity.dump(1);
  EXPECT_LE(parity["max_abs_delta"].get<double>(), 1e-4);

  // The model card reports `tenor eval`'s metrics for the same run and store to the last
  // digit (one EvalSet builder, the run's one set of decision rules), and tenor eval writes
  // nothing into the run.
  {
    const fs::path report = make_temp_dir("export-eval") / "report";
    const auto listed = listing(run);
    ASSERT_EQ(run_tenor("eval --run " + run.string() + " --data " + tiny_store().string() +
                            " --split test --out " + report.string(),
                        &out),
              0)
        << out;
    EXPECT_EQ(listing(run), listed) << "tenor eval changed the run directory";
    auto evaluation = read_json(bundle / "evaluation.json");
    auto eval_report = read_json(report / "report.json");
    ASSERT_FALSE(evaluation["tasks"].empty());
    // The same evaluation, but a bundle ships without the worst errors (test transcripts).
    for (auto& t : evaluation["tasks"]) EXPECT_TRUE(t.at("worst_errors").is_null());
    for (auto& t : eval_report["tasks"]) EXPECT_TRUE(t.at("worst_errors").is_object());
    for (auto* j : {&evaluation, &eval_report})
      for (auto& t : (*j)["tasks"]) t.erase("worst_errors");
    EXPECT_EQ(evaluation["tasks"], eval_report["tasks"]);
    const std::string card = read_file(bundle / "model_card.md");
    for (const auto& t : eval_report["tasks"]) {
      char row[96];
      std::snprintf(row, sizeof row, "| %s | %d | %.3f [",
                    t["name"].get<std::string>().c_str(), t["n_labelled"].get<int>(),
                    t["metrics"]["macro_f1"]["value"].get<double>());
      EXPECT_NE(card.find(row), std::string::npos) << row << "\n" << card;
    }
  }
  std::set<std::string> cases;
  for (const auto& c : parity["cases"]) cases.insert(c["name"]);
  for (const char* c :
       {"dev-000", "batch-1", "longest", "length-1", "no-prosody", "no-functionals", "no-text"})
    EXPECT_TRUE(cases.count(c)) << c;

  // Manifest: every file with its SHA-256; metadata_props carry the key facts.
  auto manifest = read_json(bundle / "manifest.json");
  EXPECT_EQ(manifest["files"]["model.onnx"], sha256_file(bundle / "model.onnx"));
  for (const char* k : {"tool_version", "git_commit", "created_utc"})
    EXPECT_TRUE(manifest.contains(k)) << k;
  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(read_file(bundle / "model.onnx")));
  std::map<std::string, std::string> props;
  for (const auto& p : proto.metadata_props()) props[p.key()] = p.value();
  for (const char* k : {"tenor.version", "tenor.feature_set_version", "tenor.tasks",
                        "tenor.calibration", "tenor.compliance", "tenor.config"})
    EXPECT_TRUE(props.count(k)) << k;
  // A context model takes the previous segment's tokens as two more inputs.
  std::set<std::string> inputs;
  for (const auto& i : proto.graph().input()) inputs.insert(i.name());
  const bool ensemble = GetParam() == "ensemble";
  const bool context = GetParam() == "fusion" || ensemble;
  EXPECT_EQ(inputs.count("ctx_tokens") + inputs.count("ctx_len"), context ? 2u : 0u);
  // An ensemble's graph holds every member's weights under its path and says how many.
  EXPECT_EQ(props["tenor.model_members"], ensemble ? "3" : "1");
  std::set<std::string> initializers;
  for (const auto& i : proto.graph().initializer()) initializers.insert(i.name());
  EXPECT_EQ(initializers.count("member2.prosody.conv.weight"), ensemble ? 1u : 0u);
  EXPECT_EQ(initializers.count("gate.weight"), ensemble || GetParam() == "linear" ? 0u : 1u);
  EXPECT_EQ(read_json(bundle / "features.json")["context_tokens"], context ? 6 : 0);
  for (const auto& t : json::parse(props["tenor.tasks"])) {
    if (t["speaker"] == "agent") {
      EXPECT_EQ(t["modalities"], json::array({"text"})) << t;
    }
  }
  const std::string card = read_file(bundle / "model_card.md");
  EXPECT_EQ(card.find("the segment before each one in its call") != std::string::npos, context);
  EXPECT_EQ(card.find("It is an ensemble of 3 fusion models") != std::string::npos, ensemble);
  for (const char* s : {"Intended use", "art. 5(1)(f)", "Per slice", "| value [95% CI] | note |",
                        "Calibration", "Limitations"})
    EXPECT_NE(card.find(s), std::string::npos) << s;

  EXPECT_EQ(run_tenor("export verify " + bundle.string(), &out), 0) << out;

  // predict: the ONNX Runtime path agrees with the LibTorch path.
  json ja;
  expect_bundle_predicts_as_run(run, bundle, "c12", &ja);
  ASSERT_FALSE(ja.is_null());

  // predict --run applies the decision rules `tenor train` saved in RUN/calibration.json for
  // best.pt (the bundle carries the same file). Rules for another checkpoint file, or none
  // (runs of earlier versions), are fitted on the run's own dev split for the command only:
  // the same scores, a warning, and nothing written into the run.
  {
    const fs::path rules = run / "calibration.json";
    const auto saved = read_json(rules);
    EXPECT_EQ(saved["checkpoint_sha256"], sha256_file(run / "best.pt"));
    EXPECT_EQ(read_json(bundle / "calibration.json")["tasks"], saved["tasks"]);
    auto predict_c12 = [&](std::string* log) {
      const fs::path out = make_temp_dir("predict-c12") / "c12.json";
      EXPECT_EQ(run_tenor("predict --run " + run.string() + " --features " + tiny_store().string() +
                              " --call c12 --out " + out.string(),
                          log),
                0)
          << *log;
      return fs::exists(out) ? read_json(out) : json();
    };
    std::string log;
    auto flattened = saved;
    for (auto& [task, c] : flattened["tasks"].items()) c["temperature"] = 1000.0;
    write_file_atomic(rules, flattened.dump());
    EXPECT_NE(predict_c12(&log), ja) << "the saved rules were not used";
    auto other = flattened;
    other["checkpoint_sha256"] = std::string(64, '0');
    write_file_atomic(rules, other.dump());
    EXPECT_EQ(predict_c12(&log), ja);
    EXPECT_NE(log.find("holds no decision rules for best.pt"), std::string::npos) << log;
    fs::remove(rules);
    const auto listed = listing(run);
    EXPECT_EQ(predict_c12(&log), ja);
    EXPECT_EQ(listing(run), listed) << "predict wrote into the run";
    write_file_atomic(rules, saved.dump(2) + "\n");
  }

  // predict from the call's audio and transcript, as an integrator has them: the features
  // are those `tenor data build` stored (same scores as from the store), and the ONNX Runtime
  // and LibTorch paths agree.
  const fs::path work = make_temp_dir("predict-wav");
  write_transcript("c12", work / "c12.jsonl");
  const std::string call_args = (tiny_dataset() / "audio/c12.wav").string() + " --transcript " +
                                (work / "c12.jsonl").string() + " --channels agent=0,customer=1";
  std::string c, d;
  ASSERT_EQ(run_tenor("--log-level error predict --run " + run.string() + " " + call_args, &c), 0)
      << c;
  ASSERT_EQ(run_tenor("--log-level error predict --bundle " + bundle.string() + " " + call_args +
                          " --out " + (work / "bundle.json").string(),
                      &d),
            0)
      << d;
  auto jc = json::parse(c), jd = json::parse(read_file(work / "bundle.json"));
  EXPECT_EQ(jc["call_id"], "c12");
  ASSERT_EQ(jc["segments"].size(), ja["segments"].size());
  ASSERT_EQ(jd["segments"].size(), ja["segments"].size());
  for (size_t i = 0; i < ja["segments"].size(); ++i) {
    ASSERT_EQ(jc["segments"][i]["tasks"].size(), 1u) << "one task per role";
    for (auto& [task, v] : ja["segments"][i]["tasks"].items()) {
      const auto& from_wav = jc["segments"][i]["tasks"][task];
      const auto& from_wav_onnx = jd["segments"][i]["tasks"][task];
      EXPECT_EQ(v["decision"], from_wav["decision"]) << task;
      EXPECT_EQ(from_wav["decision"], from_wav_onnx["decision"]) << task;
      for (size_t k = 0; k < v["probs"].size(); ++k) {
        EXPECT_NEAR(v["probs"][k].get<double>(), from_wav["probs"][k].get<double>(), 1e-6);
        EXPECT_NEAR(from_wav["probs"][k].get<double>(), from_wav_onnx["probs"][k].get<double>(),
                    1e-4);
      }
    }
  }

  // Audio only, scored in windows: the stereo call is mapped as the training calls were
  // (agent 0, customer 1), two windows per role (it was mixed into two windows of customer);
  // a bad transcript line is named with its file and line.
  ASSERT_EQ(run_tenor("--log-level error predict --bundle " + bundle.string() + " " +
                          (tiny_dataset() / "audio/c12.wav").string() + " --window 2",
                      &d),
            0)
      << d;
  const json windows = json::parse(d)["segments"];
  ASSERT_EQ(windows.size(), 4u) << d;
  std::map<std::string, int> per_role;
  for (const auto& w : windows) ++per_role[w["speaker"].get<std::string>()];
  EXPECT_EQ(per_role, (std::map<std::string, int>{{"agent", 2}, {"customer", 2}})) << d;
  std::ofstream(work / "bad.jsonl") << "{\"start\": 1, \"end\": 0.5, \"speaker\": \"agent\"}\n";
  EXPECT_EQ(run_tenor("predict --bundle " + bundle.string() + " --transcript " +
                          (work / "bad.jsonl").string(),
                      &d),
            1)
      << d;
  EXPECT_NE(d.find((work / "bad.jsonl").string() + ":1:"), std::string::npos) << d;
}

INSTANTIATE_TEST_SUITE_P(Models, ExportE2e,
                         ::testing::Values("fusion", "linear", "demo", "ensemble"));

// Runs and bundles whose model read sentence embeddings (model.text_embedding, removed on
// 2026-12-06) are refused before anything is scored or written, naming the file and the fix.
TEST(ExportE2eBundle, ModelsOfSentenceEmbeddingsAreRefusedWithTheFix) {
  const fs::path bundle = exported_bundle("  type: fusion\n"), run = bundle.parent_path() / "run";
  const fs::path dir = make_temp_dir("export-sentence");
  fs::copy(bundle, dir / "bundle", fs::copy_options::recursive);
  json transform = read_json(dir / "bundle/input_transform.json");
  ASSERT_FALSE(transform.contains("text_embedding_dim"));
  transform["text_embedding_dim"] = 512;
  transform["text_encoder"] = "universal-sentence-encoder-lite";
  write_file_atomic(dir / "bundle/input_transform.json", transform.dump());
  json manifest = read_json(dir / "bundle/manifest.json");  // as such a bundle listed it
  ASSERT_TRUE(manifest["files"].contains("input_transform.json"));
  manifest["files"]["input_transform.json"] = sha256_file(dir / "bundle/input_transform.json");
  write_file_atomic(dir / "bundle/manifest.json", manifest.dump(2));
  std::string out;
  // `tenor predict` of bundle `b` exits 1 and writes nothing; its log in `out`.
  const auto refused = [&](const fs::path& b) {
    EXPECT_EQ(run_tenor("predict --bundle " + b.string() + " --features " +
                            tiny_store().string() + " --call c12 --out " +
                            (dir / "p.json").string(),
                        &out),
              1);
    EXPECT_FALSE(fs::exists(dir / "p.json"));
  };
  refused(dir / "bundle");
  EXPECT_NE(out.find((dir / "bundle/input_transform.json").string() +
                     " feeds the model sentence embeddings of 'universal-sentence-encoder-lite'"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("configs/text-transformer.yaml"), std::string::npos) << out;

  // A bundle from before input_transform.json, whose features.json said so.
  fs::copy(bundle, dir / "older", fs::copy_options::recursive);
  fs::remove(dir / "older/input_transform.json");
  json facts = read_json(dir / "older/features.json");
  facts["text_embedding_dim"] = 512;
  write_file_atomic(dir / "older/features.json", facts.dump(2));
  manifest = read_json(dir / "older/manifest.json");
  manifest["files"].erase("input_transform.json");
  manifest["files"]["features.json"] = sha256_file(dir / "older/features.json");
  write_file_atomic(dir / "older/manifest.json", manifest.dump(2));
  refused(dir / "older");
  EXPECT_NE(out.find((dir / "older/features.json").string() +
                     " feeds the model sentence embeddings (model.text_embedding): sentence "
                     "embeddings from a side tool"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("train the model again with model.text_encoder"), std::string::npos) << out;

  // A run of format 5 that read them: refused by every reader, its files left as they are.
  fs::copy(run, dir / "run", fs::copy_options::recursive);
  json marker = read_json(dir / "run/run.json"), shape = read_json(dir / "run/shape.json");
  marker["format_version"] = 5;
  shape["text_embedding_dim"] = 512;
  shape["text_encoder"] = "universal-sentence-encoder-lite";
  write_file_atomic(dir / "run/run.json", marker.dump());
  write_file_atomic(dir / "run/shape.json", shape.dump());
  for (const std::string& command :
       {"eval --run " + (dir / "run").string() + " --data " + tiny_store().string() + " --out " +
            (dir / "e").string(),
        "export --run " + (dir / "run").string() + " --out " + (dir / "b").string(),
        "predict --run " + (dir / "run").string() + " --features " + tiny_store().string() +
            " --call c12"}) {
    EXPECT_EQ(run_tenor(command, &out), 1) << command;
    EXPECT_NE(out.find("run " + (dir / "run").string() + " reads sentence embeddings of "
                       "'universal-sentence-encoder-lite' (model.text_embedding"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("--config configs/text-transformer.yaml"), std::string::npos) << out;
  }
  EXPECT_FALSE(fs::exists(dir / "e") || fs::exists(dir / "b"));
  EXPECT_EQ(read_json(dir / "run/shape.json"), shape);
}

/// The segments' probabilities of `a` and `b` (predict outputs of one call) within `tol`.
void expect_same_probs(const json& a, const json& b, double tol, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i]["tasks"].size(), b[i]["tasks"].size()) << what;
    for (auto& [task, v] : a[i]["tasks"].items()) {
      EXPECT_EQ(v["decision"], b[i]["tasks"][task]["decision"]) << what << " " << i << task;
      for (size_t k = 0; k < v["probs"].size(); ++k)
        EXPECT_NEAR(v["probs"][k].get<double>(), b[i]["tasks"][task]["probs"][k].get<double>(),
                    tol)
            << what << " segment " << i << " " << task;
    }
  }
}

TEST(ExportE2eBundle, SpeakerNormalisedRunPassesTheGateAndPredictsAsTheStore) {
  const fs::path dir = make_temp_dir("export-speaker");
  std::string out;
  // With loudness normalisation too: its level columns override the speaker centring.
  ASSERT_EQ(run_tenor("train --config " +
                          write_train_config(dir, "  type: fusion\n  hash_buckets: 512\n")
                              .string() +
                          " --set speaker_normalization=call --set normalize_loudness=true"
                          " --set epochs=2",
                      &out),
            0)
      << out;
  const fs::path run = dir / "run", bundle = dir / "bundle";
  EXPECT_EQ(read_json(run / "input_transform.json")["speaker_normalization"], "call");
  ASSERT_EQ(run_tenor("export --run " + run.string() + " --out " + bundle.string(), &out), 0)
      << out;
  auto parity = read_json(bundle / "parity.json");
  EXPECT_TRUE(parity["passed"].get<bool>()) << parity.dump(1);
  EXPECT_LE(parity["max_abs_delta"].get<double>(), 1e-4);
  EXPECT_EQ(read_json(bundle / "features.json")["speaker_normalization"], "call");
  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(read_file(bundle / "model.onnx")));
  std::set<std::string> inputs;
  for (const auto& i : proto.graph().input()) inputs.insert(i.name());
  for (const char* name : {"speaker_lld_mean", "speaker_func_mean", "speaker_func_count"})
    EXPECT_TRUE(inputs.count(name)) << name;
  ASSERT_EQ(run_tenor("export verify " + bundle.string(), &out), 0) << out;

  // One call scored from the store (the statistics over the store's rows of the call, as
  // tenor eval reads them) and from its WAV and transcript (over the extracted call), by
  // LibTorch and ONNX Runtime, one call at a time and in a batch: the same scores.
  auto predict = [&](const std::string& args) {
    std::string text;
    EXPECT_EQ(run_tenor("--log-level error predict " + args, &text), 0) << text;
    return json::parse(text)["segments"];
  };
  write_transcript("c12", dir / "c12.jsonl");
  const std::string from_store = " --features " + tiny_store().string() + " --call c12";
  const std::string from_wav = " " + (tiny_dataset() / "audio/c12.wav").string() +
                               " --transcript " + (dir / "c12.jsonl").string() +
                               " --channels agent=0,customer=1";
  const json stored = predict("--run " + run.string() + from_store);
  ASSERT_EQ(stored.size(), 4u);
  expect_same_probs(stored, predict("--run " + run.string() + from_wav), 1e-6, "run, WAV");
  expect_same_probs(stored, predict("--bundle " + bundle.string() + from_store), 1e-4,
                    "bundle, store");
  expect_same_probs(stored, predict("--bundle " + bundle.string() + from_wav), 1e-4,
                    "bundle, WAV");
  ASSERT_EQ(run_tenor("--log-level error predict --run " + run.string() + " --dataset " +
                          tiny_dataset().string() + " --out " + (dir / "all.jsonl").string() +
                          " --no-progress",
                      &out),
            0)
      << out;
  json batch = json::array();
  std::ifstream lines(dir / "all.jsonl");
  for (std::string line; std::getline(lines, line);)
    if (auto j = json::parse(line); j["call_id"] == "c12") batch.push_back(j);
  expect_same_probs(stored, batch, 1e-6, "run, --dataset batch");
}

// A store built with `--speech-encoder` (the CLI's known name, found in the fetch cache): the
// run names the modality, the bundle carries the encoder and scores a call's WAV with no fetch
// cache as the run scores the store; a changed copy of the encoder is refused by verify and
// by predict, naming the file.
TEST(ExportE2eBundle, ASpeechEncoderRunCarriesItsEncoderAndPredictsWithoutTheFetchCache) {
  const fs::path dir = make_temp_dir("export-speech");
  const fs::path store = dir / "speech.h5";
  std::string out;
  EXPECT_EQ(run_tenor("data build " + tiny_dataset().string() + " --out " + store.string() +
                          " --speech-encoder whisper-tiny --no-progress",
                      &out),
            2);  // a configuration error
  EXPECT_NE(out.find("did you mean 'whisper-tiny-en'?"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(store));
  // A window without an encoder, and a window of another name.
  EXPECT_EQ(run_tenor("data build " + tiny_dataset().string() + " --out " + store.string() +
                          " --speech-window clip --no-progress",
                      &out),
            2);
  EXPECT_NE(out.find("--speech-window requires --speech-encoder"), std::string::npos) << out;
  EXPECT_EQ(run_tenor("data build " + tiny_dataset().string() + " --out " + store.string() +
                          " --speech-encoder whisper-tiny-en --speech-window wide --no-progress",
                      &out),
            2);
  EXPECT_NE(out.find("wide"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(store));
  ASSERT_EQ(run_tenor("data build " + tiny_dataset().string() + " --out " + store.string() +
                          " --speech-encoder whisper-tiny-en --no-progress",
                      &out),
            0)
      << out;
  std::ofstream(dir / "config.yaml")
      << "features: " << store.string() << "\nout: " << (dir / "run").string()
      << "\nepochs: 2\nbatch_size: 8\nmodel:\n  type: fusion\n  hidden: 16\n"
         "  conv_channels: 8\n  embedding_dim: 8\n  hash_buckets: 512\n";
  // A config that requires the states refuses the store without them and takes this one, its
  // weights named by their directory (the store names them whisper-tiny-en).
  EXPECT_EQ(run_tenor("train --config " + (dir / "config.yaml").string() +
                          " --set speech_encoder=whisper-tiny-en --set features=" +
                          tiny_store().string(),
                      &out),
            2);
  EXPECT_NE(out.find("--speech-encoder whisper-tiny-en`"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir / "run"));
  const fs::path cache = fetch_cache_dir() / "speech-encoders/whisper-tiny-en";
  ASSERT_EQ(run_tenor("train --config " + (dir / "config.yaml").string() +
                          " --set speech_encoder=" + cache.string(),
                      &out),
            0)
      << out;
  const fs::path run = dir / "run", bundle = dir / "bundle";
  // The states trained on are recorded in the run (checked below without its store).
  const json speech_states = read_json(run / "result.json")["speech_encoder"];
  EXPECT_EQ(speech_states["name"], "whisper-tiny-en");
  EXPECT_EQ(speech_states["window"], "padded");
  EXPECT_EQ(speech_states["sha256"], sha256_file(cache / "model.bin"));
  // The customer's task reads the states; the agent's stays text only (no agent_prosody).
  for (const auto& t : read_json(run / "result.json")["tasks"]) {
    const auto m = t["modalities"].get<std::vector<std::string>>();
    const bool speech = std::find(m.begin(), m.end(), "speech_encoder") != m.end();
    EXPECT_EQ(speech, t["speaker"] == "customer") << t.dump();
  }
  ASSERT_EQ(run_tenor("export --run " + run.string() + " --out " + bundle.string(), &out), 0)
      << out;
  EXPECT_TRUE(read_json(bundle / "parity.json")["passed"].get<bool>());
  const fs::path cached = cache / "model.bin";
  EXPECT_EQ(sha256_file(bundle / "speech-encoder/model.bin"), sha256_file(cached));
  EXPECT_EQ(read_json(bundle / "manifest.json")["files"]["speech-encoder/model.bin"],
            sha256_file(cached));
  ASSERT_EQ(run_tenor("export verify " + bundle.string(), &out), 0) << out;

  // The bundle scores the call's audio on a machine without the fetch cache.
  write_transcript("c12", dir / "c12.jsonl");
  const fs::path empty = make_temp_dir("export-speech-no-cache");
  auto predict = [&](const std::string& args, int expected, std::string* text) {
    EXPECT_EQ(run_command("XDG_CACHE_HOME=" + empty.string() + " " TENOR_BINARY
                          " --log-level error predict " + args,
                          text),
              expected)
        << *text;
  };
  std::string stored, from_wav;
  ASSERT_EQ(run_tenor("--log-level error predict --run " + run.string() + " --features " +
                          store.string() + " --call c12",
                      &stored),
            0)
      << stored;
  const std::string wav = " " + (tiny_dataset() / "audio/c12.wav").string() + " --transcript " +
                          (dir / "c12.jsonl").string() + " --channels agent=0,customer=1";
  predict("--bundle " + bundle.string() + wav, 0, &from_wav);
  expect_same_probs(json::parse(stored)["segments"], json::parse(from_wav)["segments"], 1e-4,
                    "bundle from WAV without the fetch cache, run from the store");
  EXPECT_TRUE(fs::is_empty(empty)) << "nothing fetched";

  // A store without the states: the run and the bundle name the encoder to build it with; a
  // store of the same encoder's states in another window is refused, not silently scored.
  const fs::path clip = dir / "clip.h5";
  ASSERT_EQ(run_tenor("data build " + tiny_dataset().string() + " --out " + clip.string() +
                          " --speech-encoder whisper-tiny-en --speech-window clip --no-progress",
                      &out),
            0)
      << out;
  fs::rename(store, dir / "moved.h5");  // the run's own record decides, not its store's
  for (const std::string& model : {"--run " + run.string(), "--bundle " + bundle.string()}) {
    predict(model + " --features " + tiny_store().string() + " --call c12", 1, &out);
    EXPECT_NE(out.find("reads the states of the speech encoder whisper-tiny-en, speech_*: build "
                       "this store with them, `tenor data build " +
                           tiny_dataset().string() +
                           " --out STORE --speech-encoder whisper-tiny-en`"),
              std::string::npos)
        << out;
    predict(model + " --features " + clip.string() + " --call c12", 1, &out);
    EXPECT_NE(out.find("holds the states of the speech encoder whisper-tiny-en"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("window clip), but"), std::string::npos) << out;
    EXPECT_NE(out.find("window padded); build the store with the model's"), std::string::npos)
        << out;
  }
  EXPECT_EQ(run_tenor("eval --run " + run.string() + " --data " + clip.string() + " --out " +
                          (dir / "eval-clip").string(),
                      &out),
            1)
      << out;
  EXPECT_NE(out.find("window clip), but"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir / "eval-clip"));
  // A run of a tenor before result.json recorded the states: its store's record decides.
  fs::rename(dir / "moved.h5", store);
  json result = read_json(run / "result.json");
  result.erase("speech_encoder");
  write_file_atomic(run / "result.json", result.dump(2));
  predict("--run " + run.string() + " --features " + clip.string() + " --call c12", 1, &out);
  EXPECT_NE(out.find("window padded); build the store with the model's"), std::string::npos)
      << out;

  // A changed copy of the encoder.
  fs::copy(bundle, dir / "changed", fs::copy_options::recursive);
  std::string bytes = read_file(dir / "changed/speech-encoder/model.bin");
  bytes[bytes.size() - 100] ^= 0x01;
  write_file_atomic(dir / "changed/speech-encoder/model.bin", bytes);
  EXPECT_EQ(run_tenor("export verify " + (dir / "changed").string(), &out), 1) << out;
  EXPECT_NE(out.find("speech-encoder/model.bin"), std::string::npos) << out;
  EXPECT_NE(out.find("changed after export"), std::string::npos) << out;
  predict("--bundle " + (dir / "changed").string() + wav, 1, &out);
  EXPECT_NE(out.find("speech-encoder/model.bin"), std::string::npos) << out;
}

TEST(ExportE2eBundle, PredictMatchesAStoresClassesByName) {
  const fs::path run = trained_run("linear");
  const fs::path dir = make_temp_dir("export-classes");
  std::string out;
  ASSERT_EQ(run_tenor("export --run " + run.string() + " --out " + (dir / "b").string(), &out), 0)
      << out;
  // The store of the same dataset listing empathy's classes the other way round.
  const fs::path swapped =
      tiny_store_with_classes(dir / "swapped.h5", "empathy", {"present", "absent"});
  ASSERT_EQ(run_tenor("predict --bundle " + (dir / "b").string() + " --features " +
                          tiny_store().string() + " --call c14 --out " + (dir / "a.json").string(),
                      &out),
            0)
      << out;
  ASSERT_EQ(run_tenor("predict --bundle " + (dir / "b").string() + " --features " +
                          swapped.string() + " --call c14 --out " + (dir / "s.json").string(),
                      &out),
            0)
      << out;
  EXPECT_EQ(read_json(dir / "a.json")["segments"], read_json(dir / "s.json")["segments"]);
  EXPECT_EQ(run_tenor("predict --bundle " + (dir / "b").string() + " --features " +
                          tiny_store_with_classes(dir / "renamed.h5", "empathy", {"no", "yes"})
                              .string() +
                          " --call c14",
                      &out),
            1);
  EXPECT_NE(out.find("task 'empathy' has classes [no, yes], but bundle"), std::string::npos)
      << out;
}

TEST(ExportE2eBundle, TamperedBundlesFailVerify) {
  const fs::path run = trained_run("linear");
  const fs::path dir = make_temp_dir("export-tamper");
  std::string out;
  ASSERT_EQ(run_tenor("export --run " + run.string() + " --out " + (dir / "good").string(), &out),
            0)
      << out;
  // A changed file is caught by its checksum.
  fs::copy(dir / "good", dir / "edited", fs::copy_options::recursive);
  std::ofstream(dir / "edited/calibration.json", std::ios::app) << " ";
  EXPECT_EQ(run_tenor("export verify " + (dir / "edited").string(), &out), 1) << out;
  EXPECT_NE(out.find("calibration.json"), std::string::npos) << out;
  EXPECT_NE(out.find("changed after export"), std::string::npos) << out;
  // An added file too.
  fs::copy(dir / "good", dir / "added", fs::copy_options::recursive);
  std::ofstream(dir / "added/extra.txt") << "x";
  EXPECT_EQ(run_tenor("export verify " + (dir / "added").string(), &out), 1) << out;
  EXPECT_NE(out.find("extra.txt"), std::string::npos) << out;
  // Changed reference outputs with a re-forged manifest: the parity re-check catches it.
  fs::copy(dir / "good", dir / "forged", fs::copy_options::recursive);
  auto cases = read_json(dir / "forged/parity/cases.json");
  const std::string file = cases["cases"][0]["expected"].begin().value()["file"];
  std::string bytes = read_file(dir / "forged/parity" / file);
  float v;
  std::memcpy(&v, bytes.data(), 4);
  v += 0.01f;
  std::memcpy(bytes.data(), &v, 4);
  write_file_atomic(dir / "forged/parity" / file, bytes);
  auto manifest = read_json(dir / "forged/manifest.json");
  manifest["files"]["parity/" + file] = sha256_file(dir / "forged/parity" / file);
  write_file_atomic(dir / "forged/manifest.json", manifest.dump(2));
  EXPECT_EQ(run_tenor("export verify " + (dir / "forged").string(), &out), 1) << out;
  EXPECT_NE(out.find("parity FAILED"), std::string::npos) << out;
}

// --force replaces only a bundle of tenor export: never the run being exported, a path inside
// or around it, a directory that is not a bundle, or a bundle holding a file of the user's; the
// replacement is whole (verify passes) and leaves nothing beside it.
TEST(ExportE2eBundle, ForceReplacesOnlyABundleNeverTheRunOrAForeignDirectory) {
  const fs::path dir = make_temp_dir("export-force");
  const fs::path run = dir / "runs/linear";  // a copy: a regression must not delete the shared run
  fs::create_directories(run.parent_path());
  fs::copy(trained_run("linear"), run, fs::copy_options::recursive);
  auto run_is_whole = [&] {
    for (const char* f : {"best.pt", "last.pt", "metrics.jsonl", "config.yaml"})
      EXPECT_TRUE(fs::exists(run / f)) << f;
  };
  const std::string export_run = "export --run " + run.string() + " --out ";
  std::string out;
  for (const fs::path& bad : {run, run / "bundle", run.parent_path(), dir}) {
    EXPECT_EQ(run_tenor(export_run + bad.string() + " --force", &out), 2) << bad << out;
    EXPECT_NE(out.find("the run being exported"), std::string::npos) << out;
    run_is_whole();
  }
  EXPECT_FALSE(fs::exists(run / "bundle"));

  // A directory that is not a bundle, and a bundle holding a file the manifest does not list.
  fs::create_directories(dir / "notes");
  std::ofstream(dir / "notes/own.txt") << "mine";
  EXPECT_EQ(run_tenor(export_run + (dir / "notes").string() + " --force", &out), 2) << out;
  EXPECT_NE(out.find("no manifest.json"), std::string::npos) << out;
  EXPECT_EQ(read_file(dir / "notes/own.txt"), "mine");
  const fs::path bundle = dir / "bundle";
  ASSERT_EQ(run_tenor(export_run + bundle.string(), &out), 0) << out;
  EXPECT_EQ(run_tenor(export_run + bundle.string(), &out), 2) << out;  // exists, no --force
  EXPECT_NE(out.find("--force"), std::string::npos) << out;
  std::ofstream(bundle / "readme.txt") << "mine";
  EXPECT_EQ(run_tenor(export_run + bundle.string() + " --force", &out), 2) << out;
  EXPECT_NE(out.find("readme.txt"), std::string::npos) << out;
  EXPECT_EQ(read_file(bundle / "readme.txt"), "mine");

  // Not from inside it: the shell would be left in the removed bundle, which looks empty.
  fs::remove(bundle / "readme.txt");
  const fs::path before = fs::current_path();
  fs::current_path(bundle);
  const int inside = run_tenor(export_run + ". --force", &out);
  fs::current_path(before);
  EXPECT_EQ(inside, 2) << out;
  EXPECT_NE(out.find("holds the current directory"), std::string::npos) << out;

  // A bundle is replaced whole, and nothing is left beside it.
  ASSERT_EQ(run_tenor(export_run + bundle.string() + " --force", &out), 0) << out;
  EXPECT_EQ(run_tenor("export verify " + bundle.string(), &out), 0) << out;
  std::set<std::string> beside;
  for (const auto& e : fs::directory_iterator(dir)) beside.insert(e.path().filename().string());
  EXPECT_EQ(beside, (std::set<std::string>{"bundle", "notes", "runs"}));
  run_is_whole();
}

// Audio no score of which could mean anything is refused, the same way by both backends and
// before either runs (it crashed ONNX Runtime with signal 11 and LibTorch's path with
// vector::_M_range_check): exit 1, one sentence naming the file, the value and the fix.
TEST(ExportE2eBundle, PredictRefusesAudioItCannotScoreOnBothBackends) {
  const fs::path run = trained_run("linear");
  const fs::path dir = make_temp_dir("predict-bad-audio");
  std::string out;
  ASSERT_EQ(run_tenor("export --run " + run.string() + " --out " + (dir / "bundle").string(), &out),
            0)
      << out;
  data::write_audio(dir / "empty.wav", {}, 1, 16000);
  data::write_audio(dir / "short.wav", std::vector<float>(100, 0.1f), 1, 16000);
  write_tone(dir / "one-second.wav", 1.0, 16000, 1);
  write_tone(dir / "truncated.wav", 2.0, 16000, 1);
  fs::resize_file(dir / "truncated.wav", fs::file_size(dir / "truncated.wav") / 2);
  std::vector<float> nan_from_half(16000, 0.1f);
  for (size_t i = 8000; i < 8100; ++i) nan_from_half[i] = std::nanf("");
  write_float_wav(dir / "nan.wav", nan_from_half, 1, 16000);
  std::ofstream(dir / "past.jsonl")
      << R"({"start": 0.5, "end": 5.0, "speaker": "customer", "text": "hello"})" << "\n";
  const std::vector<std::pair<std::string, std::string>> calls = {
      {"empty.wav", "empty.wav holds no samples"},
      {"short.wav", "short.wav holds 100 samples per channel (0.00625 s), shorter than one "
                    "analysis frame"},
      {"truncated.wav", "truncated.wav is truncated: its header promises 2 s"},
      {"nan.wav", "nan.wav: channel 0 sample 8000 (at 0.5 s) is NaN, and 99 more samples are "
                  "not finite numbers; a decoding or conversion error wrote them"},
      {"one-second.wav --transcript " + (dir / "past.jsonl").string(),
       "past.jsonl:1: error: segment ends at 5 s, past the audio's 1 s"}};
  write_tone(dir / "silent.wav", 2.0, 16000, 1, 0.0);
  for (const std::string& backend :
       {"--run " + run.string(), "--bundle " + (dir / "bundle").string()}) {
    // Digital silence is scored, with the warning that the scores describe no voice.
    EXPECT_EQ(run_tenor("predict " + backend + " " + (dir / "silent.wav").string(), &out), 0)
        << out;
    EXPECT_NE(out.find("silent.wav is all silence (RMS below -80 dBFS on every channel)"),
              std::string::npos)
        << out;
    for (const auto& [call, message] : calls) {
      EXPECT_EQ(run_tenor("predict " + backend + " " + (dir / call).string(), &out), 1)
          << call << out;
      EXPECT_NE(out.find(message), std::string::npos) << backend << " " << call << ": " << out;
      EXPECT_EQ(out.find("internal error"), std::string::npos) << out;
      EXPECT_EQ(out.find("ONNX Runtime"), std::string::npos) << out;
    }
  }
}

/// A copy of `bundle` at `to`, changed by `edit`, with every checksum of manifest.json
/// recomputed as a careless (or hostile) editor would.
fs::path forged(const fs::path& bundle, const fs::path& to, const std::function<void()>& edit) {
  fs::copy(bundle, to, fs::copy_options::recursive);
  edit();
  auto manifest = read_json(to / "manifest.json");
  manifest["files"] = json::object();
  for (const auto& e : fs::recursive_directory_iterator(to)) {
    const std::string name = fs::relative(e.path(), to).generic_string();
    if (e.is_regular_file() && name != "manifest.json")
      manifest["files"][name] = sha256_file(e.path());
  }
  write_file_atomic(to / "manifest.json", manifest.dump(2));
  return to;
}

// verify proves something only when it has something to compare: fixtures emptied or cut, or
// another model.onnx (another run's, or with a renamed input), fail even with every checksum
// recomputed; the intact bundle passes.
TEST(ExportE2eBundle, VerifyFailsWithoutTheFixturesItWroteOrWithAnotherModel) {
  const fs::path dir = make_temp_dir("export-verify-forged");
  std::string out;
  const fs::path good = dir / "good", other = dir / "other";
  ASSERT_EQ(run_tenor("export --run " + trained_run("linear").string() + " --out " + good.string(),
                      &out),
            0)
      << out;
  ASSERT_EQ(run_tenor("export --run " + trained_run("fusion").string() + " --out " +
                          other.string(),
                      &out),
            0)
      << out;
  EXPECT_EQ(run_tenor("export verify " + good.string(), &out), 0) << out;
  const auto manifest = read_json(good / "manifest.json");
  EXPECT_GT(manifest.value("/parity_fixtures/rows"_json_pointer, 0), 0);

  auto verify_fails = [&](const fs::path& bundle, const std::string& message) {
    EXPECT_EQ(run_tenor("export verify " + bundle.string(), &out), 1) << bundle << out;
    EXPECT_NE(out.find(message), std::string::npos) << bundle << ": " << out;
  };
  const fs::path empty = dir / "empty";
  verify_fails(forged(good, empty,
                      [&] {
                        fs::remove_all(empty / "parity");
                        fs::create_directories(empty / "parity");
                        write_file_atomic(empty / "parity/cases.json", R"({"cases": []})");
                      }),
               "holds no parity fixture rows");
  const fs::path cut = dir / "cut";
  verify_fails(forged(good, cut,
                      [&] {
                        auto cases = read_json(cut / "parity/cases.json");
                        cases["cases"].erase(cases["cases"].begin());
                        write_file_atomic(cut / "parity/cases.json", cases.dump());
                      }),
               "lacks fixture case");
  const fs::path foreign = dir / "foreign";
  verify_fails(forged(good, foreign,
                      [&] { fs::copy_file(other / "model.onnx", foreign / "model.onnx",
                                          fs::copy_options::overwrite_existing); }),
               "not this bundle's model");
  const fs::path renamed = dir / "renamed";
  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(read_file(good / "model.onnx")));
  const std::string input = proto.graph().input(0).name();
  verify_fails(forged(good, renamed,
                      [&] {
                        proto.mutable_graph()->mutable_input(0)->set_name(input + "_x");
                        for (auto& node : *proto.mutable_graph()->mutable_node())
                          for (auto& in : *node.mutable_input())
                            if (in == input) in = input + "_x";
                        write_file_atomic(renamed / "model.onnx", proto.SerializeAsString());
                      }),
               "has no graph input '" + input + "'");
}

TEST(ExportE2eBundle, MissingOnnxRuntimeFailsLoudlyWithTheFix) {
  const fs::path run = trained_run("linear");
  std::string out;
  EXPECT_EQ(run_tenor("export --run " + run.string() + " --out " +
                          (make_temp_dir("export-noort") / "b").string(),
                      &out),
            0)
      << out;
  ::setenv("TENOR_ORT_DIR", "/nonexistent/ort", 1);
  int rc = run_tenor(
      "export --run " + run.string() + " --out " + (make_temp_dir("export-noort2") / "b").string(),
      &out);
  ::unsetenv("TENOR_ORT_DIR");
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("npm --prefix tools/ort install --ignore-scripts"), std::string::npos) << out;
}

// `--quantize int8` quantises the pretrained text encoder: a run without one is refused before
// any work, naming the run and the fix (exit 2), and nothing is written.
TEST(ExportE2eBundle, Int8WithoutATextEncoderIsRefused) {
  const fs::path run = trained_run("linear");
  const fs::path out_dir = make_temp_dir("export-int8-none") / "b";
  std::string out;
  EXPECT_EQ(run_tenor("export --run " + run.string() + " --out " + out_dir.string() +
                          " --quantize int8",
                      &out),
            2)
      << out;
  EXPECT_NE(out.find("has none; export it without --quantize"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(out_dir));
}

}  // namespace
}  // namespace tenor::test

namespace tenor::test {
namespace {

// A run from before `model.ngrams` existed (its resolved config lacks the key, and it has no
// run.json: format 0) was trained without the n-gram path, and still loads for predict.
TEST(ExportE2eBundle, RunsFromBeforeTheNgramKeyStillLoad) {
  const fs::path dir = make_temp_dir("old-run");
  std::string out;
  ASSERT_EQ(run_tenor("train --config " + write_train_config(dir, "  ngrams: false\n").string() +
                          " --set epochs=1",
                      &out),
            0)
      << out;
  const fs::path config = dir / "run/config.yaml";
  std::string yaml = read_file(config), kept;
  std::istringstream lines(yaml);
  for (std::string line; std::getline(lines, line);)
    if (line.find("ngrams:") == std::string::npos) kept += line + "\n";
  ASSERT_NE(kept, yaml);
  write_file_atomic(config, kept);
  // Such runs predate the run format record (format 0) and input_transform.json.
  fs::remove(dir / "run/run.json");
  write_normalizer_instead_of_transform(dir / "run");
  EXPECT_EQ(run_tenor("--log-level error predict --run " + (dir / "run").string() + " --features " +
                          tiny_store().string() + " --call c12",
                      &out),
            0)
      << out;
  EXPECT_NE(out.find("\"call_id\": \"c12\""), std::string::npos) << out;
}

}  // namespace
}  // namespace tenor::test
