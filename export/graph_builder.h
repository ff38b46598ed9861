#pragma once
// A small writer of ONNX graphs on libonnx's protobuf (onnx::GraphProto): unique value
// names, nodes with attributes, typed inputs/outputs with dynamic axes, and initializers.
// No LibTorch here; layer emitters (export/onnx_layers.h) add the weights.

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <initializer_list>
#include <set>
#include <string>
#include <vector>

namespace tenor::onnx_export {

/// The opset every graph is written for, and the IR version of the model file (ONNX 1.12:
/// IR 8), which ONNX Runtime 1.14 and later load.
inline constexpr int64_t kOpset = 17;
inline constexpr int64_t kIrVersion = 8;

/// One node attribute: int, float, string or int list.
struct Attr {
  std::string name;
  onnx::AttributeProto::AttributeType type = onnx::AttributeProto::INT;
  int64_t i = 0;
  float f = 0;
  std::string s;
  std::vector<int64_t> ints;
  static Attr integer(std::string name, int64_t v);
  static Attr real(std::string name, float v);
  static Attr string(std::string name, std::string v);
  static Attr integers(std::string name, std::vector<int64_t> v);
};

/// A dimension of a graph input or output: fixed (`value` >= 0) or symbolic (`param`).
struct Dim {
  int64_t value = -1;
  std::string param;
  Dim(int64_t v) : value(v) {}      // NOLINT: dims read as numbers
  Dim(const char* p) : param(p) {}  // NOLINT: and as names
};

/// Builds one graph. Value names are unique: `fresh(hint)` appends a counter.
class GraphBuilder {
 public:
  explicit GraphBuilder(std::string name);

  onnx::GraphProto& graph() { return graph_; }

  /// Declares a graph input / output. `elem`: onnx::TensorProto::FLOAT, INT64, ...
  void input(const std::string& name, int32_t elem, const std::vector<Dim>& dims);
  void output(const std::string& value, const std::string& name, int32_t elem,
              const std::vector<Dim>& dims);

  /// Adds a float initializer named `name` (a module path: "prosody.gru.weight_ih_l0").
  /// Throws ExportError when the name is taken.
  const std::string& initializer(const std::string& name, const std::vector<int64_t>& dims,
                                 const float* data);
  /// Adds an int8 initializer (a quantised weight, export/onnx_bert.h), as `initializer`.
  const std::string& initializer_i8(const std::string& name, const std::vector<int64_t>& dims,
                                    const int8_t* data);
  bool has_initializer(const std::string& name) const { return names_.count(name) > 0; }
  const std::set<std::string>& initializer_names() const { return initializers_; }

  /// Constants (initializers with generated names).
  std::string const_i64(const std::vector<int64_t>& values, bool scalar = false);
  std::string const_f32(const std::vector<float>& values, const std::vector<int64_t>& dims);
  std::string scalar_f32(float v) { return const_f32({v}, {}); }

  /// Adds a node with one output; returns the output's (fresh) name.
  std::string op(const std::string& type, const std::vector<std::string>& inputs,
                 const std::vector<Attr>& attrs = {}, const std::string& hint = "");
  /// Adds a node with `outputs` outputs; returns their names.
  std::vector<std::string> op_n(const std::string& type, const std::vector<std::string>& inputs,
                                int outputs, const std::vector<Attr>& attrs = {},
                                const std::string& hint = "");

  // Shorthands for frequent nodes.
  std::string unsqueeze(const std::string& x, std::vector<int64_t> axes);
  std::string squeeze(const std::string& x, std::vector<int64_t> axes);
  std::string transpose(const std::string& x, std::vector<int64_t> perm);
  std::string cast(const std::string& x, int32_t to);
  /// Dimension `axis` of `x` as a 1-element int64 tensor.
  std::string dim(const std::string& x, int64_t axis);
  /// Float zeros of shape `shape` (an int64 1-D tensor value).
  std::string zeros(const std::string& shape, float value = 0.0f);
  /// ReduceSum over `axes` (opset 13: axes as an input).
  std::string reduce_sum(const std::string& x, std::vector<int64_t> axes, bool keepdims);

  /// A fresh value name starting with `hint`.
  std::string fresh(const std::string& hint);

 private:
  const std::string& add_initializer(const std::string& name, const std::vector<int64_t>& dims,
                                     int32_t elem, const char* data, size_t element_bytes);

  onnx::GraphProto graph_;
  std::set<std::string> names_;
  std::set<std::string> initializers_;
  int64_t counter_ = 0;
};

/// Wraps a finished graph into a model (opset kOpset, IR kIrVersion, producer tenor).
onnx::ModelProto make_model_proto(GraphBuilder&& graph, const std::string& doc);

/// Runs onnx::checker (full check) and strict shape inference on `model`; throws ExportError
/// with libonnx's message.
void check_model(const onnx::ModelProto& model);

/// Serialises to bytes; throws ExportError when protobuf refuses (e.g. over 2 GiB).
std::string serialize(const onnx::ModelProto& model);

}  // namespace tenor::onnx_export
