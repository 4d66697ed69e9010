// MoE gate on CUDA (DeepSeek-V3 noaux_tc, V2 greedy / group-limited greedy, softmax top-k): one
// warp per token, scores in shared memory, selection by repeated warp arg-max with ties broken
// toward the lower id, exactly as the CPU gate orders its output.
#include <math.h>

#include <stdexcept>
#include <string>

#include "dsbench/kernels/cuda/check.h"
#include "dsbench/kernels/cuda/moe_gate.h"

namespace dsbench::kernels::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kMaxExperts = 1024;
constexpr int kPerLane = kMaxExperts / 32;

struct Cfg {
  int E, K, G, topk_group;
  bool sigmoid, grouped, sum_top2, norm;
  float rsf;
};

// (value, id) is better than (bv, bid): larger value, or equal value and lower id; NaN never wins.
__device__ __forceinline__ bool better(float v, int id, float bv, int bid) {
  return v > bv || (v == bv && id < bid && bid >= 0) || (bid < 0 && v == v);
}

__device__ __forceinline__ void warp_argmax(float& v, int& id) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, v, off);
    const int oid = __shfl_xor_sync(0xffffffffu, id, off);
    if (oid >= 0 && better(ov, oid, v, id)) {
      v = ov;
      id = oid;
    }
  }
}

__global__ void __launch_bounds__(kWarps * 32)
    gate_kernel(Cfg c, const float* __restrict__ logits, int64_t n_tokens,
                const float* __restrict__ bias, int32_t* __restrict__ ids,
                float* __restrict__ weights) {
  extern __shared__ float smem[];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t t = int64_t(blockIdx.x) * kWarps + warp;
  if (t >= n_tokens) return;
  float* score = smem + warp * 2 * c.E;
  float* choice = score + c.E;
  const float* x = logits + t * c.E;

  if (c.sigmoid) {
    for (int e = lane; e < c.E; e += 32) score[e] = 1.0f / (1.0f + expf(-x[e]));
  } else {
    float m = -INFINITY;
    for (int e = lane; e < c.E; e += 32) m = fmaxf(m, x[e]);
    for (int off = 16; off > 0; off >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, off));
    float sum = 0;
    for (int e = lane; e < c.E; e += 32) {
      score[e] = expf(x[e] - m);
      sum += score[e];
    }
    for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
    const float inv = 1.0f / sum;
    for (int e = lane; e < c.E; e += 32) score[e] *= inv;
  }
  for (int e = lane; e < c.E; e += 32) choice[e] = bias ? score[e] + bias[e] : score[e];
  __syncwarp();

  // Group selection: lane g scores group g; keep the best topk_group groups.
  uint32_t keep = 0xffffffffu;
  if (c.grouped) {
    const int per = c.E / c.G;
    float gs = -INFINITY;
    if (lane < c.G) {
      float a = -INFINITY, b = -INFINITY;
      for (int j = 0; j < per; ++j) {
        const float v = choice[lane * per + j];
        if (v > a) {
          b = a;
          a = v;
        } else if (v > b) {
          b = v;
        }
      }
      gs = c.sum_top2 && per > 1 ? a + b : a;
    }
    keep = 0;
    bool taken = false;
    for (int i = 0; i < c.topk_group; ++i) {
      float v = (lane < c.G && !taken) ? gs : -INFINITY;
      int id = (lane < c.G && !taken) ? lane : -1;
      warp_argmax(v, id);
      if (id < 0) break;
      keep |= 1u << id;
      if (lane == id) taken = true;
    }
  }

  // Top-k over the kept experts; each lane remembers which of its experts were taken.
  const int per = c.E / c.G;
  uint32_t taken_mask = 0;  // bit i: expert lane + 32 i
  float wsum = 0;
  int32_t* out_ids = ids + t * c.K;
  float* out_w = weights + t * c.K;
  for (int k = 0; k < c.K; ++k) {
    float v = -INFINITY;
    int id = -1;
    for (int i = 0; i < kPerLane; ++i) {
      const int e = lane + 32 * i;
      if (e >= c.E) break;
      if ((taken_mask >> i) & 1u) continue;
      if (c.grouped && !((keep >> (e / per)) & 1u)) continue;
      const float ce = choice[e];
      if (ce != ce) continue;
      if (id < 0 || better(ce, e, v, id)) {
        v = ce;
        id = e;
      }
    }
    warp_argmax(v, id);
    if (id >= 0 && (id & 31) == lane) taken_mask |= 1u << (id >> 5);
    if (lane == 0) {
      out_ids[k] = id;
      const float w = id >= 0 ? score[id] : 0.0f;
      out_w[k] = w;
      wsum += w;
    }
  }
  if (lane == 0) {
    float scale = c.rsf;
    if (c.norm && wsum > 0) scale /= wsum;
    for (int k = 0; k < c.K; ++k) out_w[k] *= scale;
  }
}

}  // namespace

void moe_gate_cuda(const GateConfig& cfg, const float* logits, int64_t n_tokens, const float* bias,
                   int32_t* topk_ids, float* topk_weights, void* stream) {
  auto bad = [](const std::string& m) { throw std::invalid_argument("moe_gate (CUDA): " + m); };
  if (cfg.n_experts <= 0 || cfg.n_experts > kMaxExperts) bad("n_experts must be in [1, 1024]");
  if (cfg.top_k <= 0 || cfg.top_k > cfg.n_experts) bad("top_k must be in [1, n_experts]");
  if (cfg.n_group <= 0 || cfg.n_group > 32 || cfg.n_experts % cfg.n_group)
    bad("n_group must divide n_experts and be <= 32");
  if (cfg.topk_group <= 0 || cfg.topk_group > cfg.n_group) bad("topk_group must be in [1, n_group]");
  const bool grouped = cfg.method != TopkMethod::kGreedy && cfg.n_group > 1;
  if (grouped && int64_t(cfg.topk_group) * (cfg.n_experts / cfg.n_group) < cfg.top_k)
    bad("topk_group groups hold fewer than top_k experts");
  if (n_tokens < 0) bad("n_tokens must be >= 0");
  if (n_tokens == 0) return;
  if (!logits || !topk_ids || !topk_weights) bad("logits, topk_ids and topk_weights are required");
  Cfg c{cfg.n_experts, cfg.top_k, grouped ? cfg.n_group : 1, cfg.topk_group,
        cfg.scoring == ScoringFunc::kSigmoid, grouped, cfg.method == TopkMethod::kNoAuxTc,
        cfg.norm_topk_prob, cfg.routed_scaling_factor};
  const size_t smem = size_t(kWarps) * 2 * cfg.n_experts * sizeof(float);
  const unsigned blocks = unsigned((n_tokens + kWarps - 1) / kWarps);
  gate_kernel<<<blocks, kWarps * 32, smem, static_cast<cudaStream_t>(stream)>>>(
      c, logits, n_tokens, bias, topk_ids, topk_weights);
  DSBENCH_KERNEL_LAUNCH_CHECK();
}

}  // namespace dsbench::kernels::cuda
