#include "export/parity.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>
#include <stdexcept>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/text.h"
#include "export/onnx_layers.h"

namespace tenor::onnx_export {
using nlohmann::json;

namespace {

/// The decision for one row of float probabilities under `rule`.
int decision(const eval::TaskRule& rule, const float* probs, int64_t classes) {
  const std::vector<double> row(probs, probs + classes);
  return eval::decide(eval::calibrate(row, size_t(classes), rule), rule);
}

}  // namespace

namespace {

/// Frames, functionals with their mask, and tokens of `rows`, zero-padded (uncut).
TensorMap core_inputs(const features::Store& s, const std::vector<int64_t>& rows) {
  const int64_t b = int64_t(rows.size());
  const int64_t fl = int64_t(s.layout.lld_columns.size());
  const int64_t ff = int64_t(s.layout.functional_columns.size());
  int64_t max_t = 1, max_l = 1;
  for (int64_t r : rows) {
    max_t = std::max(max_t, s.frame_offsets[size_t(r) + 1] - s.frame_offsets[size_t(r)]);
    max_l = std::max(max_l, s.token_offsets[size_t(r) + 1] - s.token_offsets[size_t(r)]);
  }
  std::vector<float> frames(size_t(b * max_t * fl), 0.0f), func(size_t(b * ff), 0.0f),
      mask(size_t(b * ff), 0.0f);
  std::vector<int64_t> flen(static_cast<size_t>(b)), tokens(size_t(b * max_l), 0),
      tlen(static_cast<size_t>(b));
  for (int64_t i = 0; i < b; ++i) {
    const size_t r = size_t(rows[size_t(i)]);
    const int64_t t0 = s.frame_offsets[r], tn = s.frame_offsets[r + 1] - t0;
    flen[size_t(i)] = tn;
    std::copy_n(&s.frames[size_t(t0 * fl)], size_t(tn * fl), &frames[size_t(i * max_t * fl)]);
    for (int64_t c = 0; c < ff; ++c) {
      const bool on = s.functional_mask[r * size_t(ff) + size_t(c)] != 0;
      mask[size_t(i * ff + c)] = on ? 1.0f : 0.0f;
      func[size_t(i * ff + c)] = on ? s.functionals[r * size_t(ff) + size_t(c)] : 0.0f;
    }
    const int64_t k0 = s.token_offsets[r], kn = s.token_offsets[r + 1] - k0;
    tlen[size_t(i)] = kn;
    for (int64_t k = 0; k < kn; ++k) tokens[size_t(i * max_l + k)] = s.tokens[size_t(k0 + k)];
  }
  const InputNames in;
  return {{in.frames, HostTensor::from_f32({b, max_t, fl}, frames)},
          {in.frame_len, HostTensor::from_i64({b}, flen)},
          {in.functionals, HostTensor::from_f32({b, ff}, func)},
          {in.func_mask, HostTensor::from_f32({b, ff}, mask)},
          {in.tokens, HostTensor::from_i64({b, max_l}, tokens)},
          {in.token_len, HostTensor::from_i64({b}, tlen)}};
}

/// Each row's previous segment's tokens (uncut) and their count, into `out`.
void add_context_inputs(const features::Store& s, const std::vector<int64_t>& rows,
                        const std::vector<int64_t>* previous_rows, TensorMap& out) {
  if (previous_rows && previous_rows->size() != s.segments.size())
    throw std::logic_error("raw_inputs: the previous-segment map is not that of this store");
  std::vector<int64_t> computed;
  const std::vector<int64_t>& previous =
      previous_rows ? *previous_rows : (computed = features::previous_segments(s));
  auto span = [&](int64_t r) -> std::pair<int64_t, int64_t> {
    const int64_t p = previous[size_t(r)];
    if (p < 0) return {0, 0};
    return {s.token_offsets[size_t(p)],
            s.token_offsets[size_t(p) + 1] - s.token_offsets[size_t(p)]};
  };
  const int64_t b = int64_t(rows.size());
  int64_t max_c = 1;
  for (int64_t r : rows) max_c = std::max(max_c, span(r).second);
  std::vector<int64_t> ctx(size_t(b * max_c), 0), clen(static_cast<size_t>(b));
  for (int64_t i = 0; i < b; ++i) {
    const auto [k0, kn] = span(rows[size_t(i)]);
    clen[size_t(i)] = kn;
    for (int64_t k = 0; k < kn; ++k) ctx[size_t(i * max_c + k)] = s.tokens[size_t(k0 + k)];
  }
  const InputNames in;
  out[in.ctx_tokens] = HostTensor::from_i64({b, max_c}, ctx);
  out[in.ctx_len] = HostTensor::from_i64({b}, clen);
}

/// Each row's speaker statistics in its call (speaker_lld_mean, speaker_func_mean,
/// speaker_func_count), from `given` or computed from the store.
void add_speaker_inputs(const features::Store& s, const std::vector<int64_t>& rows,
                        const train::SpeakerStatistics* given, TensorMap& out) {
  if (given && given->rows != int64_t(s.segments.size()))
    throw std::logic_error("raw_inputs: the speaker statistics are not those of this store");
  train::SpeakerStatistics computed;
  const train::SpeakerStatistics& st = given ? *given : (computed = train::speaker_statistics(s));
  const int64_t b = int64_t(rows.size());
  const int64_t fl = int64_t(s.layout.lld_columns.size());
  const int64_t ff = int64_t(s.layout.functional_columns.size());
  auto gather = [&](const std::vector<float>& per_row, int64_t width) {
    std::vector<float> v(size_t(b * width));
    for (int64_t i = 0; i < b; ++i)
      std::copy_n(&per_row[size_t(rows[size_t(i)] * width)], width, &v[size_t(i * width)]);
    return HostTensor::from_f32({b, width}, v);
  };
  const InputNames in;
  out[in.speaker_lld_mean] = gather(st.lld_mean, fl);
  out[in.speaker_func_mean] = gather(st.func_mean, ff);
  out[in.speaker_func_count] = gather(st.func_count, ff);
}

}  // namespace

TensorMap raw_inputs(const features::Store& s, const std::vector<int64_t>& rows,
                     const train::InputTransform& transform,
                     const std::vector<int64_t>* previous_rows,
                     const train::SpeakerStatistics* speaker) {
  TensorMap out = core_inputs(s, rows);
  if (transform.per_speaker()) add_speaker_inputs(s, rows, speaker, out);
  if (transform.reads_context_tokens()) add_context_inputs(s, rows, previous_rows, out);
  if (!transform.wordpiece_sha256.empty()) {
    std::vector<int64_t> computed;
    const std::vector<int64_t>& previous =
        previous_rows ? *previous_rows : (computed = features::previous_segments(s));
    const train::TranscriptIds t = train::transcript_ids(transform, s, previous, rows);
    const InputNames in;
    out[in.text_ids] = HostTensor::from_i64({t.rows, t.width}, t.ids);
    out[in.text_type_ids] = HostTensor::from_i64({t.rows, t.width}, t.type_ids);
    out[in.text_mask] = HostTensor::from_i64({t.rows, t.width}, t.mask);
  }
  return out;
}

train::InputTransform bundle_input_transform(const std::filesystem::path& bundle) {
  const auto file = bundle / "input_transform.json";
  std::error_code ec;
  const bool own = std::filesystem::exists(file, ec);
  const auto source = own ? file : bundle / "features.json";
  const json j = json::parse(read_file(source), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    throw DataError("bundle " + bundle.string() + " has a damaged " +
                    source.filename().string() +
                    " (not a JSON object); export the run again, or restore the bundle");
  if (own) {
    train::InputTransform t = train::InputTransform::from_json(j, file.string());
    train::attach_wordpiece(t, bundle / "tokenizer.json");  // model.text_encoder's
    return t;
  }
  train::InputTransform t;  // a bundle from before input_transform.json
  t.max_frames = j.value("max_frames", t.max_frames);
  t.max_tokens = j.value("max_tokens", t.max_tokens);
  t.context_tokens = j.value("context_tokens", 0);
  train::refuse_sentence_embeddings(j, source.string() + " feeds the model",
                                    "train the model again with model.text_encoder and export "
                                    "that run");
  t.normalize_loudness = j.value("normalize_loudness", false);
  return t;
}

std::vector<std::string> row_ids(const features::Store& s, const std::vector<int64_t>& rows) {
  std::vector<std::string> out;
  for (int64_t r : rows)
    out.push_back(s.segments[size_t(r)].call_id + "#" +
                  std::to_string(s.segments[size_t(r)].segment));
  return out;
}

train::TrainData derive(const train::TrainData& d, const std::vector<int64_t>& rows, Edit edit) {
  train::TrainData out;
  out.store_path = d.store_path;
  out.shape = d.shape;
  out.task_columns = d.task_columns;
  out.transform = d.transform;
  out.class_weights = d.class_weights;
  const auto& s = d.store;
  auto& o = out.store;
  o.meta = s.meta;
  o.format = s.format;
  o.layout = s.layout;
  o.tokenizer_model = s.tokenizer_model;
  o.task_classes = s.task_classes;
  o.has_text = s.has_text;
  const size_t fl = s.layout.lld_columns.size(), ff = s.layout.functional_columns.size();
  o.frame_offsets = {0};
  o.token_offsets = {0};
  for (int64_t r : rows) {
    const size_t i = size_t(r);
    o.segments.push_back(s.segments[i]);
    o.segments.back().split = "dev";
    std::string& text = o.segments.back().text;  // what a pretrained text encoder reads
    if (edit == Edit::kNoText) text.clear();
    if (edit == Edit::kLength1) text = text.substr(0, text.find(' '));
    out.dev.push_back(int64_t(o.segments.size() - 1));
    int64_t t0 = s.frame_offsets[i], tn = s.frame_offsets[i + 1] - t0;
    int64_t k0 = s.token_offsets[i], kn = s.token_offsets[i + 1] - k0;
    if (edit == Edit::kLength1) tn = std::min<int64_t>(tn, 1), kn = std::min<int64_t>(kn, 1);
    if (edit == Edit::kNoProsody) tn = 0;
    if (edit == Edit::kNoText) kn = 0;
    o.frames.insert(o.frames.end(), s.frames.begin() + t0 * int64_t(fl),
                    s.frames.begin() + (t0 + tn) * int64_t(fl));
    o.frame_offsets.push_back(o.frame_offsets.back() + tn);
    o.tokens.insert(o.tokens.end(), s.tokens.begin() + k0, s.tokens.begin() + k0 + kn);
    o.token_offsets.push_back(o.token_offsets.back() + kn);
    o.functionals.insert(o.functionals.end(), s.functionals.begin() + int64_t(i * ff),
                         s.functionals.begin() + int64_t((i + 1) * ff));
    for (size_t c = 0; c < ff; ++c)
      o.functional_mask.push_back(edit == Edit::kNoFunctionals ? 0 : s.functional_mask[i * ff + c]);
  }
  out.previous = features::previous_segments(o);
  train::set_speaker_statistics(out);  // the edited segments' own, as a product computes them
  return out;
}

ParityGate gate_of(const ParityConfig& config, bool int8_encoder) {
  const ParityGate gate{config.tolerance.value_or(int8_encoder ? kInt8ParityTolerance
                                                               : kParityTolerance),
                        config.min_agreement.value_or(int8_encoder ? kInt8MinAgreement : 1.0)};
  if (!(gate.min_agreement > 0 && gate.min_agreement <= 1))
    throw UsageError("--min-agreement " + format_number(gate.min_agreement) +
                     " is not a share of decisions; give a number in (0, 1], e.g. 0.95");
  if (!(gate.tolerance >= 0))
    throw UsageError("--tolerance " + format_number(gate.tolerance) +
                     " is not a probability difference; give a number >= 0, e.g. 1e-4");
  return gate;
}

std::vector<ParityCase> parity_cases(std::shared_ptr<const train::TrainData> data,
                                     const ParityConfig& config) {
  const auto& rows = !data->dev.empty()    ? data->dev
                     : !data->test.empty() ? data->test
                                           : data->train;
  const std::string split = !data->dev.empty() ? "dev" : !data->test.empty() ? "test" : "train";
  if (rows.empty())
    throw ExportError(data->store_path +
                      " has no labelled segments to check parity on; pass "
                      "a store with a dev split as --parity-data");
  std::vector<ParityCase> cases;
  const size_t bs = size_t(std::max(1, config.batch_size));
  for (size_t i = 0; i < rows.size(); i += bs) {
    std::vector<int64_t> chunk(rows.begin() + long(i),
                               rows.begin() + long(std::min(rows.size(), i + bs)));
    char name[32];
    std::snprintf(name, sizeof name, "%s-%03zu", split.c_str(), i / bs);
    cases.push_back(
        {name,
         split + " split, rows " + std::to_string(i) + ".." + std::to_string(i + chunk.size() - 1),
         data, chunk});
  }
  cases.push_back({"batch-1", "a batch of one segment", data, {rows.front()}, true});
  // The longest segment of the whole store (LLD frames), alone: exercises the max_frames cut.
  int64_t longest = 0;
  for (size_t r = 0; r < data->store.segments.size(); ++r)
    if (data->store.frame_offsets[r + 1] - data->store.frame_offsets[r] >
        data->store.frame_offsets[size_t(longest) + 1] - data->store.frame_offsets[size_t(longest)])
      longest = int64_t(r);
  cases.push_back({"longest", "the store's longest segment", data, {longest}, true});
  std::vector<int64_t> few(rows.begin(),
                           rows.begin() + long(std::min(rows.size(), size_t(config.edge_rows))));
  const std::pair<Edit, const char*> edits[] = {{Edit::kLength1, "length-1"},
                                                {Edit::kNoProsody, "no-prosody"},
                                                {Edit::kNoFunctionals, "no-functionals"},
                                                {Edit::kNoText, "no-text"}};
  for (const auto& [edit, name] : edits) {
    auto derived = std::make_shared<const train::TrainData>(derive(*data, few, edit));
    std::vector<int64_t> all(few.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = int64_t(i);
    cases.push_back({name,
                     edit == Edit::kLength1
                         ? "one frame and one token per segment"
                         : std::string("segments with the modality missing (") + name + ")",
                     derived, all, true});
  }
  return cases;
}

std::vector<OrtCase> reference_cases(train::LoadedRun& run, const std::vector<ParityCase>& cases) {
  std::vector<OrtCase> out;
  for (const auto& c : cases) {
    auto pred = train::predict(run, *c.data, c.rows, int(c.rows.size()));
    OrtCase oc;
    oc.name = c.name;
    oc.description = c.description;
    oc.row_ids = row_ids(c.data->store, c.rows);
    oc.inputs = raw_inputs(c.data->store, c.rows, c.data->transform, &c.data->previous,
                           &c.data->speaker);
    for (size_t k = 0; k < run.info.shape.tasks.size(); ++k) {
      auto p = pred.probs[k].to(torch::kFloat).contiguous();
      std::vector<float> v(p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
      oc.expected[prob_output_name(run.info.shape.tasks[k].name)] =
          HostTensor::from_f32(p.sizes().vec(), v);
    }
    out.push_back(std::move(oc));
  }
  return out;
}

namespace {

/// The first `k` rows of x [B, D1, ...] and, when inner_keep > 0, the first inner_keep
/// entries of D1.
HostTensor head_rows(const HostTensor& x, int64_t k, int64_t inner_keep) {
  HostTensor y = x;
  y.dims[0] = k;
  const size_t elem = x.dtype == "int64" ? sizeof(int64_t) : sizeof(float);
  int64_t row = 1, inner = 1;
  for (size_t d = 1; d < x.dims.size(); ++d) row *= x.dims[d];
  for (size_t d = 2; d < x.dims.size(); ++d) inner *= x.dims[d];
  if (inner_keep <= 0 || x.dims.size() < 2) {
    y.bytes = x.bytes.substr(0, size_t(k * row) * elem);
    return y;
  }
  const int64_t keep = std::min(inner_keep, x.dims[1]);
  y.dims[1] = keep;
  y.bytes.clear();
  for (int64_t i = 0; i < k; ++i)
    y.bytes.append(x.bytes, size_t(i * row) * elem, size_t(keep * inner) * elem);
  return y;
}

}  // namespace

OrtCase fixture_of(const OrtCase& c, int64_t rows) {
  const InputNames in;
  const int64_t b = c.inputs.at(in.frame_len).dims.at(0);
  const int64_t k = std::min(b, std::max<int64_t>(rows, 1));
  // Longest kept frame and token run: the padding beyond it is cut (at least 1).
  auto longest = [&](const std::string& len) {
    const int64_t* l = c.inputs.at(len).i64();
    return std::max<int64_t>(1, *std::max_element(l, l + k));
  };
  const std::map<std::string, int64_t> inner = {
      {in.frames, longest(in.frame_len)},
      {in.tokens, longest(in.token_len)},
      {in.ctx_tokens, c.inputs.count(in.ctx_len) ? longest(in.ctx_len) : 0}};
  OrtCase out;
  out.name = c.name;
  out.description = c.description + (k < b ? " (first " + std::to_string(k) + " rows)" : "");
  out.row_ids.assign(c.row_ids.begin(),
                     c.row_ids.begin() + std::min<int64_t>(k, int64_t(c.row_ids.size())));
  for (const auto& [name, x] : c.inputs)
    out.inputs[name] = head_rows(x, k, inner.count(name) ? inner.at(name) : 0);
  for (const auto& [name, x] : c.expected) out.expected[name] = head_rows(x, k, 0);
  return out;
}

namespace {

/// One task of one case: ORT's outputs against LibTorch's.
struct TaskParity {
  json report;
  double max_delta = 0;
  std::string row_id;
  int64_t at_class = 0, rows = 0, agree = 0;
  std::vector<std::string> disagreeing;  ///< the first few rows whose decision differs
  std::string failure;  ///< empty when it passed
};

/// Decision agreement of one task over every case, and the rows that differed first.
struct Agreement {
  int64_t agree = 0, rows = 0;
  std::vector<std::string> disagreeing;
};

/// The tasks whose decisions agree less than the gate allows over every case: at most
/// max_disagreements[task] differ where given (verify: what the export's gate found on the
/// fixtures), else floor((1 - min_agreement) x rows).
std::vector<std::string> decision_failures(const std::map<std::string, Agreement>& agreement,
                                           double min_agreement,
                                           const std::map<std::string, int64_t>* max_disagreements) {
  std::vector<std::string> failures;
  for (const auto& [task, a] : agreement) {
    const int64_t allowed =
        max_disagreements && max_disagreements->count(task)
            ? max_disagreements->at(task)
            : int64_t(std::floor((1.0 - min_agreement) * double(a.rows) + 1e-9));
    if (a.rows - a.agree <= allowed) continue;
    std::ostringstream msg;
    msg << "task " << task << ": decisions agree on " << a.agree << "/" << a.rows
        << " rows over every case, at most " << allowed << " may differ (min agreement "
        << min_agreement << "); first differing rows:";
    for (const auto& r : a.disagreeing) msg << " " << r;
    failures.push_back(msg.str());
  }
  return failures;
}

/// One task of one case. With `exact` every decision must be the same in the case; otherwise
/// the case is held to the tolerance only and the decisions are counted over every case
/// (decision_failures).
TaskParity compare_task(const OrtCase& c, const OrtResult& result, const train::TaskSpec& t,
                        const eval::TaskRule& rule, double tolerance, bool exact) {
  const std::string out = prob_output_name(t.name);
  if (!c.expected.count(out) || !result.outputs.count(out))
    throw ExportError("case " + c.name + " lacks output " + out);
  const auto& want = c.expected.at(out);
  const auto& got = result.outputs.at(out);
  if (want.dims != got.dims)
    throw ExportError("case " + c.name + ": ONNX output " + out + " has shape " +
                      json(got.dims).dump() + ", LibTorch's " + json(want.dims).dump());
  auto row_id = [&](int64_t i) {
    return i < int64_t(c.row_ids.size()) ? c.row_ids[size_t(i)] : std::to_string(i);
  };
  TaskParity p;
  const int64_t n = want.dims[0], kc = want.dims[1];
  int64_t at_row = 0, agree = 0;
  std::vector<std::string> disagreements;
  for (int64_t i = 0; i < n; ++i) {
    const float* a = want.f32() + i * kc;
    const float* b = got.f32() + i * kc;
    for (int64_t j = 0; j < kc; ++j) {
      double d = std::abs(double(a[j]) - double(b[j]));
      if (!(d <= p.max_delta))
        p.max_delta = std::isnan(d) ? INFINITY : d, at_row = i, p.at_class = j;
    }
    if (decision(rule, a, kc) == decision(rule, b, kc))
      ++agree;
    else if (disagreements.size() < 5)
      disagreements.push_back(row_id(i));
  }
  p.rows = n;
  p.agree = agree;
  p.row_id = row_id(at_row);
  p.disagreeing = disagreements;
  const bool ok = p.max_delta <= tolerance && (!exact || agree == n);
  p.report = {{"max_abs_delta", p.max_delta},        {"at", {{"row", p.row_id}, {"class", p.at_class}}},
              {"decisions_agree", agree},            {"rows", n},
              {"disagreeing_rows", disagreements},   {"passed", ok}};
  if (!ok) {
    std::ostringstream msg;
    msg << "case " << c.name << " (" << c.description << "), task " << t.name << ": max |delta| "
        << p.max_delta << " at row " << p.row_id << " class " << p.at_class << " (tolerance "
        << tolerance << "), decisions agree on " << agree << "/" << n;
    p.failure = msg.str();
  }
  return p;
}

}  // namespace

namespace {

/// What compare_outputs gathers over the cases.
struct Totals {
  std::map<std::string, Agreement> agreement;  ///< per task
  double worst = 0;
  json worst_at;
  size_t rows = 0;
  json failures = json::array();
};

/// Adds one task's result in case `c` to the totals.
void add_to_totals(Totals& t, const OrtCase& c, const std::string& task, const TaskParity& p) {
  auto& a = t.agreement[task];
  a.agree += p.agree;
  a.rows += p.rows;
  for (const auto& r : p.disagreeing)
    if (a.disagreeing.size() < 5) a.disagreeing.push_back(c.name + ":" + r);
  if (p.max_delta > t.worst || t.worst_at.is_null()) {
    t.worst = p.max_delta;
    t.worst_at = {{"case", c.name}, {"task", task}, {"row", p.row_id}, {"class", p.at_class}};
  }
  if (!p.failure.empty()) t.failures.push_back(p.failure);
}

/// One case's report, every task compared.
json compare_case(const std::vector<train::TaskSpec>& tasks, const eval::DecisionRules& rules,
                  const OrtCase& c, const std::vector<OrtResult>& results, double tolerance,
                  bool exact, Totals& totals) {
  auto it = std::find_if(results.begin(), results.end(),
                         [&](const OrtResult& r) { return r.name == c.name; });
  if (it == results.end()) throw ExportError("ONNX Runtime returned no outputs for case " + c.name);
  json jc = {{"name", c.name}, {"description", c.description}, {"tasks", json::object()}};
  bool case_ok = true;
  for (size_t k = 0; k < tasks.size(); ++k) {
    const eval::TaskRule* rule = rules.find(tasks[k].name);
    if (!rule) throw ExportError("the decision rules have no task " + tasks[k].name);
    TaskParity p = compare_task(c, *it, tasks[k], *rule, tolerance, exact);
    jc["tasks"][tasks[k].name] = p.report;
    case_ok = case_ok && p.failure.empty();
    add_to_totals(totals, c, tasks[k].name, p);
    if (k == 0) totals.rows += size_t(p.rows);
  }
  jc["passed"] = case_ok;
  return jc;
}

}  // namespace

json compare_outputs(const std::vector<train::TaskSpec>& tasks, const eval::DecisionRules& rules,
                     const std::vector<OrtCase>& cases, const std::vector<OrtResult>& results,
                     double tolerance, double min_agreement,
                     const std::map<std::string, int64_t>* max_disagreements) {
  json report = {{"tolerance", tolerance}, {"min_agreement", min_agreement}, {"cases", json::array()}};
  const bool exact = min_agreement >= 1.0 && !max_disagreements;
  Totals t;
  for (const auto& c : cases)
    report["cases"].push_back(compare_case(tasks, rules, c, results, tolerance, exact, t));
  report["max_abs_delta"] = t.worst;
  report["max_at"] = t.worst_at;
  report["rows_checked"] = t.rows;
  report["decision_agreement"] = json::object();
  for (const auto& [task, a] : t.agreement)
    report["decision_agreement"][task] = {{"agree", a.agree}, {"rows", a.rows}};
  if (max_disagreements) report["max_disagreements"] = *max_disagreements;
  if (!exact)
    for (auto& f : decision_failures(t.agreement, min_agreement, max_disagreements))
      t.failures.push_back(std::move(f));
  report["failures"] = t.failures;
  report["passed"] = t.failures.empty();
  return report;
}

namespace {

/// "every decision the same", or under an agreement rate below 1 (a report of an int8 graph)
/// the decisions that agreed per task over every case.
std::string agreement_summary(const json& r) {
  const double min_agreement = r.value("min_agreement", 1.0);
  if (min_agreement >= 1.0 || !r.contains("decision_agreement"))
    return "every decision the same";
  std::ostringstream s;
  s << "decisions the same on";
  const char* sep = " ";
  for (const auto& [task, a] : r.at("decision_agreement").items()) {
    s << sep << task << " " << a.at("agree").get<int64_t>() << "/" << a.at("rows").get<int64_t>();
    sep = ", ";
  }
  if (r.contains("max_disagreements"))
    s << " (no more differing than the export's gate found on these fixtures)";
  else
    s << " (at least " << min_agreement * 100 << "% per task)";
  return s.str();
}

}  // namespace

std::string parity_summary(const json& r) {
  std::ostringstream s;
  if (r.at("passed").get<bool>()) {
    s << "parity passed: " << r.at("rows_checked").get<size_t>() << " rows in "
      << r.at("cases").size() << " cases, max |delta| " << r.at("max_abs_delta").get<double>()
      << " <= " << r.at("tolerance").get<double>() << ", " << agreement_summary(r);
  } else {
    s << "parity FAILED: " << r.at("failures").size()
      << " task/case pairs diverged; first: " << r.at("failures")[0].get<std::string>();
  }
  return s.str();
}

}  // namespace tenor::onnx_export
