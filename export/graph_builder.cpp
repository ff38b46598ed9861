#include "export/graph_builder.h"

#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>

#include <cstring>

#include "core/error.h"
#include "core/version.h"

namespace tenor::onnx_export {

Attr Attr::integer(std::string name, int64_t v) {
  Attr a;
  a.name = std::move(name);
  a.type = onnx::AttributeProto::INT;
  a.i = v;
  return a;
}
Attr Attr::real(std::string name, float v) {
  Attr a;
  a.name = std::move(name);
  a.type = onnx::AttributeProto::FLOAT;
  a.f = v;
  return a;
}
Attr Attr::string(std::string name, std::string v) {
  Attr a;
  a.name = std::move(name);
  a.type = onnx::AttributeProto::STRING;
  a.s = std::move(v);
  return a;
}
Attr Attr::integers(std::string name, std::vector<int64_t> v) {
  Attr a;
  a.name = std::move(name);
  a.type = onnx::AttributeProto::INTS;
  a.ints = std::move(v);
  return a;
}

GraphBuilder::GraphBuilder(std::string name) { graph_.set_name(std::move(name)); }

namespace {
void set_type(onnx::ValueInfoProto* info, int32_t elem, const std::vector<Dim>& dims) {
  auto* tensor = info->mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(elem);
  auto* shape = tensor->mutable_shape();
  for (const auto& d : dims) {
    auto* dim = shape->add_dim();
    if (d.value >= 0)
      dim->set_dim_value(d.value);
    else
      dim->set_dim_param(d.param);
  }
}
}  // namespace

void GraphBuilder::input(const std::string& name, int32_t elem, const std::vector<Dim>& dims) {
  names_.insert(name);
  auto* info = graph_.add_input();
  info->set_name(name);
  set_type(info, elem, dims);
}

void GraphBuilder::output(const std::string& value, const std::string& name, int32_t elem,
                          const std::vector<Dim>& dims) {
  // Outputs get their public name through an Identity so that internal names stay free.
  names_.insert(name);
  auto* node = graph_.add_node();
  node->set_op_type("Identity");
  node->set_name("output_" + name);
  node->add_input(value);
  node->add_output(name);
  auto* info = graph_.add_output();
  info->set_name(name);
  set_type(info, elem, dims);
}

const std::string& GraphBuilder::initializer(const std::string& name,
                                             const std::vector<int64_t>& dims, const float* data) {
  return add_initializer(name, dims, onnx::TensorProto::FLOAT,
                         reinterpret_cast<const char*>(data), sizeof(float));
}

const std::string& GraphBuilder::initializer_i8(const std::string& name,
                                                const std::vector<int64_t>& dims,
                                                const int8_t* data) {
  return add_initializer(name, dims, onnx::TensorProto::INT8,
                         reinterpret_cast<const char*>(data), 1);
}

const std::string& GraphBuilder::add_initializer(const std::string& name,
                                                 const std::vector<int64_t>& dims, int32_t elem,
                                                 const char* data, size_t element_bytes) {
  if (!names_.insert(name).second)
    throw ExportError("ONNX initializer '" + name +
                      "' is defined twice; module paths must be unique");
  initializers_.insert(name);
  auto* t = graph_.add_initializer();
  t->set_name(name);
  t->set_data_type(elem);
  int64_t n = 1;
  for (int64_t d : dims) t->add_dims(d), n *= d;
  // raw_data is little-endian by the ONNX spec, as is every platform we build on.
  t->set_raw_data(std::string(data, size_t(n) * element_bytes));
  return *names_.find(name);
}

std::string GraphBuilder::const_i64(const std::vector<int64_t>& values, bool scalar) {
  std::string name = fresh("const_i64");
  auto* t = graph_.add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  if (!scalar) t->add_dims(int64_t(values.size()));
  for (int64_t v : values) t->add_int64_data(v);
  return name;
}

std::string GraphBuilder::const_f32(const std::vector<float>& values,
                                    const std::vector<int64_t>& dims) {
  std::string name = fresh("const_f32");
  auto* t = graph_.add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t->add_dims(d);
  for (float v : values) t->add_float_data(v);
  return name;
}

std::string GraphBuilder::fresh(const std::string& hint) {
  std::string base = hint.empty() ? "v" : hint;
  for (;;) {
    std::string name = base + "_" + std::to_string(counter_++);
    if (names_.insert(name).second) return name;
  }
}

std::vector<std::string> GraphBuilder::op_n(const std::string& type,
                                            const std::vector<std::string>& inputs, int outputs,
                                            const std::vector<Attr>& attrs,
                                            const std::string& hint) {
  auto* node = graph_.add_node();
  node->set_op_type(type);
  std::vector<std::string> out;
  for (int i = 0; i < outputs; ++i) out.push_back(fresh(hint.empty() ? type : hint));
  node->set_name(out.front() + "_node");
  for (const auto& in : inputs) node->add_input(in);
  for (const auto& o : out) node->add_output(o);
  for (const auto& a : attrs) {
    auto* p = node->add_attribute();
    p->set_name(a.name);
    p->set_type(a.type);
    switch (a.type) {
      case onnx::AttributeProto::INT:
        p->set_i(a.i);
        break;
      case onnx::AttributeProto::FLOAT:
        p->set_f(a.f);
        break;
      case onnx::AttributeProto::STRING:
        p->set_s(a.s);
        break;
      case onnx::AttributeProto::INTS:
        for (int64_t v : a.ints) p->add_ints(v);
        break;
      default:
        throw ExportError("attribute type of '" + a.name + "' is not supported by the writer");
    }
  }
  return out;
}

std::string GraphBuilder::op(const std::string& type, const std::vector<std::string>& inputs,
                             const std::vector<Attr>& attrs, const std::string& hint) {
  return op_n(type, inputs, 1, attrs, hint).front();
}

std::string GraphBuilder::unsqueeze(const std::string& x, std::vector<int64_t> axes) {
  return op("Unsqueeze", {x, const_i64(axes)});
}
std::string GraphBuilder::squeeze(const std::string& x, std::vector<int64_t> axes) {
  return op("Squeeze", {x, const_i64(axes)});
}
std::string GraphBuilder::transpose(const std::string& x, std::vector<int64_t> perm) {
  return op("Transpose", {x}, {Attr::integers("perm", std::move(perm))});
}
std::string GraphBuilder::cast(const std::string& x, int32_t to) {
  return op("Cast", {x}, {Attr::integer("to", to)});
}
std::string GraphBuilder::dim(const std::string& x, int64_t axis) {
  return op("Shape", {x}, {Attr::integer("start", axis), Attr::integer("end", axis + 1)});
}
std::string GraphBuilder::zeros(const std::string& shape, float value) {
  onnx::TensorProto v;
  v.set_data_type(onnx::TensorProto::FLOAT);
  v.add_dims(1);
  v.add_float_data(value);
  auto out = op("ConstantOfShape", {shape});
  auto* a = graph_.mutable_node(graph_.node_size() - 1)->add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  *a->mutable_t() = v;
  return out;
}
std::string GraphBuilder::reduce_sum(const std::string& x, std::vector<int64_t> axes,
                                     bool keepdims) {
  return op("ReduceSum", {x, const_i64(axes)}, {Attr::integer("keepdims", keepdims ? 1 : 0)});
}

onnx::ModelProto make_model_proto(GraphBuilder&& graph, const std::string& doc) {
  onnx::ModelProto model;
  model.set_ir_version(kIrVersion);
  model.set_producer_name("tenor");
  model.set_producer_version(std::string(kVersion) + " (" + kGitCommit + ")");
  model.set_doc_string(doc);
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOpset);
  *model.mutable_graph() = std::move(graph.graph());
  return model;
}

void check_model(const onnx::ModelProto& model) {
  try {
    onnx::checker::check_model(model);
    onnx::ModelProto copy = model;
    onnx::ShapeInferenceOptions options(/*check_type=*/true, /*strict_mode=*/1,
                                        /*data_prop=*/false);
    onnx::shape_inference::InferShapes(copy, onnx::OpSchemaRegistry::Instance(), options);
  } catch (const std::exception& e) {
    throw ExportError(std::string("the exported ONNX graph fails onnx::checker or shape "
                                  "inference: ") +
                      e.what() + "; this is a bug in tenor's ONNX writer, please report it");
  }
}

std::string serialize(const onnx::ModelProto& model) {
  std::string bytes;
  if (!model.SerializeToString(&bytes))
    throw ExportError("protobuf could not serialise the ONNX model (is it over 2 GiB?)");
  return bytes;
}

}  // namespace tenor::onnx_export
