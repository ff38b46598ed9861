#include "data/split.h"

#include <unistd.h>
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "data/duplicates.h"

namespace tenor::data {
namespace fs = std::filesystem;
namespace {

const std::array<std::string, 3> kSplitNames = {"train", "dev", "test"};

struct Group {
  std::vector<size_t> calls;
  double weight = 0;  ///< segments (at least 1 per call)
  int stratum = -1;   ///< rarest class present, -1 = unlabelled
  int fixed = -1;     ///< split index (given, or assigned), -1 = not yet
  bool given = false; ///< `fixed` is the split its calls already had
};

}  // namespace

void SplitOptions::validate() const {
  for (const auto& [flag, r] : {std::pair{"--train", train}, {"--dev", dev}, {"--test", test}}) {
    if (!(r >= 0 && r <= 1))
      throw UsageError(std::string(flag) + " " + format_number(r) +
                       " is not a share; split ratios lie between 0 and 1 and add up to 1");
  }
  if (std::fabs(train + dev + test - 1.0) > 1e-6) {
    throw UsageError("split ratios must add up to 1 (train " + format_number(train) + " + dev " +
                     format_number(dev) + " + test " + format_number(test) + ")");
  }
  if (train <= 0) throw UsageError("the train ratio must be above 0");
  duplicate_options().validate();
}

DuplicateOptions SplitOptions::duplicate_options() const {
  DuplicateOptions options;
  options.audio = audio_duplicates;
  options.duplicate_jaccard = duplicate_jaccard;
  return options;
}

namespace {

/// Calls that must share a split or fold: those with one meta.speaker_id, and copies of one
/// call (find_duplicates with `duplicates`).
CallGroups group_calls(const Dataset& ds, const DuplicateOptions& duplicates) {
  CallGroups groups(ds.calls.size());
  std::map<std::string, size_t> speaker_first;
  for (size_t i = 0; i < ds.calls.size(); ++i) {
    auto id = ds.calls[i].speaker_id();
    if (id.empty()) continue;
    auto [it, inserted] = speaker_first.emplace(id, i);
    if (!inserted) groups.join(i, it->second);
  }
  for (const auto& pair : find_duplicates(ds, duplicates)) groups.join(pair.a, pair.b);
  return groups;
}

}  // namespace

namespace {

/// The task whose labels stratify: `name`, or the first task when "" (nullptr without tasks).
const Task* stratify_task(const Dataset& ds, const std::string& name) {
  if (!name.empty()) {
    const Task* task = ds.schema.find(name);
    if (!task) {
      std::vector<std::string> names;
      for (const auto& t : ds.schema.tasks) names.push_back(t.name);
      const std::string near = nearest(name, names);
      throw UsageError("--stratify task '" + printable(name) + "' is not in dataset.yaml; " +
                       (!near.empty()      ? "did you mean '" + near + "'?"
                        : names.empty() ? std::string("it declares no tasks")
                                        : "its tasks are " + join(names, ", ")));
    }
    return task;
  }
  return ds.schema.tasks.empty() ? nullptr : &ds.schema.tasks.front();
}

/// The groups of calls that must stay together (keyed by their union-find root), each with its
/// weight, stratum and (with `keep_given`) the split its calls already have. Throws DataError
/// when a group's calls already sit in two splits.
std::map<size_t, Group> make_groups(const Dataset& ds, CallGroups& uf, const Task* task,
                                    bool keep_given) {
  // Global class frequencies decide which class is "rarest".
  std::vector<size_t> class_count(task ? task->classes.size() : 0, 0);
  if (task)
    for (const auto& call : ds.calls)
      for (const auto& seg : call.segments)
        if (auto l = resolved_label(seg, *task)) ++class_count[static_cast<size_t>(*l)];

  std::map<size_t, Group> groups;
  std::map<size_t, size_t> fixed_by;  // group -> the call whose existing split the group took
  for (size_t i = 0; i < ds.calls.size(); ++i) {
    Group& g = groups[uf.find(i)];
    g.calls.push_back(i);
    const Call& call = ds.calls[i];
    g.weight += std::max<size_t>(1, call.segments.size());
    if (task) {
      for (const auto& seg : call.segments) {
        if (auto l = resolved_label(seg, *task)) {
          if (g.stratum < 0 ||
              class_count[static_cast<size_t>(*l)] < class_count[static_cast<size_t>(g.stratum)])
            g.stratum = *l;
        }
      }
    }
    if (keep_given && !call.split.empty()) {
      int s = static_cast<int>(std::find(kSplitNames.begin(), kSplitNames.end(), call.split) -
                               kSplitNames.begin());
      if (g.fixed >= 0 && g.fixed != s) {
        const Call& other = ds.calls[fixed_by.at(uf.find(i))];
        throw DataError("call " + printable(call.call_id) + " (split '" + call.split +
                        "') and call " + printable(other.call_id) + " (split '" + other.split +
                        "') must share one split: they share a speaker_id or are duplicates, "
                        "directly or through other calls (`tenor data validate` lists "
                        "duplicates); pass --reassign to regroup every call");
      }
      if (g.fixed < 0) fixed_by[uf.find(i)] = i;
      g.fixed = s;
      g.given = true;
    }
  }
  return groups;
}

/// The weight each part (index into a ratio) holds of a set of groups, and their total.
struct Shares {
  double total = 0;
  std::vector<double> have;

  explicit Shares(size_t parts) : have(parts, 0.0) {}
  double deficit(const std::vector<double>& ratio, size_t s) const {
    return ratio[s] * total - have[s];
  }
};

/// The part furthest below its share in `stratum`; a tie (a stratum's first group, or a
/// stratum of one group) goes to the part furthest below its share `overall`, not always to
/// the first part, which left folds empty when every stratum held one group.
size_t neediest_part(const std::vector<double>& ratio, const Shares& stratum,
                     const Shares& overall) {
  size_t best = 0;
  double best_deficit = -1e300, best_overall = -1e300;
  for (size_t s = 0; s < ratio.size(); ++s) {
    if (ratio[s] <= 0) continue;
    const double deficit = stratum.deficit(ratio, s), behind = overall.deficit(ratio, s);
    if (deficit > best_deficit + 1e-12 ||
        (deficit > best_deficit - 1e-12 && behind > best_overall + 1e-12))
      best_deficit = deficit, best_overall = behind, best = s;
  }
  return best;
}

/// A part with a share that no group reached (a small dataset, where each stratum's few
/// groups all went to the largest share) takes the lightest assigned group of the part
/// furthest above its share that keeps another group. Returns the parts still empty.
std::vector<size_t> fill_empty_parts(std::map<size_t, Group>& groups,
                                     const std::vector<double>& ratio) {
  std::vector<size_t> count(ratio.size(), 0);
  std::vector<double> have(ratio.size(), 0.0);
  double total = 0;
  for (const auto& [root, g] : groups) {
    ++count[static_cast<size_t>(g.fixed)];
    have[static_cast<size_t>(g.fixed)] += g.weight;
    total += g.weight;
  }
  auto movable = [&](const Group& g) { return !g.given && count[size_t(g.fixed)] >= 2; };
  std::vector<size_t> empty;
  for (size_t s = 0; s < ratio.size(); ++s) {
    if (ratio[s] <= 0 || count[s] > 0) continue;
    Group* move = nullptr;  // the lightest movable group of the part furthest above its share
    auto above = [&](const Group& g) {
      const auto from = static_cast<size_t>(g.fixed);
      return have[from] - ratio[from] * total;
    };
    for (auto& [root, g] : groups)
      if (movable(g) && (!move || above(g) > above(*move) + 1e-12 ||
                         (above(g) > above(*move) - 1e-12 && g.fixed == move->fixed &&
                          g.weight < move->weight)))
        move = &g;
    if (!move) {
      empty.push_back(s);
      continue;
    }
    const auto from = static_cast<size_t>(move->fixed);
    --count[from], have[from] -= move->weight;
    ++count[s], have[s] += move->weight;
    move->fixed = static_cast<int>(s);
  }
  return empty;
}

/// Gives every free group the part (index into `ratio`) furthest below its share of the
/// segments, stratum by stratum, largest groups first, in a seeded random order among equals;
/// then fills the parts left empty (fill_empty_parts), whose list, of those it could not, it
/// returns.
std::vector<size_t> assign_groups(std::map<size_t, Group>& groups,
                                  const std::vector<double>& ratio, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::map<int, std::vector<Group*>> strata;
  Shares overall(ratio.size());
  for (auto& [root, g] : groups) {
    strata[g.stratum].push_back(&g);
    overall.total += g.weight;
    if (g.fixed >= 0) overall.have[static_cast<size_t>(g.fixed)] += g.weight;
  }
  for (auto& [stratum, members] : strata) {
    // Fisher-Yates with our own index draw, so the order is the same with any standard library.
    for (size_t i = members.size(); i > 1; --i) std::swap(members[i - 1], members[rng() % i]);
    std::stable_sort(members.begin(), members.end(),
                     [](const Group* a, const Group* b) { return a->weight > b->weight; });
    Shares shares(ratio.size());
    for (const Group* g : members) {
      shares.total += g->weight;
      if (g->fixed >= 0) shares.have[static_cast<size_t>(g->fixed)] += g->weight;
    }
    for (Group* g : members) {
      if (g->fixed >= 0) continue;
      const size_t best = neediest_part(ratio, shares, overall);
      g->fixed = static_cast<int>(best);
      shares.have[best] += g->weight;
      overall.have[best] += g->weight;
    }
  }
  return fill_empty_parts(groups, ratio);
}

/// Why split `s` stayed empty after fill_empty_parts, and the fix.
std::string why_empty(const std::map<size_t, Group>& groups, size_t calls, size_t s) {
  size_t given = 0;
  for (const auto& [root, g] : groups) given += g.given;
  if (given == groups.size())
    return "every call keeps the split it already has; pass --reassign to assign them all again";
  std::string why = "the " + std::to_string(calls) + " call(s) form " +
                    std::to_string(groups.size()) +
                    " group(s) that must stay together (calls sharing a meta.speaker_id, or "
                    "duplicates), too few for every split";
  if (given > 0)
    why += " once the " + std::to_string(given) + " with a split already given keep it";
  why += "; add calls of other speakers";
  if (s > 0) why += ", or give it no share (--" + kSplitNames[s] + " 0, its share in --train)";
  if (given > 0) why += ", or pass --reassign to assign every call again";
  return why;
}

}  // namespace

Dataset assign_splits(const Dataset& input, const SplitOptions& options) {
  options.validate();
  Dataset ds = input;
  CallGroups uf = group_calls(ds, options.duplicate_options());
  const Task* task = stratify_task(ds, options.stratify_task);
  auto groups = make_groups(ds, uf, task, !options.reassign);
  const std::vector<double> ratio = {options.train, options.dev, options.test};
  for (size_t s : assign_groups(groups, ratio, options.seed))
    logger("data")->warn("split '{}' holds no call, though its share is {}: {}", kSplitNames[s],
                         format_number(ratio[s]), why_empty(groups, ds.calls.size(), s));
  for (auto& [root, g] : groups)
    for (size_t i : g.calls) ds.calls[i].split = kSplitNames[static_cast<size_t>(g.fixed)];
  return ds;
}

std::vector<int> assign_folds(const Dataset& ds, int folds, uint64_t seed,
                              const std::string& stratify, const DuplicateOptions& duplicates) {
  if (folds < 2) throw UsageError("--folds must be at least 2, not " + std::to_string(folds));
  CallGroups uf = group_calls(ds, duplicates);
  auto groups = make_groups(ds, uf, stratify_task(ds, stratify), /*keep_given=*/false);
  if (groups.size() < static_cast<size_t>(folds))
    throw DataError("the dataset has " + std::to_string(groups.size()) +
                    " group(s) of calls that must stay together (calls sharing a "
                    "meta.speaker_id, or duplicates), fewer than the " + std::to_string(folds) +
                    " folds asked for; " +
                    (groups.size() >= 2 ? "use --folds " + std::to_string(groups.size()) +
                                              " or fewer, or add calls"
                                        : std::string("add calls of other speakers")));
  // As many groups as folds or more: none is left empty.
  assign_groups(groups, std::vector<double>(static_cast<size_t>(folds), 1.0 / folds), seed);
  std::vector<int> fold(ds.calls.size(), 0);
  for (auto& [root, g] : groups)
    for (size_t i : g.calls) fold[i] = g.fixed;
  return fold;
}

std::vector<Dataset> fold_datasets(const Dataset& dataset, int folds, const SplitOptions& options) {
  options.validate();
  Dataset rest = dataset;  // the calls outside the test split, which the folds cut
  rest.calls.clear();
  std::vector<size_t> index;
  for (size_t i = 0; i < dataset.calls.size(); ++i)
    if (dataset.calls[i].split != "test") {
      rest.calls.push_back(dataset.calls[i]);
      index.push_back(i);
    }
  const std::vector<int> fold = assign_folds(rest, folds, options.seed, options.stratify_task,
                                             options.duplicate_options());
  std::vector<Dataset> copies(static_cast<size_t>(folds), dataset);
  for (int k = 0; k < folds; ++k)
    for (size_t j = 0; j < index.size(); ++j)
      copies[static_cast<size_t>(k)].calls[index[j]].split = fold[j] == k ? "dev" : "train";
  return copies;
}

namespace {

/// Writes the new directory `out_arg` that `fill` builds (given a temporary sibling to fill),
/// all or nothing: refused when `out_arg` exists and is not empty, or lies inside the input
/// dataset at `input_root`.
void write_new_directory(const fs::path& out_arg, const fs::path& input_root,
                         const std::function<void(const fs::path&)>& fill) {
  std::error_code ec;
  const fs::path out = new_output_directory(out_arg);
  refuse_output_inside_dataset(input_root, out);
  if (!fs::exists(out.parent_path(), ec)) fs::create_directories(out.parent_path(), ec);
  const fs::path temp = temp_path_for_output(out);
  fs::create_directory(temp, ec);
  if (ec) throw IoError("cannot create " + temp.string() + ": " + ec.message());
  try {
    fill(temp);
    publish_directory(temp, out);
  } catch (...) {
    fs::remove_all(temp, ec);
    throw;
  }
}

}  // namespace

void write_fold_datasets(const std::vector<Dataset>& folds, const fs::path& out) {
  if (folds.empty()) throw UsageError("no folds to write to " + out.string());
  write_new_directory(out, folds.front().root, [&](const fs::path& temp) {
    for (size_t k = 0; k < folds.size(); ++k)
      write_derived_dataset(folds[k], temp / ("fold" + std::to_string(k + 1)));
  });
}

void write_derived_dataset(const Dataset& dataset, const fs::path& out, ManifestFormat format) {
  const fs::path in_root = resolved_path(dataset.root);
  write_new_directory(out, dataset.root, [&](const fs::path& temp) {
    std::error_code ec;
    fs::copy_file(in_root / "dataset.yaml", temp / "dataset.yaml", ec);
    if (ec) throw IoError("cannot copy dataset.yaml: " + ec.message());
    if (format == ManifestFormat::kCsv) {
      write_segments_csv(dataset, temp / "segments.csv");
    } else {
      write_calls_jsonl(dataset, temp / "calls.jsonl");
    }
    // Audio is referenced, not copied: one link per top-level entry the audio paths use.
    std::set<std::string> tops;
    for (const auto& call : dataset.calls)
      if (!call.audio.empty())
        tops.insert(fs::path(call.audio).lexically_normal().begin()->string());
    for (const auto& top : tops) {
      fs::create_symlink(in_root / top, temp / top, ec);
      if (ec)
        throw IoError("cannot link " + (temp / top).string() +
                      " to the input audio: " + ec.message());
    }
  });
}

}  // namespace tenor::data
