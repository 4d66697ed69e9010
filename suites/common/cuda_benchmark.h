// The common shape of a suite's CUDA benchmark: device "cuda", manual time from CUDA events, and
// skipped with the reason when no device is usable.
#pragma once

#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "dsbench/registry.h"

namespace dsbench::suites {

inline Benchmark cuda_benchmark(const SuiteContext& ctx, const std::string& name,
                                nlohmann::json params) {
  Benchmark b;
  b.name = name;
  params["device"] = "cuda";
  b.params = std::move(params);
  b.device = "cuda";
  b.manual_time = true;
  if (!ctx.cuda_available) b.skipped = ctx.cuda_reason.empty() ? "no CUDA device" : ctx.cuda_reason;
  return b;
}

}  // namespace dsbench::suites
