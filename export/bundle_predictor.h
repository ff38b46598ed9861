#pragma once
// The read side of a release bundle: its tasks, decision rules and store contract, and the
// bundle as a train::Predictor that scores store rows in ONNX Runtime (`tenor predict
// --bundle`).

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/decision.h"
#include "export/ort_runner.h"
#include "train/predictor.h"

namespace tenor::onnx_export {

/// Where a bundle keeps the speech encoder of a store built with one (its model.bin).
inline constexpr const char* kBundleSpeechEncoderDir = "speech-encoder";

/// The bundle's tasks (shape.json; class names from labels.json where shape.json predates
/// them).
std::vector<train::TaskSpec> read_tasks(const std::filesystem::path& bundle);

/// The bundle's decision rules (calibration.json), in the shape of eval::to_json; a bundle
/// exported before that shape is read too, its task types taken from read_tasks.
eval::DecisionRules read_rules(const std::filesystem::path& bundle);

/// What a bundle's model reads from a feature store (features.json, shape.json, labels.json),
/// for train::check_store_for_model.
train::StoreContract store_contract(const std::filesystem::path& bundle);

/// An exported bundle's model.onnx in ONNX Runtime, with the bundle's rules. The model is
/// loaded into the process's ONNX Runtime runner on the first call and stays loaded for the
/// predictor's life: later calls pay only the model run and the transfer of their inputs.
/// probabilities() may be called from several threads (the runner serves them in turn).
class BundlePredictor : public train::Predictor {
 public:
  explicit BundlePredictor(const std::filesystem::path& bundle);

  train::TaskProbabilities probabilities(const train::TrainData& data,
                                         const std::vector<int64_t>& rows) override;
  nlohmann::json extractor_config() override;
  std::string tokenizer_model() override;

 private:
  std::filesystem::path bundle_;
  nlohmann::json facts_;  ///< features.json
  std::shared_ptr<OrtSession> session_;
};

}  // namespace tenor::onnx_export
