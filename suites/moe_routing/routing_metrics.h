// Load-balance figures of one token source on one model: per layer, per batch window, and
// aggregated over layers (docs/suites/moe_routing.md, benchmark "balance/<source>").
#pragma once

#include <cstdint>
#include <vector>

#include "dsbench/kernels/moe_gate.h"
#include "dsbench/registry.h"
#include "moe_routing/token_sources.h"

namespace dsbench::suites::moe {

struct RoutingMetricsConfig {
  std::vector<int> layers;  // model layer indices to route
  int64_t tokens = 4096;    // per window
  int windows = 8;
  int nodes = 8;          // for nodes touched per token
  int64_t hidden = 0;     // for dispatch bytes
  double elem_bytes = 2;  // dispatch dtype size
};

// EP degrees 8..256 that divide n_experts.
std::vector<int> ep_degrees(int n_experts);
// The EP degree used for per-rank dispatch bytes: the largest of 64, 32, 16, 8 dividing E.
int dispatch_ep(int n_experts);
// The node count actually used: `nodes` when it divides E, else the largest divisor below it.
int effective_nodes(int n_experts, int nodes);

// samples: max/mean of each layer (tokens of all windows together). counters: aggregates.
// data: {"layers": [...per layer...], "ep": [...], "nodes": N, ...} (see the suite doc).
Measurement measure_routing_metrics(TokenSource& src, const kernels::GateConfig& gate,
                                    const RoutingMetricsConfig& cfg);

}  // namespace dsbench::suites::moe
