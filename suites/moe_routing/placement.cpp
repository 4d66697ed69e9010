// EPLB placement report (placement.h).
#include "moe_routing/placement.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "dsbench/error.h"
#include "dsbench/kernels/moe_metrics.h"

namespace dsbench::suites::moe {

using nlohmann::json;

PlacementReport plan_placement(const LoadMatrix& m, const PlacementParams& p) {
  const std::string src = m.source + ": ";
  if (p.gpus <= 0) throw UsageError("--gpus: must be > 0");
  if (p.nodes <= 0) throw UsageError("--nodes: must be > 0");
  if (p.groups <= 0) throw UsageError("--groups: must be > 0");
  if (p.replicas < m.experts)
    throw UsageError("--replicas: " + std::to_string(p.replicas) + " is below the " +
                     std::to_string(m.experts) + " experts of " + m.source);
  if (p.replicas % p.gpus != 0)
    throw UsageError("--replicas: " + std::to_string(p.replicas) + " is not a multiple of --gpus " +
                     std::to_string(p.gpus));
  if (p.gpus % p.nodes != 0)
    throw UsageError("--gpus: " + std::to_string(p.gpus) + " is not a multiple of --nodes " +
                     std::to_string(p.nodes));
  const bool hier = p.groups % p.nodes == 0;
  if (hier && m.experts % p.groups != 0)
    throw UsageError("--groups: " + std::to_string(p.groups) + " does not divide the " +
                     std::to_string(m.experts) + " experts of " + m.source);
  if (hier && (m.experts % p.nodes != 0 || (p.replicas / p.nodes) % (p.gpus / p.nodes) != 0))
    throw UsageError("--nodes: " + std::to_string(p.nodes) + " does not split the experts evenly");
  PlacementReport r;
  try {
    r.placement = kernels::eplb_rebalance(m.load.data(), m.layers, m.experts, p.replicas, p.groups,
                                          p.nodes, p.gpus);
  } catch (const std::invalid_argument& e) {
    throw UsageError(src + e.what());
  }
  r.worst_before = r.worst_after = 1;
  for (int l = 0; l < m.layers; ++l) {
    const double* w = m.load.data() + size_t(l) * m.experts;
    const auto before = kernels::load_stats(kernels::contiguous_gpu_loads(w, m.experts, p.gpus));
    const auto after = kernels::load_stats(kernels::eplb_gpu_loads(
        w, r.placement.phy2log.data() + size_t(l) * p.replicas,
        r.placement.logcnt.data() + size_t(l) * m.experts, p.replicas, p.gpus));
    r.before_balancedness.push_back(before.balancedness);
    r.after_balancedness.push_back(after.balancedness);
    r.before_max_over_mean.push_back(before.max_over_mean);
    r.after_max_over_mean.push_back(after.max_over_mean);
    r.mean_before += before.balancedness / m.layers;
    r.mean_after += after.balancedness / m.layers;
    r.worst_before = std::min(r.worst_before, before.balancedness);
    r.worst_after = std::min(r.worst_after, after.balancedness);
  }
  return r;
}

json placement_json(const LoadMatrix& m, const PlacementParams& p, const PlacementReport& r,
                    bool with_maps) {
  const auto& P = r.placement;
  json j = {{"source", m.source},
            {"layers", m.layer_ids},
            {"experts", m.experts},
            {"replicas", p.replicas},
            {"groups", p.groups},
            {"nodes", p.nodes},
            {"gpus", p.gpus},
            {"policy", P.hierarchical ? "hierarchical" : "global"},
            {"balancedness_before", r.before_balancedness},
            {"balancedness_after", r.after_balancedness},
            {"max_over_mean_before", r.before_max_over_mean},
            {"max_over_mean_after", r.after_max_over_mean},
            {"mean_balancedness_before", r.mean_before},
            {"mean_balancedness_after", r.mean_after}};
  if (!with_maps) return j;
  json phy2log = json::array(), log2phy = json::array(), logcnt = json::array();
  for (int l = 0; l < P.layers; ++l) {
    phy2log.push_back(std::vector<int32_t>(P.phy2log.begin() + size_t(l) * P.num_replicas,
                                           P.phy2log.begin() + size_t(l + 1) * P.num_replicas));
    logcnt.push_back(std::vector<int32_t>(P.logcnt.begin() + size_t(l) * P.num_logical,
                                          P.logcnt.begin() + size_t(l + 1) * P.num_logical));
    json layer = json::array();
    for (int e = 0; e < P.num_logical; ++e) {
      const size_t b = (size_t(l) * P.num_logical + e) * P.max_replicas;
      layer.push_back(
          std::vector<int32_t>(P.log2phy.begin() + b, P.log2phy.begin() + b + P.max_replicas));
    }
    log2phy.push_back(std::move(layer));
  }
  j["phy2log"] = std::move(phy2log);
  j["log2phy"] = std::move(log2phy);
  j["logcnt"] = std::move(logcnt);
  return j;
}

}  // namespace dsbench::suites::moe
