#include "export/bundle_predictor.h"

#include "core/atomic_file.h"
#include "core/error.h"
#include "export/bundle_checks.h"
#include "export/onnx_layers.h"
#include "export/parity.h"

namespace tenor::onnx_export {
namespace fs = std::filesystem;
using nlohmann::json;

std::vector<train::TaskSpec> read_tasks(const fs::path& bundle) {
  const fs::path shape = bundle / "shape.json";
  auto tasks = train::shape_from_json(json::parse(read_file(shape)), shape.string()).tasks;
  const json labels = json::parse(read_file(bundle / "labels.json"));
  for (auto& t : tasks)
    for (const auto& l : labels.at("tasks"))
      if (t.classes.empty() && l.at("name") == t.name) l.at("classes").get_to(t.classes);
  return tasks;
}

eval::DecisionRules read_rules(const fs::path& bundle) {
  const fs::path file = bundle / "calibration.json";
  eval::DecisionRules rules = eval::rules_from_json(json::parse(read_file(file)), file.string());
  for (const auto& t : read_tasks(bundle)) {
    auto it = std::find_if(rules.tasks.begin(), rules.tasks.end(),
                           [&](const eval::TaskRule& r) { return r.task == t.name; });
    if (it == rules.tasks.end())
      throw DataError(file.string() + " has no rule for task '" + t.name +
                      "'; the bundle is damaged: export it again");
    it->type = t.type;  // bundles before the rules recorded it
  }
  return rules;
}

train::StoreContract store_contract(const fs::path& bundle) {
  const json facts = json::parse(read_file(bundle / "features.json"));
  train::StoreContract c;
  c.model = "bundle " + bundle.string();
  const fs::path shape = bundle / "shape.json";
  c.shape = train::shape_from_json(json::parse(read_file(shape)), shape.string());
  c.shape.tasks = read_tasks(bundle);
  c.tokenizer_sha256 = facts.at("tokenizer_sha256");
  c.feature_set_version = facts.at("feature_set_version");
  c.functionals_version = facts.at("functionals_version");
  c.speech = features::speech_record(facts.at("extractor_config"));
  return c;
}

BundlePredictor::BundlePredictor(const fs::path& bundle) : bundle_(bundle) {
  // A tampered or incomplete bundle is refused before it scores anything (what `tenor export
  // verify` checks first), and a file that passes its checksum but that this tenor cannot read
  // is named, never a JSON library's bare message.
  check_bundle_files(bundle);
  try {
    facts_ = json::parse(read_file(bundle / "features.json"));
    contract_ = store_contract(bundle);
    rules_ = read_rules(bundle);
    transform_ = bundle_input_transform(bundle);
  } catch (const json::exception& e) {
    throw DataError("bundle " + bundle.string() + " cannot be read by this tenor (" + e.what() +
                    "); export it again with this version, or score it with the tenor that "
                    "exported it");
  }
  session_ = std::make_shared<OrtSession>(bundle / "model.onnx");
}

train::TaskProbabilities BundlePredictor::probabilities(const train::TrainData& data,
                                                        const std::vector<int64_t>& rows) {
  OrtCase c;
  c.name = "call";
  c.inputs = raw_inputs(data.store, rows, transform_, &data.previous,
                        transform_.per_speaker() ? &data.speaker : nullptr);
  const OrtResult out = session_->run(c);
  train::TaskProbabilities probs;
  for (const auto& t : tasks()) {
    const HostTensor& p = out.outputs.at(prob_output_name(t.name));
    probs.emplace_back(p.f32(), p.f32() + rows.size() * size_t(t.num_classes));
  }
  return probs;
}

json BundlePredictor::extractor_config() {
  json config = facts_.at("extractor_config");
  // The bundle's own copy of the speech encoder (its SHA-256 is checked when it is loaded).
  std::error_code ec;
  if (config.is_object() && config.contains("speech_encoder") &&
      fs::is_regular_file(bundle_ / kBundleSpeechEncoderDir / "model.bin", ec))
    config["speech_encoder"]["name"] = (bundle_ / kBundleSpeechEncoderDir).string();
  return config;
}

std::string BundlePredictor::tokenizer_model() {
  std::error_code ec;
  return fs::exists(bundle_ / "tokenizer.model", ec) ? read_file(bundle_ / "tokenizer.model")
                                                     : "";
}

}  // namespace tenor::onnx_export
