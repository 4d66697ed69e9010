// EPLB placement report shared by the suite and `dsbench placement`: runs the C++ EPLB over a
// load matrix and measures per-GPU balancedness before (contiguous, no redundancy) and after.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "dsbench/kernels/moe_eplb.h"
#include "moe_routing/routing_trace.h"

namespace dsbench::suites::moe {

struct PlacementParams {
  int replicas = 0;  // physical experts per layer (logical + redundant)
  int groups = 1;
  int nodes = 1;
  int gpus = 1;
};

struct PlacementReport {
  kernels::EplbPlacement placement;
  std::vector<double> before_balancedness, after_balancedness;  // per layer, mean/max over GPUs
  std::vector<double> before_max_over_mean, after_max_over_mean;
  double mean_before = 0, mean_after = 0;    // averaged over layers
  double worst_before = 0, worst_after = 0;  // lowest balancedness of any layer
};

// UsageError naming the option (--replicas, --groups, --nodes, --gpus) when EPLB's constraints
// fail for this matrix.
PlacementReport plan_placement(const LoadMatrix& loads, const PlacementParams& p);

// {"phy2log": [[...]], "log2phy": [[[...]]], "logcnt": [[...]], "layers": [...], balancedness ...}
nlohmann::json placement_json(const LoadMatrix& loads, const PlacementParams& p,
                              const PlacementReport& r, bool with_maps);

}  // namespace dsbench::suites::moe
