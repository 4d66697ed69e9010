// Expert-parallel load balancing with redundant experts, following DeepSeek's published EPLB
// algorithm (deepseek-ai/EPLB): balanced packing, replication of the heaviest experts, and the
// hierarchical policy (groups -> nodes, replicate within a node, physical experts -> GPUs).
#pragma once

#include <cstdint>
#include <vector>

namespace dsbench::kernels {

// Packs n weighted items into num_packs packs of exactly n/num_packs items each, heaviest first,
// each into the lightest pack that still has room (ties: lower item id first, lower pack first).
void eplb_balanced_packing(const double* weight, int n, int num_packs, int32_t* pack_index,
                           int32_t* rank_in_pack);

// Replicates num_log experts into num_phy physical slots: slots [0, num_log) are the experts
// themselves, each further slot copies the expert with the largest load per replica (ties: lower
// id). phy2log/rank: [num_phy]; logcnt: [num_log].
void eplb_replicate(const double* weight, int num_log, int num_phy, int32_t* phy2log, int32_t* rank,
                    int32_t* logcnt);

// EPLB's outputs, under EPLB's names. Physical expert p lives on GPU p / (num_replicas/num_gpus).
struct EplbPlacement {
  int layers = 0, num_logical = 0, num_replicas = 0, max_replicas = 0;
  bool hierarchical = false;
  std::vector<int32_t> phy2log;  // [layers, num_replicas]
  std::vector<int32_t> phyrank;  // [layers, num_replicas] replica index of each physical expert
  std::vector<int32_t> log2phy;  // [layers, num_logical, max_replicas], padded with -1
  std::vector<int32_t> logcnt;   // [layers, num_logical]
};

// weight: [layers, num_logical] load statistics. Hierarchical when num_groups % num_nodes == 0,
// otherwise the global policy (the hierarchical one with a single group on a single node, as
// current EPLB and vLLM do). Throws std::invalid_argument naming the violated constraint:
// num_replicas >= num_logical and a multiple of num_gpus, num_gpus a multiple of num_nodes,
// num_logical a multiple of num_groups, (hierarchical) num_logical / num_nodes experts per node.
EplbPlacement eplb_rebalance(const double* weight, int layers, int num_logical, int num_replicas,
                             int num_groups, int num_nodes, int num_gpus);

// Load per GPU of one layer: each physical expert carries weight[log] / logcnt[log].
std::vector<double> eplb_gpu_loads(const double* weight_row, const int32_t* phy2log_row,
                                   const int32_t* logcnt_row, int num_replicas, int num_gpus);

// Load per GPU of one layer with no redundancy and contiguous placement (the "before").
std::vector<double> contiguous_gpu_loads(const double* weight_row, int num_logical, int num_gpus);

}  // namespace dsbench::kernels
