#include "export/bundle_checks.h"

#include <map>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/sha256.h"
#include "export/bundle_install.h"

namespace tenor::onnx_export {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

/// The batch size every input and expected output of `c` shares; -1 when they disagree.
int64_t case_rows(const OrtCase& c) {
  int64_t rows = -2;
  for (const auto* tensors : {&c.inputs, &c.expected})
    for (const auto& [name, t] : *tensors) {
      const int64_t b = t.dims.empty() ? -1 : t.dims[0];
      rows = rows == -2 || rows == b ? b : -1;
    }
  return rows == -2 ? 0 : rows;
}

json value_info(const onnx::ValueInfoProto& v) {
  json dims = json::array();
  for (const auto& d : v.type().tensor_type().shape().dim())
    dims.push_back(d.has_dim_value() ? json(d.dim_value()) : json(d.dim_param()));
  return {{"name", v.name()},
          {"elem_type", onnx::TensorProto_DataType_Name(v.type().tensor_type().elem_type())},
          {"dims", dims}};
}

/// Compares one side ("input" or "output") of the model's I/O with the manifest's.
void check_side(const fs::path& bundle, const json& want, const json& got, const char* side) {
  std::map<std::string, json> have;
  for (const auto& v : got) have[v.at("name")] = v;
  const std::string where = bundle.string() + "/model.onnx";
  const std::string fix =
      "; model.onnx is not this bundle's model (another run's, or edited): export the bundle again";
  for (const auto& w : want) {
    const std::string name = w.at("name");
    auto it = have.find(name);
    if (it == have.end())
      throw ExportError(where + " has no graph " + side + " '" + name +
                        "', which manifest.json describes as " + w.dump() + fix);
    if (it->second != w)
      throw ExportError(where + ": graph " + side + " '" + name +
                        "' is " + it->second.dump() + ", manifest.json says " + w.dump() + fix);
    have.erase(it);
  }
  if (!have.empty())
    throw ExportError(where + " has graph " + side + " '" +
                      have.begin()->first + "', which manifest.json does not describe" + fix);
}

/// Runs `check`; a manifest.json field of the wrong JSON type becomes an ExportError.
template <class F>
void reading_manifest(const fs::path& bundle, F&& check) {
  try {
    check();
  } catch (const json::exception& e) {
    throw ExportError(bundle.string() + "/manifest.json is malformed (" + e.what() +
                      "); the bundle is damaged: export it again");
  }
}

void check_model(const fs::path& bundle, const onnx::ModelProto& model, const json& manifest) {
  const json io = model_io(model);
  check_side(bundle, manifest.at("model_io").at("inputs"), io.at("inputs"), "input");
  check_side(bundle, manifest.at("model_io").at("outputs"), io.at("outputs"), "output");
  std::map<std::string, std::string> props;
  for (const auto& p : model.metadata_props()) props[p.key()] = p.value();
  const std::string created = manifest.value("created_utc", "");
  if (props["tenor.created_utc"] != created)
    throw ExportError(bundle.string() + "/model.onnx was exported at '" +
                      props["tenor.created_utc"] + "', manifest.json at '" + created +
                      "'; model.onnx is not this bundle's model: export the bundle again");
  json stamped;
  try {
    stamped = json::parse(props["tenor.parity_fixtures"]);
  } catch (const json::parse_error&) {
    stamped = nullptr;
  }
  if (stamped != manifest.at("parity_fixtures"))
    throw ExportError(bundle.string() + ": manifest.json records the parity fixtures " +
                      manifest.at("parity_fixtures").dump() + ", model.onnx's metadata " +
                      (stamped.is_null() ? std::string("none") : stamped.dump()) +
                      "; the manifest or the model was changed: export the bundle again");
}

void check_fixtures(const fs::path& bundle, const std::vector<OrtCase>& fixtures,
                    const json& manifest) {
  const json& wrote = manifest.at("parity_fixtures");
  const json has = fixture_record(fixtures);
  const std::string where = bundle.string() + "/parity/cases.json";
  if (has.at("cases").get<size_t>() == 0 || has.at("rows").get<int64_t>() <= 0)
    throw ExportError(where + " holds no parity fixture rows, so verify would compare nothing; "
                      "the export wrote " + wrote.at("rows").dump() + " rows in " +
                      wrote.at("cases").dump() + " cases: export the bundle again");
  for (const auto& [name, rows] : wrote.at("rows_by_case").items()) {
    const json& got = has.at("rows_by_case");
    if (!got.contains(name))
      throw ExportError(where + " lacks fixture case '" + name + "' (" + rows.dump() +
                        " rows) that the export wrote; the fixtures were cut: export the bundle "
                        "again");
    if (got.at(name) != rows)
      throw ExportError(where + ": fixture case '" + name + "' has " + got.at(name).dump() +
                        " rows (-1: its tensors disagree), the export wrote " + rows.dump() +
                        "; the fixtures were changed: export the bundle again");
  }
  if (has != wrote)
    throw ExportError(where + " holds " + has.dump() + ", the export wrote " + wrote.dump() +
                      " (manifest.json parity_fixtures); export the bundle again");
}

}  // namespace

json fixture_record(const std::vector<OrtCase>& fixtures) {
  json by_case = json::object();
  int64_t rows = 0;
  for (const auto& c : fixtures) {
    const int64_t n = case_rows(c);
    by_case[c.name] = n;
    rows += n;
  }
  return {{"cases", fixtures.size()}, {"rows", rows}, {"rows_by_case", by_case}};
}

json model_io(const onnx::ModelProto& model) {
  json inputs = json::array(), outputs = json::array();
  for (const auto& v : model.graph().input()) inputs.push_back(value_info(v));
  for (const auto& v : model.graph().output()) outputs.push_back(value_info(v));
  return {{"inputs", inputs}, {"outputs", outputs}};
}

void check_model_matches_manifest(const fs::path& bundle, const onnx::ModelProto& model,
                                  const json& manifest) {
  if (!manifest.contains("model_io") || !manifest.contains("parity_fixtures"))
    throw ExportError(bundle.string() +
                      "/manifest.json does not describe the model's inputs and outputs or the "
                      "parity fixtures (a bundle of an older tenor), so verify cannot tell a "
                      "replaced model or removed fixtures; export the bundle again");
  reading_manifest(bundle, [&] { check_model(bundle, model, manifest); });
}

void check_fixtures_match_manifest(const fs::path& bundle, const std::vector<OrtCase>& fixtures,
                                   const json& manifest) {
  reading_manifest(bundle, [&] { check_fixtures(bundle, fixtures, manifest); });
}

json check_bundle_files(const fs::path& bundle) {
  std::error_code ec;
  if (!fs::is_directory(bundle, ec))
    throw ExportError(bundle.string() + " is not a directory; give the bundle `tenor export` wrote");
  if (!fs::exists(bundle / "manifest.json", ec))
    throw ExportError(bundle.string() + " has no manifest.json; is it a `tenor export` bundle?");
  json manifest;
  try {
    manifest = json::parse(read_file(bundle / "manifest.json"));
  } catch (const json::parse_error& e) {
    throw ExportError(bundle.string() + "/manifest.json is not valid JSON (" + e.what() +
                      "); the bundle is damaged, export it again");
  }
  if (!is_bundle_manifest(manifest))
    throw ExportError(bundle.string() + "/manifest.json is not a tenor bundle's (format " +
                      "tenor-bundle-1 with its files); is it a `tenor export` bundle?");
  const auto& files = manifest.at("files");
  for (const auto& [name, sum] : files.items()) {
    if (!fs::exists(bundle / name, ec))
      throw ExportError(bundle.string() + ": " + name +
                        " is listed in manifest.json but "
                        "missing; the bundle is incomplete, export it again");
    std::string actual = sha256_file(bundle / name);
    if (actual != sum.get<std::string>())
      throw ExportError(bundle.string() + ": " + name + " has SHA-256 " + actual.substr(0, 16) +
                        "..., manifest.json says " + sum.get<std::string>().substr(0, 16) +
                        "...; the file was changed after export, do not ship this bundle");
  }
  for (const auto& f : bundle_files(bundle))
    if (f != "manifest.json" && !files.contains(f))
      throw ExportError(bundle.string() + ": " + f +
                        " is not listed in manifest.json; a file was "
                        "added after export, do not ship this bundle");
  return manifest;
}

}  // namespace tenor::onnx_export
