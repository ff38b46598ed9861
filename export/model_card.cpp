#include "export/model_card.h"

#include <cmath>
#include <sstream>

#include "data/features/columns.h"
#include "core/text.h"
#include "core/torch_compat.h"
#include "core/version.h"
#include "export/parity.h"

namespace tenor::onnx_export {

const char* const kCompliance =
    "EU AI Act art. 5(1)(f) prohibits AI systems that infer the emotions of a natural person "
    "in the workplace, except for medical or safety reasons; a contact-centre agent is at work. "
    "Tasks on the agent role must therefore not use the agent's voice (prosody, functionals): "
    "by default tenor gives them text only. The modalities each task and speaker role uses are "
    "listed in tenor.tasks.";


namespace {

std::string fmt(double v, int digits = 3) {
  if (std::isnan(v)) return "n/a";
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(digits);
  s << v;
  return s.str();
}

/// Title, intended use, and the tasks with the modalities of each speaker role.
void intended_use(std::ostringstream& md, const ModelCardFacts& f) {
  const auto& info = f.run;
  const int members = info.config.model.members;
  md << "# Model card: tenor " << info.config.model.type << " model\n\n"
     << "Exported by tenor " << kVersion << " (" << kGitCommit << ") on " << f.created
     << " from run `" << info.dir.filename().string() << "`.";
  if (members > 1)
    md << " It is an ensemble of " << members
       << " fusion models trained together from their own random starts; its scores are the "
          "mean of their logits (`model.members`).";
  md << "\n\n"
     << "## Intended use\n\n"
     << "Scores segments of recorded customer-service calls for the tasks below, to help "
        "supervisors find calls that escalate and review agents' empathy in text. It supports "
        "human review; it is not meant to make decisions about people on its own, and it is "
        "not an evaluation of any employee.\n\n"
     << "## Tasks and modalities per speaker role (compliance)\n\n"
     << "| task | type | speaker role | classes | modalities |\n|---|---|---|---|---|\n";
  for (const auto& t : info.shape.tasks) {
    const std::string mods =
        join(train::modalities(t, features::speech_width(f.data.store) > 0), ", ");
    md << "| " << t.name << " | " << data::to_string(t.type) << " | " << t.speaker << " | "
       << join(f.data.store.task_classes.at(t.name), ", ") << " | " << (mods.empty() ? "none" : mods)
       << " |\n";
  }
  md << "\n" << kCompliance << "\n\n";
}

/// What else the text tasks read, and the agent-voice warning.
void inputs_and_warnings(std::ostringstream& md, const ModelCardFacts& f) {
  const auto& info = f.run;
  const auto& t = info.transform;  // what the model reads, as the graph does
  if (t.context_tokens > 0)
    md << "Text tasks also read the text (never the voice) of the segment before each one in its "
          "call, whoever spoke it: its first "
       << t.context_tokens << " tokens (`model.context_tokens`).\n\n";
  bool agent_voice = false;
  for (const auto& t : info.shape.tasks)
    agent_voice |= t.speaker == "agent" && (t.prosody || t.functionals);
  if (agent_voice)
    md << "**Warning:** this model was trained with `model.agent_prosody: true`: an agent-role "
          "task uses the agent's voice. Do not deploy it where the EU AI Act applies.\n\n";
}

void data_section(std::ostringstream& md, const ModelCardFacts& f) {
  const auto& meta = f.data.store.meta;
  const auto& shape = f.run.shape;
  md << "## Data\n\n"
     << "- Dataset: " << meta.dataset_name << " (fingerprint `"
     << meta.dataset_fingerprint.substr(0, 16) << "`)\n- Segments: " << f.data.train.size()
     << " train, " << f.data.dev.size() << " dev, " << f.data.test.size() << " test (labelled)\n"
     << "- Features: " << meta.feature_set_version << " LLDs (" << shape.lld_features
     << " columns), " << meta.functionals_version << " functionals ("
     << shape.functional_features << " columns), SentencePiece vocabulary " << shape.vocab_size
     << "\n";
  if (shape.transformer) {
    const auto& b = *shape.transformer;
    const int trainable = f.run.config.model.encoder_trainable_layers;
    const std::string how =
        trainable < 0    ? "fine-tuned on these data"
        : trainable == 0 ? "used frozen, as a fixed feature extractor"
                         : "with its top " + std::to_string(trainable) +
                               " blocks fine-tuned on these data";
    md << "- Text: a pretrained transformer " << how << " (" << f.run.config.model.text_encoder
       << ", " << b.model_type << ": " << b.num_layers << " layers, " << b.hidden_size
       << "-d, WordPiece vocabulary "
       << b.vocab_size << "; `tokenizer.json`), at most " << f.run.transform.max_tokens
       << " tokens per segment" << (f.run.transform.context_tokens > 0
                                        ? ", with the previous segment's first " +
                                              std::to_string(f.run.transform.context_tokens) +
                                              " as the second sentence"
                                        : std::string())
       << "\n";
  }
  md << "\n";
}

/// Per slice: macro-F1 with its interval, or for a single-class slice the recall of its class,
/// and eval::slice_note, the same phrase the HTML report prints.
void slices_table(std::ostringstream& md, const eval::EvalReport& report) {
  md << "\n### Per slice\n\n| task | slice | n | calls | metric | value [95% CI] | note |\n"
        "|---|---|---|---|---|---|---|\n";
  for (const auto& t : report.tasks)
    for (const auto& s : t.slices) {
      const bool one = s.single_class >= 0;
      const eval::Interval& ci = one ? s.class_recall_interval : s.interval;
      md << "| " << t.name << " | " << s.field << "=" << s.value << " | " << s.n_labelled << " | "
         << s.n_calls << " | "
         << (one ? "recall of " + t.classes[size_t(s.single_class)] : std::string("macro-F1"))
         << " | "
         << (s.empty ? "n/a"
                     : fmt(one ? s.class_recall : s.macro_f1) + " [" + fmt(ci.lo) + ", " +
                           fmt(ci.hi) + "]")
         << " | " << eval::slice_note(s, t.classes) << " |\n";
    }
  md << "\nA slice is flagged (below or above the overall interval) only when its own interval "
        "and the overall one do not overlap; slices of fewer than "
     << report.config.min_slice_calls
     << " calls are marked small and never flagged; a slice whose labels hold one class shows "
        "the recall of that class (its macro-F1 is fixed by construction). Check the flagged "
        "slices before release.\n\n";
}

void metrics_section(std::ostringstream& md, const ModelCardFacts& f) {
  md << "## Metrics (" << f.eval_split << " split, call-bootstrap 95% intervals)\n\n";
  if (!f.report) {
    md << "No labelled held-out split was available; no metrics are reported.\n\n";
    return;
  }
  const int f1 = int(eval::Metric::kMacroF1), acc = int(eval::Metric::kAccuracy);
  md << "| task | n | macro-F1 [95% CI] | accuracy [95% CI] |\n|---|---|---|---|\n";
  for (const auto& t : f.report->tasks) {
    const auto& b = t.bootstrap;
    md << "| " << t.name << " | " << t.n_labelled << " | " << fmt(b.point[f1]) << " ["
       << fmt(b.intervals[f1].lo) << ", " << fmt(b.intervals[f1].hi) << "] | "
       << fmt(b.point[acc]) << " [" << fmt(b.intervals[acc].lo) << ", "
       << fmt(b.intervals[acc].hi) << "] |\n";
  }
  slices_table(md, *f.report);
}

void calibration_section(std::ostringstream& md, const ModelCardFacts& f) {
  md << "## Calibration\n\n"
     << "Probabilities are calibrated by temperature scaling fitted on dev (Guo et al. 2017): "
        "p_cal = softmax(log(p) / T). Binary tasks decide class 1 when p_cal[1] >= threshold "
        "(the dev-F1-optimal threshold); other tasks take the arg max. The rules were fitted on "
        "the "
     << f.rules.fitted_on << " when training ended (calibration.json).\n\n"
     << "| task | temperature | threshold | fitted on | ECE raw | ECE calibrated |\n"
        "|---|---|---|---|---|---|\n";
  for (const auto& t : f.run.shape.tasks) {
    const eval::TaskRule* rule = f.rules.find(t.name);
    std::string ece_raw = "n/a", ece_cal = "n/a";
    if (f.report)
      for (const auto& r : f.report->tasks)
        if (r.name == t.name) {
          ece_raw = fmt(r.calibration.ece);
          if (r.calibration_scaled) ece_cal = fmt(r.calibration_scaled->ece);
        }
    md << "| " << t.name << " | " << fmt(rule->temperature, 4) << " | "
       << (t.type == data::TaskType::kBinary ? fmt(rule->threshold, 4) : "arg max") << " | "
       << (rule->temperature_fit ? "dev" : "default") << " | " << ece_raw << " | " << ece_cal
       << " |\n";
  }
}

void parity_and_limitations(std::ostringstream& md, const ModelCardFacts& f) {
  const auto& meta = f.data.store.meta;
  md << "\n## Export parity\n\n"
     << parity_summary(f.parity) << " (ONNX Runtime CPU vs LibTorch " << compat::torch_version()
     << "; report in parity.json).\n\n";
  if (f.parity.value("quantize", "none") == "int8")
    md << "**This bundle is int8** (`tenor export --quantize int8`): the pretrained text "
          "encoder's Linear layers are dynamically quantised int8 MatMuls, so its "
          "probabilities differ from the LibTorch model's (within the tolerance above) and a "
          "decision near its threshold may fall the other way (at least "
       << format_number(f.parity.value("min_agreement", 1.0) * 100)
       << "% of the gate's decisions per task were the same). The metrics above are "
          "those of the fp32 LibTorch model.\n\n";
  md << "## Limitations\n\n"
     << "- Trained on " << meta.dataset_name
     << " only: accents, languages, channels and "
        "call types not in it are untested; check the slices above for your population.\n"
     << "- Prosody features depend on the audio chain (codec, automatic gain control); "
        "features must come from the same extractor version ("
     << meta.feature_set_version << ") and configuration (features.json).\n"
     << "- Text features depend on the transcripts' ASR quality and on the bundled "
        "SentencePiece model (tokenizer.model).\n"
     << "- Scores are per segment; call-level decisions need an aggregation policy of your "
        "own.\n";
}

}  // namespace

std::string model_card(const ModelCardFacts& facts) {
  std::ostringstream md;
  intended_use(md, facts);
  inputs_and_warnings(md, facts);
  data_section(md, facts);
  metrics_section(md, facts);
  calibration_section(md, facts);
  parity_and_limitations(md, facts);
  return md.str();
}

}  // namespace tenor::onnx_export
