#pragma once
// A nested JSON array of numbers (what the Python references in tools/text-encoders/ write) as a
// double tensor of the same shape.
#include <functional>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace tenor::test {

inline torch::Tensor json_tensor(const nlohmann::json& nested) {
  std::vector<int64_t> shape;
  for (const auto* v = &nested; v->is_array(); v = &(*v)[0]) shape.push_back(int64_t(v->size()));
  std::vector<double> flat;
  std::function<void(const nlohmann::json&)> walk = [&](const nlohmann::json& v) {
    if (v.is_array())
      for (const auto& e : v) walk(e);
    else
      flat.push_back(v.get<double>());
  };
  walk(nested);
  return torch::tensor(flat, torch::kDouble).view(shape);
}

}  // namespace tenor::test
