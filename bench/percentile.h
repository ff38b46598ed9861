#pragma once
// The q-quantile of timings for the benchmarks, linearly interpolated between order statistics
// (numpy's default), so that p50/p95/p99 read alike across bench programs.
#include <algorithm>
#include <cstddef>
#include <vector>

namespace tenor::bench {

inline double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * double(v.size() - 1);
  const size_t lo = size_t(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - double(lo)) * (v[hi] - v[lo]);
}

}  // namespace tenor::bench
