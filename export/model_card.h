#pragma once
// The bundle's model_card.md: intended use, tasks and the modalities of each speaker role
// (compliance), data, held-out metrics with call-bootstrap intervals, the decision rules,
// export parity and limitations. Its metrics are the EvalReport `tenor eval` computes for
// the same run and store (the same code, the same rules).

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/decision.h"
#include "eval/evaluate.h"
#include "train/predict.h"

namespace tenor::onnx_export {

/// The compliance statement of every bundle (also its ONNX metadata `tenor.compliance`).
extern const char* const kCompliance;

/// What the model card states.
struct ModelCardFacts {
  const train::RunInfo& run;
  const train::TrainData& data;      ///< the store the evaluation and parity ran on
  const eval::DecisionRules& rules;  ///< the run's decision rules
  const eval::EvalReport* report;    ///< the held-out evaluation; null when there was none
  std::string eval_split;            ///< "test", or "dev" when the store has no test split
  const nlohmann::json& parity;      ///< the parity report
  std::string created;               ///< UTC time of the export (the manifest's created_utc)
};

std::string model_card(const ModelCardFacts& facts);

}  // namespace tenor::onnx_export
