// EPLB (moe_eplb.h) in C++: the same steps and outputs as deepseek-ai/EPLB's rebalance_experts,
// written over plain arrays, one layer at a time.
#include "dsbench/kernels/moe_eplb.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>

namespace dsbench::kernels {

void eplb_balanced_packing(const double* w, int n, int num_packs, int32_t* pack_index,
                           int32_t* rank_in_pack) {
  if (num_packs <= 0 || n % num_packs != 0)
    throw std::invalid_argument("eplb: " + std::to_string(n) + " items do not split into " +
                                std::to_string(num_packs) + " equal packs");
  const int per_pack = n / num_packs;
  if (per_pack == 1) {
    for (int i = 0; i < n; ++i) {
      pack_index[i] = i;
      rank_in_pack[i] = 0;
    }
    return;
  }
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return w[a] > w[b]; });
  std::vector<double> pack_w(num_packs, 0.0);
  std::vector<int> pack_n(num_packs, 0);
  for (int item : order) {
    int best = -1;
    for (int p = 0; p < num_packs; ++p)
      if (pack_n[p] < per_pack && (best < 0 || pack_w[p] < pack_w[best])) best = p;
    pack_index[item] = best;
    rank_in_pack[item] = pack_n[best]++;
    pack_w[best] += w[item];
  }
}

void eplb_replicate(const double* w, int num_log, int num_phy, int32_t* phy2log, int32_t* rank,
                    int32_t* logcnt) {
  if (num_phy < num_log) throw std::invalid_argument("eplb: fewer physical than logical experts");
  for (int i = 0; i < num_log; ++i) {
    phy2log[i] = i;
    rank[i] = 0;
    logcnt[i] = 1;
  }
  for (int p = num_log; p < num_phy; ++p) {
    int best = 0;
    for (int i = 1; i < num_log; ++i)
      if (w[i] / logcnt[i] > w[best] / logcnt[best]) best = i;
    phy2log[p] = best;
    rank[p] = logcnt[best]++;
  }
}

namespace {

void check(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("eplb: " + what);
}

// One layer of the hierarchical policy. Outputs phy2log/phyrank [num_phy], logcnt [num_log].
void hierarchical_layer(const double* w, int num_log, int num_phy, int num_groups, int num_nodes,
                        int num_gpus, int32_t* phy2log, int32_t* phyrank, int32_t* logcnt) {
  const int group_size = num_log / num_groups;
  const int groups_per_node = num_groups / num_nodes;
  const int phy_per_gpu = num_phy / num_gpus;
  const int log_per_node = num_log / num_nodes;
  const int phy_per_node = num_phy / num_nodes;
  const int gpus_per_node = num_gpus / num_nodes;

  // Step 1: pack groups onto nodes; log2mlog renumbers experts node-major ("middle" ids).
  std::vector<double> group_w(num_groups, 0.0);
  for (int e = 0; e < num_log; ++e) group_w[e / group_size] += w[e];
  std::vector<int32_t> gpack(num_groups), grank(num_groups);
  eplb_balanced_packing(group_w.data(), num_groups, num_nodes, gpack.data(), grank.data());
  std::vector<int> log2mlog(num_log), mlog2log(num_log);
  for (int e = 0; e < num_log; ++e) {
    int g = e / group_size;
    log2mlog[e] = (gpack[g] * groups_per_node + grank[g]) * group_size + e % group_size;
    mlog2log[log2mlog[e]] = e;
  }

  std::vector<double> mw(log_per_node), pw(phy_per_node);
  std::vector<int32_t> p2m(phy_per_node), prank(phy_per_node), mcnt(log_per_node);
  std::vector<int32_t> pack(phy_per_node), rin(phy_per_node);
  for (int node = 0; node < num_nodes; ++node) {
    // Step 2: replicate within the node.
    for (int i = 0; i < log_per_node; ++i) mw[i] = w[mlog2log[node * log_per_node + i]];
    eplb_replicate(mw.data(), log_per_node, phy_per_node, p2m.data(), prank.data(), mcnt.data());
    // Step 3: pack the node's physical experts onto its GPUs by load per replica.
    for (int p = 0; p < phy_per_node; ++p) pw[p] = mw[p2m[p]] / mcnt[p2m[p]];
    eplb_balanced_packing(pw.data(), phy_per_node, gpus_per_node, pack.data(), rin.data());
    for (int p = 0; p < phy_per_node; ++p) {
      const int slot = node * phy_per_node + pack[p] * phy_per_gpu + rin[p];
      phy2log[slot] = mlog2log[node * log_per_node + p2m[p]];
      phyrank[slot] = prank[p];
    }
    for (int i = 0; i < log_per_node; ++i) logcnt[mlog2log[node * log_per_node + i]] = mcnt[i];
  }
}

}  // namespace

EplbPlacement eplb_rebalance(const double* weight, int layers, int num_log, int num_phy,
                             int num_groups, int num_nodes, int num_gpus) {
  check(layers > 0 && num_log > 0, "need at least one layer and one expert");
  check(num_groups > 0 && num_nodes > 0 && num_gpus > 0, "groups, nodes and gpus must be > 0");
  check(num_phy >= num_log,
        "replicas (" + std::to_string(num_phy) + ") < experts (" + std::to_string(num_log) + ")");
  check(num_gpus % num_nodes == 0, "gpus (" + std::to_string(num_gpus) +
                                       ") not a multiple of nodes (" + std::to_string(num_nodes) +
                                       ")");
  check(num_phy % num_gpus == 0, "replicas (" + std::to_string(num_phy) +
                                     ") not a multiple of gpus (" + std::to_string(num_gpus) + ")");
  EplbPlacement r;
  r.layers = layers;
  r.num_logical = num_log;
  r.num_replicas = num_phy;
  r.hierarchical = num_groups % num_nodes == 0;
  int g = num_groups, n = num_nodes;
  if (!r.hierarchical) g = n = 1;
  check(num_log % g == 0, "experts (" + std::to_string(num_log) + ") not a multiple of groups (" +
                              std::to_string(g) + ")");
  r.phy2log.assign(size_t(layers) * num_phy, -1);
  r.phyrank.assign(size_t(layers) * num_phy, 0);
  r.logcnt.assign(size_t(layers) * num_log, 0);
  for (int l = 0; l < layers; ++l)
    hierarchical_layer(weight + size_t(l) * num_log, num_log, num_phy, g, n, num_gpus,
                       r.phy2log.data() + size_t(l) * num_phy,
                       r.phyrank.data() + size_t(l) * num_phy,
                       r.logcnt.data() + size_t(l) * num_log);
  r.max_replicas = *std::max_element(r.logcnt.begin(), r.logcnt.end());
  r.log2phy.assign(size_t(layers) * num_log * r.max_replicas, -1);
  for (int l = 0; l < layers; ++l)
    for (int p = 0; p < num_phy; ++p) {
      const size_t i = size_t(l) * num_phy + p;
      r.log2phy[(size_t(l) * num_log + r.phy2log[i]) * r.max_replicas + r.phyrank[i]] = p;
    }
  return r;
}

std::vector<double> eplb_gpu_loads(const double* w, const int32_t* phy2log, const int32_t* logcnt,
                                   int num_phy, int num_gpus) {
  std::vector<double> out(num_gpus, 0.0);
  const int per = num_phy / num_gpus;
  for (int p = 0; p < num_phy; ++p) out[p / per] += w[phy2log[p]] / logcnt[phy2log[p]];
  return out;
}

std::vector<double> contiguous_gpu_loads(const double* w, int num_log, int num_gpus) {
  std::vector<double> out(num_gpus, 0.0);
  for (int e = 0; e < num_log; ++e) out[int64_t(e) * num_gpus / num_log] += w[e];
  return out;
}

}  // namespace dsbench::kernels
