#include "data/features/store.h"
#include "data/features/store_channels.h"

#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <sstream>

#include "core/error.h"
#include "core/retired.h"
#include "core/sha256.h"

namespace tenor::features {
namespace fs = std::filesystem;
namespace {

/// Owns one HDF5 identifier and closes it with the right function.
class H5 {
 public:
  using Closer = herr_t (*)(hid_t);
  H5() = default;
  H5(hid_t id, Closer close, const std::string& what) : id_(id), close_(close) {
    if (id < 0) throw IoError("HDF5: cannot " + what);
  }
  H5(H5&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  H5& operator=(H5&& o) noexcept {
    std::swap(id_, o.id_);
    std::swap(close_, o.close_);
    return *this;
  }
  ~H5() {
    if (id_ >= 0 && close_) close_(id_);
  }
  operator hid_t() const { return id_; }

 private:
  hid_t id_ = -1;
  Closer close_ = nullptr;
};

void check(herr_t status, const std::string& what) {
  if (status < 0) throw IoError("HDF5: cannot " + what);
}

H5 string_type() {
  H5 t(H5Tcopy(H5T_C_S1), H5Tclose, "create a string type");
  check(H5Tset_size(t, H5T_VARIABLE), "size a string type");
  check(H5Tset_cset(t, H5T_CSET_UTF8), "set UTF-8");
  return t;
}

/// A 1-D or 2-D dataset that grows along its first axis.
class Appendable {
 public:
  Appendable() = default;
  Appendable(hid_t parent, const char* name, hid_t type, hsize_t columns, hsize_t chunk_rows)
      : type_(type), columns_(columns) {
    int rank = columns ? 2 : 1;
    hsize_t dims[2] = {0, columns}, maxdims[2] = {H5S_UNLIMITED, columns};
    H5 space(H5Screate_simple(rank, dims, maxdims), H5Sclose, "create a dataspace");
    H5 props(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "create dataset properties");
    hsize_t chunk[2] = {chunk_rows, std::max<hsize_t>(columns, 1)};
    check(H5Pset_chunk(props, rank, chunk), "set chunking");
    check(H5Pset_shuffle(props), "set shuffle");
    check(H5Pset_deflate(props, 4), "set compression");
    dataset_ = H5(H5Dcreate2(parent, name, type, space, H5P_DEFAULT, props, H5P_DEFAULT), H5Dclose,
                  std::string("create dataset ") + name);
  }
  void append(const void* data, hsize_t rows) {
    if (rows == 0) return;
    int rank = columns_ ? 2 : 1;
    hsize_t new_dims[2] = {rows_ + rows, columns_};
    check(H5Dset_extent(dataset_, new_dims), "extend a dataset");
    H5 file_space(H5Dget_space(dataset_), H5Sclose, "get a dataspace");
    hsize_t start[2] = {rows_, 0}, count[2] = {rows, columns_};
    check(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, nullptr, count, nullptr),
          "select rows");
    H5 mem_space(H5Screate_simple(rank, count, nullptr), H5Sclose, "create a memory space");
    check(H5Dwrite(dataset_, type_, mem_space, file_space, H5P_DEFAULT, data), "append rows");
    rows_ += rows;
  }
  hsize_t rows() const { return rows_; }

 private:
  H5 dataset_;
  hid_t type_ = -1;
  hsize_t columns_ = 0;
  hsize_t rows_ = 0;
};

H5 make_group(hid_t parent, const char* name) {
  return H5(H5Gcreate2(parent, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
            std::string("create group ") + name);
}

void write_strings(hid_t parent, const char* name, const std::vector<std::string>& values) {
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  hsize_t dims[1] = {values.size()};
  H5 space(H5Screate_simple(1, dims, nullptr), H5Sclose, "create a dataspace");
  H5 type = string_type();
  H5 ds(H5Dcreate2(parent, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose,
        std::string("create dataset ") + name);
  if (!values.empty())
    check(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), "write strings");
}

template <class T>
void write_array(hid_t parent, const char* name, hid_t type, const std::vector<T>& values) {
  hsize_t dims[1] = {values.size()};
  H5 space(H5Screate_simple(1, dims, nullptr), H5Sclose, "create a dataspace");
  H5 ds(H5Dcreate2(parent, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose,
        std::string("create dataset ") + name);
  if (!values.empty())
    check(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), "write data");
}

void write_attr(hid_t obj, const char* name, const std::string& value) {
  H5 type(H5Tcopy(H5T_C_S1), H5Tclose, "create a string type");
  check(H5Tset_size(type, std::max<size_t>(1, value.size())), "size a string");
  check(H5Tset_cset(type, H5T_CSET_UTF8), "set UTF-8");
  H5 space(H5Screate(H5S_SCALAR), H5Sclose, "create a scalar space");
  H5 attr(H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
          std::string("create attribute ") + name);
  std::string padded = value.empty() ? std::string(1, '\0') : value;
  check(H5Awrite(attr, type, padded.data()), "write attribute");
}

std::string read_attr(hid_t obj, const char* name) {
  if (H5Aexists(obj, name) <= 0) return "";
  H5 attr(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose, std::string("open attribute ") + name);
  H5 type(H5Aget_type(attr), H5Tclose, "get an attribute type");
  if (H5Tis_variable_str(type) > 0) {
    char* value = nullptr;
    H5 mem = string_type();
    check(H5Aread(attr, mem, &value), "read attribute");
    std::string out = value ? value : "";
    H5free_memory(value);
    return out;
  }
  std::string out(H5Tget_size(type), '\0');
  check(H5Aread(attr, type, out.data()), "read attribute");
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::vector<std::string> read_strings(hid_t parent, const char* name) {
  H5 ds(H5Dopen2(parent, name, H5P_DEFAULT), H5Dclose, std::string("open ") + name);
  H5 space(H5Dget_space(ds), H5Sclose, "get a dataspace");
  hssize_t n = H5Sget_simple_extent_npoints(space);
  std::vector<char*> raw(static_cast<size_t>(n), nullptr);
  H5 type = string_type();
  if (n > 0)
    check(H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()),
          std::string("read ") + name);
  std::vector<std::string> out;
  for (char* s : raw) out.emplace_back(s ? s : "");
  if (n > 0) H5Dvlen_reclaim(type, space, H5P_DEFAULT, raw.data());
  return out;
}

template <class T>
std::vector<T> read_array(hid_t parent, const char* name, hid_t type) {
  H5 ds(H5Dopen2(parent, name, H5P_DEFAULT), H5Dclose, std::string("open ") + name);
  H5 space(H5Dget_space(ds), H5Sclose, "get a dataspace");
  std::vector<T> out(static_cast<size_t>(H5Sget_simple_extent_npoints(space)));
  if (!out.empty())
    check(H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()),
          std::string("read ") + name);
  return out;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n', pos);
    out.push_back(text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return out;
}

H5 open_store(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    throw DataError("feature store " + path.string() +
                    " does not exist; build it with `tenor data build`");
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors become our exceptions, not stderr noise
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0)
    throw DataError(path.string() +
                    " is not an HDF5 file (or is damaged); rebuild it with `tenor data build`");
  H5 file(id, H5Fclose, "open " + path.string());
  std::string format = read_attr(file, "format");
  if (format != kStoreFormat)
    throw DataError(path.string() + " has store format '" + format + "', this tenor reads '" +
                    kStoreFormat + "'; rebuild it with `tenor data build`");
  // Stores built with `--text-embeddings` (sentence vectors from a JavaScript side tool, the
  // model.text_embedding of tenor before 2026-12-06) hold what no model reads any more.
  if (const std::string encoder = read_attr(file, "text_encoder"); !encoder.empty())
    throw DataError(path.string() + " holds sentence embeddings of '" + encoder +
                    "' (`tenor data build --text-embeddings`): " + kSentenceEmbeddingsRemoved +
                    "; rebuild the store with `tenor data build DATASET --out " + path.string() +
                    "`");
  return file;
}

StoreMeta read_meta(hid_t file) {
  StoreMeta m;
  m.feature_set_version = read_attr(file, "feature_set_version");
  m.functionals_version = read_attr(file, "functionals_version");
  m.extractor_config = read_attr(file, "extractor_config");
  m.dataset_name = read_attr(file, "dataset_name");
  m.dataset_fingerprint = read_attr(file, "dataset_fingerprint");
  m.schema_yaml = read_attr(file, "schema_yaml");
  m.tokenizer_sha256 = read_attr(file, "tokenizer_sha256");
  m.tool_version = read_attr(file, "tool_version");
  m.created_utc = read_attr(file, "created_utc");
  if (H5Lexists(file, "build", H5P_DEFAULT) > 0) {
    H5 build(H5Gopen2(file, "build", H5P_DEFAULT), H5Gclose, "open /build");
    m.skipped_calls = read_strings(build, "skipped_calls");
  }
  m.dataset_dir = read_attr(file, "dataset_dir");
  return m;
}

/// "row 17 (call c-0003, segment 2, split dev)": where a value sits, in the user's words.
std::string row_name(const Store& s, size_t row) {
  const StoreSegment& g = s.segments[row];
  return "row " + std::to_string(row) + " (call " + g.call_id + ", segment " +
         std::to_string(g.segment) + (g.split.empty() ? "" : ", split " + g.split) + ")";
}

[[noreturn]] void refuse_content(const fs::path& path, const std::string& what) {
  throw DataError(path.string() + ": " + what +
                  "; the store was edited or damaged since it was built, rebuild it with `tenor "
                  "data build`");
}

std::string number(double v) {
  std::ostringstream out;
  out.precision(17);
  out << v;
  return out.str();
}

/// Ragged offsets must start at 0, never decrease and end at the number of rows they index.
void check_offsets(const fs::path& path, const char* name, const std::vector<int64_t>& offsets,
                   size_t segments, size_t rows) {
  if (offsets.size() != segments + 1 || offsets.front() != 0 || uint64_t(offsets.back()) != rows)
    refuse_content(path, std::string(name) + " holds " + std::to_string(offsets.size()) +
                             " offsets ending at " +
                             (offsets.empty() ? "nothing" : std::to_string(offsets.back())) +
                             ", not " + std::to_string(segments + 1) + " ending at " +
                             std::to_string(rows));
  for (size_t i = 1; i < offsets.size(); ++i)
    if (offsets[i] < offsets[i - 1])
      refuse_content(path, std::string(name) + " decrease at row " + std::to_string(i - 1) + " (" +
                               std::to_string(offsets[i - 1]) + " then " +
                               std::to_string(offsets[i]) + ")");
}

/// What readers index with must be in range: shapes and offsets agree, every label is -1 (no
/// label) or a class of its task, times are finite and ordered, token ids are not negative.
/// Values of features are not checked here: training names non-finite ones with its own message.
void check_store_content(const Store& s, const fs::path& path) {
  const size_t n = s.segments.size(), nf = s.layout.functional_columns.size();
  const size_t nl = s.layout.lld_columns.size();
  if (s.functionals.size() != n * nf || s.functional_mask.size() != n * nf)
    refuse_content(path, "/functionals/values or mask does not hold " + std::to_string(n) +
                             " rows of " + std::to_string(nf) + " columns");
  if (nl == 0 ? !s.frames.empty() : s.frames.size() % nl != 0)
    refuse_content(path, "/frames/lld does not have the " + std::to_string(nl) +
                             " columns /frames/names lists");
  check_offsets(path, "/frames/offsets", s.frame_offsets, n, nl ? s.frames.size() / nl : 0);
  check_offsets(path, "/tokens/offsets", s.token_offsets, n, s.tokens.size());
  for (size_t i = 0; i < s.tokens.size(); ++i)
    if (s.tokens[i] < 0)
      refuse_content(path, "token " + std::to_string(i) + " has id " +
                               std::to_string(s.tokens[i]) + ", below 0");
  for (size_t r = 0; r < n; ++r) {
    const StoreSegment& g = s.segments[r];
    if (!std::isfinite(g.start_s) || !std::isfinite(g.end_s) || g.start_s > g.end_s)
      refuse_content(path, row_name(s, r) + " has start_s " + number(g.start_s) + " and end_s " +
                               number(g.end_s) + ", not two finite times with start <= end");
    if (g.segment < 0)
      refuse_content(path, row_name(s, r) + " has segment_index " + std::to_string(g.segment));
    for (size_t t = 0; t < s.layout.tasks.size(); ++t) {
      const auto it = s.task_classes.find(s.layout.tasks[t]);
      const int32_t classes = it == s.task_classes.end() ? 0 : int32_t(it->second.size());
      if (g.labels[t] < -1 || g.labels[t] >= classes)
        refuse_content(path, row_name(s, r) + " has label " + std::to_string(g.labels[t]) +
                                 " for task '" + s.layout.tasks[t] + "', which has classes 0.." +
                                 std::to_string(classes - 1) + " (-1: no label)");
    }
  }
}


/// /segments/audio, audio_channel, audio_bytes, audio_sha256: each segment's AudioSource.
void write_audio_sources(hid_t g, const std::vector<StoreSegment>& segments) {
  std::vector<std::string> path, sha;
  std::vector<int32_t> channel;
  std::vector<int64_t> bytes;
  for (const auto& s : segments)
    path.push_back(s.audio.path), sha.push_back(s.audio.sha256),
        channel.push_back(s.audio.channel), bytes.push_back(s.audio.bytes);
  write_strings(g, "audio", path);
  write_array(g, "audio_channel", H5T_NATIVE_INT32, channel);
  write_array(g, "audio_bytes", H5T_NATIVE_INT64, bytes);
  write_strings(g, "audio_sha256", sha);
}

/// The AudioSource of every row, when the store records them (Store::has_audio_sources).
void read_audio_sources(hid_t g, Store& s, const fs::path& path) {
  s.has_audio_sources = H5Lexists(g, "audio", H5P_DEFAULT) > 0;
  if (!s.has_audio_sources) return;
  auto audio = read_strings(g, "audio");
  auto channel = read_array<int32_t>(g, "audio_channel", H5T_NATIVE_INT32);
  auto bytes = read_array<int64_t>(g, "audio_bytes", H5T_NATIVE_INT64);
  auto sha = read_strings(g, "audio_sha256");
  const size_t n = s.segments.size();
  if (audio.size() != n || channel.size() != n || bytes.size() != n || sha.size() != n)
    refuse_content(path, "the tables /segments/audio* do not all have " + std::to_string(n) +
                             " rows");
  for (size_t i = 0; i < n; ++i)
    s.segments[i].audio = {std::move(audio[i]), channel[i], bytes[i], std::move(sha[i])};
}

}  // namespace

struct StoreWriter::Impl {
  StoreLayout layout;
  H5 file, g_functionals, g_frames, g_tokens;
  Appendable functionals, functional_mask, frames, tokens;
  std::vector<int64_t> frame_offsets{0}, token_offsets{0};
  std::vector<StoreSegment> segments;
};

StoreWriter::StoreWriter(const fs::path& path, StoreLayout layout)
    : impl_(std::make_unique<Impl>()) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  auto& m = *impl_;
  m.layout = std::move(layout);
  m.file = H5(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose,
              "create " + path.string());
  m.g_functionals = make_group(m.file, "functionals");
  m.g_frames = make_group(m.file, "frames");
  m.g_tokens = make_group(m.file, "tokens");
  const hsize_t nf = m.layout.functional_columns.size(), nl = m.layout.lld_columns.size();
  m.functionals = Appendable(m.g_functionals, "values", H5T_NATIVE_FLOAT, nf, 256);
  m.functional_mask = Appendable(m.g_functionals, "mask", H5T_NATIVE_UINT8, nf, 256);
  m.frames = Appendable(m.g_frames, "lld", H5T_NATIVE_FLOAT, nl, 2048);
  m.tokens = Appendable(m.g_tokens, "ids", H5T_NATIVE_INT32, 0, 16384);
}

StoreWriter::~StoreWriter() = default;

void StoreWriter::append(const StoreSegment& segment, const std::vector<float>& functionals,
                         const std::vector<uint8_t>& mask, const std::vector<float>& frames,
                         const std::vector<int32_t>& tokens) {
  auto& m = *impl_;
  const size_t nf = m.layout.functional_columns.size(), nl = m.layout.lld_columns.size();
  if (functionals.size() != nf || mask.size() != nf || (nl && frames.size() % nl) ||
      segment.labels.size() != m.layout.tasks.size())
    throw Error("StoreWriter::append: row does not match the store's layout");
  m.functionals.append(functionals.data(), 1);
  m.functional_mask.append(mask.data(), 1);
  const hsize_t t = nl ? frames.size() / nl : 0;
  m.frames.append(frames.data(), t);
  m.frame_offsets.push_back(m.frame_offsets.back() + static_cast<int64_t>(t));
  m.tokens.append(tokens.data(), tokens.size());
  m.token_offsets.push_back(m.token_offsets.back() + static_cast<int64_t>(tokens.size()));
  m.segments.push_back(segment);
}

void StoreWriter::finish(const StoreMeta& meta,
                         const std::map<std::string, std::vector<std::string>>& task_classes,
                         const std::string& tokenizer_model) {
  auto& m = *impl_;
  write_strings(m.g_functionals, "names", m.layout.functional_columns);
  write_strings(m.g_frames, "names", m.layout.lld_columns);
  write_array(m.g_frames, "offsets", H5T_NATIVE_INT64, m.frame_offsets);
  write_array(m.g_tokens, "offsets", H5T_NATIVE_INT64, m.token_offsets);
  {
    H5 g = make_group(m.file, "segments");
    std::vector<std::string> call_id, speaker, split, meta, text;
    std::vector<int32_t> index;
    std::vector<double> start, end;
    for (const auto& s : m.segments) {
      call_id.push_back(s.call_id), speaker.push_back(s.speaker), split.push_back(s.split),
          meta.push_back(s.meta), text.push_back(s.text);
      index.push_back(s.segment), start.push_back(s.start_s), end.push_back(s.end_s);
    }
    write_strings(g, "call_id", call_id);
    write_array(g, "segment_index", H5T_NATIVE_INT32, index);
    write_strings(g, "speaker", speaker);
    write_strings(g, "split", split);
    write_strings(g, "meta", meta);
    write_strings(g, "text", text);
    write_array(g, "start_s", H5T_NATIVE_DOUBLE, start);
    write_array(g, "end_s", H5T_NATIVE_DOUBLE, end);
    write_audio_sources(g, m.segments);
  }
  {
    H5 g = make_group(m.file, "labels");
    std::string task_list;
    for (const auto& t : m.layout.tasks) task_list += (task_list.empty() ? "" : "\n") + t;
    write_attr(g, "tasks", task_list);
    for (size_t t = 0; t < m.layout.tasks.size(); ++t) {
      const std::string& task = m.layout.tasks[t];
      std::vector<int32_t> labels;
      std::vector<uint8_t> mask;
      for (const auto& s : m.segments)
        labels.push_back(s.labels[t]), mask.push_back(s.labels[t] >= 0);
      write_array(g, task.c_str(), H5T_NATIVE_INT32, labels);
      write_array(g, (task + "_mask").c_str(), H5T_NATIVE_UINT8, mask);
      H5 ds(H5Dopen2(g, task.c_str(), H5P_DEFAULT), H5Dclose, "open labels/" + task);
      std::string classes;
      if (auto it = task_classes.find(task); it != task_classes.end())
        for (const auto& c : it->second) classes += (classes.empty() ? "" : "\n") + c;
      write_attr(ds, "classes", classes);
    }
  }
  {
    H5 g = make_group(m.file, "tokenizer");
    std::vector<uint8_t> bytes(tokenizer_model.begin(), tokenizer_model.end());
    write_array(g, "sentencepiece_model", H5T_NATIVE_UINT8, bytes);
  }
  {
    H5 g = make_group(m.file, "build");
    write_strings(g, "skipped_calls", meta.skipped_calls);
  }
  write_attr(m.file, "format", kStoreFormat);
  write_attr(m.file, "feature_set_version", meta.feature_set_version);
  write_attr(m.file, "functionals_version", meta.functionals_version);
  write_attr(m.file, "extractor_config", meta.extractor_config);
  write_attr(m.file, "dataset_name", meta.dataset_name);
  write_attr(m.file, "dataset_fingerprint", meta.dataset_fingerprint);
  write_attr(m.file, "schema_yaml", meta.schema_yaml);
  write_attr(m.file, "tokenizer_sha256", meta.tokenizer_sha256);
  write_attr(m.file, "tool_version", meta.tool_version);
  write_attr(m.file, "created_utc", meta.created_utc);
  write_attr(m.file, "dataset_dir", meta.dataset_dir);
  check(H5Fflush(m.file, H5F_SCOPE_GLOBAL), "flush the store");
  m.file = H5();
}

void write_channel_convention(const fs::path& path, const std::string& json_text) {
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  if (id < 0) throw IoError("cannot open " + path.string() + " to record its channel convention");
  H5 file(id, H5Fclose, "open " + path.string());
  write_attr(file, "channel_convention", json_text);
  check(H5Fflush(file, H5F_SCOPE_GLOBAL), "flush the store");
}

std::string read_channel_convention(const fs::path& path) {
  H5 file = open_store(path);
  return read_attr(file, "channel_convention");
}

StoreMeta read_store_meta(const fs::path& path) {
  H5 file = open_store(path);
  return read_meta(file);
}

std::string read_store_tokenizer(const fs::path& path) {
  H5 file = open_store(path);
  H5 group(H5Gopen2(file, "tokenizer", H5P_DEFAULT), H5Gclose, "open /tokenizer");
  const auto model = read_array<uint8_t>(group, "sentencepiece_model", H5T_NATIVE_UINT8);
  return {model.begin(), model.end()};
}

Store read_store(const fs::path& path) {
  H5 file = open_store(path);
  Store s;
  s.format = kStoreFormat;
  s.meta = read_meta(file);
  H5 gf(H5Gopen2(file, "functionals", H5P_DEFAULT), H5Gclose, "open /functionals");
  H5 gl(H5Gopen2(file, "frames", H5P_DEFAULT), H5Gclose, "open /frames");
  H5 gt(H5Gopen2(file, "tokens", H5P_DEFAULT), H5Gclose, "open /tokens");
  H5 gs(H5Gopen2(file, "segments", H5P_DEFAULT), H5Gclose, "open /segments");
  H5 gb(H5Gopen2(file, "labels", H5P_DEFAULT), H5Gclose, "open /labels");
  H5 gk(H5Gopen2(file, "tokenizer", H5P_DEFAULT), H5Gclose, "open /tokenizer");
  s.layout.functional_columns = read_strings(gf, "names");
  s.layout.lld_columns = read_strings(gl, "names");
  s.functionals = read_array<float>(gf, "values", H5T_NATIVE_FLOAT);
  s.functional_mask = read_array<uint8_t>(gf, "mask", H5T_NATIVE_UINT8);
  s.frames = read_array<float>(gl, "lld", H5T_NATIVE_FLOAT);
  s.frame_offsets = read_array<int64_t>(gl, "offsets", H5T_NATIVE_INT64);
  s.tokens = read_array<int32_t>(gt, "ids", H5T_NATIVE_INT32);
  s.token_offsets = read_array<int64_t>(gt, "offsets", H5T_NATIVE_INT64);
  auto model = read_array<uint8_t>(gk, "sentencepiece_model", H5T_NATIVE_UINT8);
  s.tokenizer_model.assign(model.begin(), model.end());
  auto call_id = read_strings(gs, "call_id");
  auto speaker = read_strings(gs, "speaker");
  auto split = read_strings(gs, "split");
  auto meta = read_strings(gs, "meta");
  s.has_text = H5Lexists(gs, "text", H5P_DEFAULT) > 0;
  auto text = s.has_text ? read_strings(gs, "text") : std::vector<std::string>(meta.size());
  auto index = read_array<int32_t>(gs, "segment_index", H5T_NATIVE_INT32);
  auto start = read_array<double>(gs, "start_s", H5T_NATIVE_DOUBLE);
  auto end = read_array<double>(gs, "end_s", H5T_NATIVE_DOUBLE);
  // Tasks in schema order, as the writer listed them.
  std::vector<std::string> tasks = split_lines(read_attr(gb, "tasks"));
  s.layout.tasks = tasks;
  std::vector<std::vector<int32_t>> labels;
  for (const auto& t : tasks) {
    labels.push_back(read_array<int32_t>(gb, t.c_str(), H5T_NATIVE_INT32));
    H5 ds(H5Dopen2(gb, t.c_str(), H5P_DEFAULT), H5Dclose, "open labels/" + t);
    s.task_classes[t] = split_lines(read_attr(ds, "classes"));
  }
  const size_t n = call_id.size();
  bool same_length = speaker.size() == n && split.size() == n && meta.size() == n &&
                     text.size() == n &&
                     index.size() == n && start.size() == n && end.size() == n;
  for (const auto& l : labels) same_length = same_length && l.size() == n;
  if (!same_length)
    refuse_content(path, "the tables under /segments and /labels do not all have " +
                             std::to_string(n) + " rows");
  for (size_t i = 0; i < n; ++i) {
    StoreSegment seg{call_id[i], index[i],  speaker[i], split[i],
                     start[i],   end[i],    {},         meta[i],
                     std::move(text[i])};
    for (const auto& l : labels) seg.labels.push_back(l[i]);
    s.segments.push_back(std::move(seg));
  }
  read_audio_sources(gs, s, path);
  check_store_content(s, path);
  return s;
}

void check_store_versions(const StoreMeta& meta, const std::string& expected_feature_set,
                          const std::string& expected_functionals, const fs::path& path) {
  if (meta.feature_set_version != expected_feature_set ||
      meta.functionals_version != expected_functionals)
    throw DataError(path.string() + " holds features '" + meta.feature_set_version + "' / '" +
                    meta.functionals_version + "', but '" + expected_feature_set + "' / '" +
                    expected_functionals +
                    "' are expected; rebuild the store with this tenor (`tenor data build`) or use "
                    "a matching model");
}

std::string content_sha256(const Store& s) {
  Sha256 h;
  auto bytes = [&](const void* p, size_t n) {
    h.update(std::string_view(static_cast<const char*>(p), n));
  };
  auto text = [&](const std::string& t) {  // length-prefixed: no two lists hash alike
    const uint64_t n = t.size();
    bytes(&n, sizeof n);
    h.update(t);
  };
  auto texts = [&](const std::vector<std::string>& v) {
    text(std::to_string(v.size()));
    for (const auto& t : v) text(t);
  };
  auto array = [&](const auto& v) {
    text(std::to_string(v.size()));
    bytes(v.data(), v.size() * sizeof(v[0]));
  };
  text(s.format);
  text(s.meta.feature_set_version);
  text(s.meta.functionals_version);
  text(s.meta.schema_yaml);
  texts(s.layout.lld_columns);
  texts(s.layout.functional_columns);
  texts(s.layout.tasks);
  for (const auto& [task, classes] : s.task_classes) text(task), texts(classes);
  for (const auto& g : s.segments) {
    text(g.call_id), text(g.speaker), text(g.split), text(g.meta);
    bytes(&g.segment, sizeof g.segment);
    bytes(&g.start_s, sizeof g.start_s);
    bytes(&g.end_s, sizeof g.end_s);
    array(g.labels);
  }
  array(s.functionals);
  array(s.functional_mask);
  array(s.frames);
  array(s.frame_offsets);
  array(s.tokens);
  array(s.token_offsets);
  text(s.tokenizer_model);
  if (s.has_text) {  // stores without transcripts keep their former hash
    text("text");
    for (const auto& g : s.segments) text(g.text);
  }
  return h.hex();
}

void SpeakerSums::add(const float* x, int64_t frame_count, size_t fl, const float* functionals,
                      const uint8_t* mask, size_t ff) {
  lld_sum.resize(fl, 0.0);
  func_sum.resize(ff, 0.0);
  func_count.resize(ff, 0.0);
  for (int64_t t = 0; t < frame_count; ++t) {
    for (size_t c = 0; c < fl; ++c) lld_sum[c] += x[size_t(t) * fl + c];
    frames += 1;
  }
  for (size_t c = 0; c < ff; ++c)
    if (mask[c]) func_sum[c] += functionals[c], func_count[c] += 1;
}

void SpeakerSums::add(const Store& s, size_t r) {
  const size_t fl = s.layout.lld_columns.size(), ff = s.layout.functional_columns.size();
  const int64_t t0 = s.frame_offsets[r];
  add(s.frames.data() + size_t(t0) * fl, s.frame_offsets[r + 1] - t0, fl,
      s.functionals.data() + r * ff, s.functional_mask.data() + r * ff, ff);
}

void SpeakerSums::means(size_t fl, size_t ff, float* lld_mean, float* func_mean,
                        float* count) const {
  if (frames > 0)
    for (size_t c = 0; c < fl && c < lld_sum.size(); ++c) lld_mean[c] = float(lld_sum[c] / frames);
  for (size_t c = 0; c < ff && c < func_count.size(); ++c) {
    count[c] = float(func_count[c]);
    if (func_count[c] > 0) func_mean[c] = float(func_sum[c] / func_count[c]);
  }
}

std::vector<int64_t> previous_segments(const Store& store) {
  const auto& seg = store.segments;
  std::vector<int64_t> order(seg.size());
  std::iota(order.begin(), order.end(), int64_t(0));
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    const auto &x = seg[size_t(a)], &y = seg[size_t(b)];
    if (x.call_id != y.call_id) return x.call_id < y.call_id;
    if (x.start_s != y.start_s) return x.start_s < y.start_s;
    return x.segment < y.segment;
  });
  std::vector<int64_t> previous(seg.size(), -1);
  for (size_t i = 1; i < order.size(); ++i)
    if (seg[size_t(order[i])].call_id == seg[size_t(order[i - 1])].call_id)
      previous[size_t(order[i])] = order[i - 1];
  return previous;
}

}  // namespace tenor::features
