// Options of the moe_routing suite (plan "options" object), validated with UsageErrors that name
// the field, and the shared plan sizes that ctx.quick shrinks.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "dsbench/kernels/dtype.h"

namespace dsbench::suites::moe {

struct MoeSuiteOptions {
  std::string trace;  // routing trace to replay (source "trace"); empty: skipped
  double zipf_s = 1.0;
  double dirichlet_alpha = 0.3;
  double noise = 1.0;
  double gamma = 0.001;  // bias update speed
  int steps = 500;       // balancing simulation steps
  int64_t tokens_per_step = 1024;
  int64_t tokens = 4096;  // tokens per batch window (metrics)
  int windows = 8;        // batch windows per layer (metrics)
  int max_layers = 0;     // 0 = every MoE layer
  int nodes = 0;          // nodes for nodes-per-token; 0 = n_group when > 1 (a group per node, as
                          // DeepSeek-V3's node-limited routing assumes), else 8
  int eplb_gpus = 0;      // 0 = chosen from the expert count
  int eplb_nodes = 0;
  kernels::DType dispatch_dtype = kernels::DType::kBF16;
  int64_t router_tokens = 16384;  // timed router batch
  int64_t permute_tokens = 0;     // 0 = sized so the permuted rows exceed the LLC
};

// Reads ctx.options over the defaults (quick-mode sizes first when quick). UsageError
// "moe_routing options.FIELD: ..." for a wrong type or range.
MoeSuiteOptions parse_suite_options(const nlohmann::json& options, bool quick);

}  // namespace dsbench::suites::moe
