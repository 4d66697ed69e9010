// The model's forward pass over a flattened batch of sequence chunks: embedding, per layer MLA
// attention (attention.cpp) and a dense FFN or DeepSeekMoE block, then final norm and LM head.
#include "dsbench/engine/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "dsbench/engine/kv_cache.h"
#include "dsbench/error.h"
#include "dsbench/kernels/activation.h"
#include "dsbench/kernels/moe_gate.h"
#include "dsbench/kernels/norm.h"
#include "dsbench/kernels/rope.h"
#include "dsbench/trace.h"
#include "model_internal.h"

namespace dsbench::engine {
using kernels::DType;
using kernels::gemm_xwt;

const char* to_string(AttentionMode m) {
  switch (m) {
    case AttentionMode::kMlaAbsorbed: return "mla_absorbed";
    case AttentionMode::kMlaNaive: return "mla_naive";
    case AttentionMode::kMhaCache: return "mha_cache";
  }
  return "?";
}
AttentionMode parse_attention_mode(const std::string& s) {
  for (auto m : all_attention_modes())
    if (s == to_string(m)) return m;
  throw UsageError("unknown attention mode '" + s + "' (mla_absorbed, mla_naive, mha_cache)");
}
std::vector<AttentionMode> all_attention_modes() {
  return {AttentionMode::kMlaAbsorbed, AttentionMode::kMlaNaive, AttentionMode::kMhaCache};
}

struct Model::Scratch {
  detail::TokenMeta meta;
  detail::AttnScratch attn_s;
  std::vector<float> x, h, attn, gu, act, y, router_logits, hb, last;
  std::vector<int32_t> ids;
  std::vector<float> wts;
  std::vector<std::vector<std::pair<int32_t, float>>> buckets;
  std::vector<int32_t> gather_token, slot_count;  // token of each gathered row; slots used per token
  std::vector<int64_t> slot_row;                   // [token][k]: row of y holding that expert's output
  std::vector<float> slot_weight;                  // [token][k]: its gate weight
};

Model::Model(const ModelConfig& cfg, ModelWeights w) : cfg_(cfg), w_(std::move(w)), s_(new Scratch) {
  kernels::RopeParams rp;
  rp.dim = cfg_.qk_rope_head_dim;
  rp.theta = cfg_.rope_theta;
  rp.yarn = cfg_.rope_scaling.type == "yarn";
  rp.factor = cfg_.rope_scaling.factor;
  rp.original_max_position = cfg_.rope_scaling.original_max_position_embeddings > 0
                                 ? cfg_.rope_scaling.original_max_position_embeddings
                                 : 4096;
  rp.beta_fast = cfg_.rope_scaling.beta_fast;
  rp.beta_slow = cfg_.rope_scaling.beta_slow;
  inv_freq_ = kernels::rope_inv_freq(rp);
  softmax_scale_ = float(cfg_.softmax_scale());
}
Model::~Model() = default;

double Model::expert_bytes() const {
  for (const auto& l : w_.layers)
    if (l.moe && !l.experts.empty())
      return double(l.experts[0].gate_up.bytes() + l.experts[0].down.bytes());
  return 0;
}

double Model::fixed_weight_bytes() const {
  double b = double(w_.lm_head.bytes());
  for (const auto& l : w_.layers) {
    b += double(l.q_a.bytes() + l.q_b.bytes() + l.q.bytes() + l.kv_a.bytes() + l.kv_b.bytes() + l.o.bytes());
    if (l.moe) {
      b += double(l.router.size()) * 4 + double(l.shared.gate_up.bytes() + l.shared.down.bytes());
    } else {
      b += double(l.dense.gate_up.bytes() + l.dense.down.bytes());
    }
  }
  return b;
}

double Model::weight_bytes() const {
  double b = fixed_weight_bytes() + double(w_.embed.bytes());
  for (const auto& l : w_.layers)
    if (l.moe) b += expert_bytes() * double(l.experts.size());
  return b;
}

double Model::active_weight_bytes_per_token() const {
  double b = fixed_weight_bytes();
  for (const auto& l : w_.layers)
    if (l.moe) b += expert_bytes() * double(cfg_.num_experts_per_tok);
  return b;
}

namespace detail {
void rms_norm_rows(const float* x, int64_t rows, int64_t dim, int64_t ldx, const float* w, float eps,
                   float* y, int64_t ldy) {
  if (rows < 32) return kernels::rms_norm(x, rows, dim, ldx, w, eps, y, ldy);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) kernels::rms_norm(x + r * ldx, 1, dim, ldx, w, eps, y + r * ldy, ldy);
}
}  // namespace detail

kernels::GateConfig moe_gate_config(const ModelConfig& c) {
  kernels::GateConfig g;
  g.n_experts = int(c.n_routed_experts);
  g.top_k = int(c.num_experts_per_tok);
  g.n_group = int(c.n_group);
  g.topk_group = int(c.topk_group);
  g.scoring = c.scoring_func == "softmax" ? kernels::ScoringFunc::kSoftmax : kernels::ScoringFunc::kSigmoid;
  g.method = c.topk_method == "noaux_tc"               ? kernels::TopkMethod::kNoAuxTc
             : c.topk_method == "group_limited_greedy" ? kernels::TopkMethod::kGroupLimitedGreedy
                                                       : kernels::TopkMethod::kGreedy;
  g.norm_topk_prob = c.norm_topk_prob;
  g.routed_scaling_factor = float(c.routed_scaling_factor);
  return g;
}

namespace {
// x += down(silu(gate(h)) * up(h)) for m rows.
void run_mlp(const Expert& e, const float* h, int64_t m, int64_t H, std::vector<float>& gu,
             std::vector<float>& act, float* out, bool accumulate) {
  const int64_t inter = e.down.k;
  gu.resize(size_t(m * 2 * inter));
  act.resize(size_t(m * inter));
  gemm_xwt(h, m, H, e.gate_up.view(), gu.data(), 2 * inter);
  kernels::silu_mul(gu.data(), m, inter, 2 * inter, act.data());
  gemm_xwt(act.data(), m, inter, e.down.view(), out, H, accumulate);
}
}  // namespace

void Model::forward(const std::vector<SeqInput>& batch, KvCache& cache, std::vector<float>& logits,
                    ForwardStats* stats) {
  DSBENCH_TRACE_SCOPE("engine/forward");
  Scratch& s = *s_;
  const int64_t H = cfg_.hidden_size, V = cfg_.vocab_size;
  const float eps = float(cfg_.rms_norm_eps);
  // Flatten the batch and grow every sequence's cache first (all or nothing per sequence).
  auto& meta = s.meta;
  meta.seq.clear();
  meta.pos.clear();
  meta.input.clear();
  meta.input_first.clear();
  int64_t n_logits = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    const SeqInput& in = batch[i];
    if (in.n <= 0 || !in.tokens) throw Error("forward: input " + std::to_string(i) + " has no tokens");
    for (int64_t t = 0; t < in.n; ++t)
      if (in.tokens[t] < 0 || in.tokens[t] >= V)
        throw UsageError("token id " + std::to_string(in.tokens[t]) + " out of range [0, " + std::to_string(V) + ")");
    const int64_t start = cache.pool().seq_len(in.seq);
    try {
      cache.pool().append_tokens(in.seq, in.n);
    } catch (const std::exception& e) {
      throw Error(std::string("kv cache: ") + e.what());
    }
    meta.input_first.push_back(int64_t(meta.seq.size()));
    for (int64_t t = 0; t < in.n; ++t) {
      meta.seq.push_back(in.seq);
      meta.pos.push_back(start + t);
      meta.input.push_back(int32_t(i));
    }
    n_logits += in.want_logits ? 1 : 0;
  }
  const int64_t T = int64_t(meta.seq.size());
  {
    // RoPE angles per row, once for all layers (each layer rotates q and k by the same ones).
    const int64_t half = cfg_.qk_rope_head_dim / 2;
    meta.rope_cos.resize(size_t(T * half));
    meta.rope_sin.resize(size_t(T * half));
#pragma omp parallel for schedule(static) if (T >= 64)
    for (int64_t t = 0; t < T; ++t)
      kernels::rope_angles(2 * half, meta.pos[size_t(t)], inv_freq_.data(), meta.rope_cos.data() + t * half,
                           meta.rope_sin.data() + t * half);
  }
  s.x.resize(size_t(T * H));
  s.h.resize(size_t(T * H));
  s.attn.resize(size_t(T * cfg_.num_attention_heads * cfg_.v_head_dim));
  {
    int64_t t = 0;
    for (const auto& in : batch)
      for (int64_t j = 0; j < in.n; ++j, ++t) w_.embed.row_f32(in.tokens[j], s.x.data() + t * H);
  }
  double cache_read = 0;
  int64_t expert_calls = 0;
  const auto gcfg = moe_gate_config(cfg_);
  for (size_t l = 0; l < w_.layers.size(); ++l) {
    const LayerWeights& lw = w_.layers[l];
    {
      DSBENCH_TRACE_SCOPE("engine/attention");
      detail::rms_norm_rows(s.x.data(), T, H, H, lw.input_norm.data(), eps, s.h.data(), H);
      detail::mla_attention(cfg_, lw, int64_t(l), batch, meta, s.h.data(), cache, softmax_scale_, s.attn_s,
                            s.attn.data(), &cache_read);
      gemm_xwt(s.attn.data(), T, lw.o.k, lw.o.view(), s.x.data(), H, true);
    }
    detail::rms_norm_rows(s.x.data(), T, H, H, lw.post_attn_norm.data(), eps, s.h.data(), H);
    if (!lw.moe) {
      DSBENCH_TRACE_SCOPE("engine/dense_ffn");
      run_mlp(lw.dense, s.h.data(), T, H, s.gu, s.act, s.x.data(), true);
      continue;
    }
    DSBENCH_TRACE_SCOPE("engine/moe");
    const int64_t E = cfg_.n_routed_experts, K = cfg_.num_experts_per_tok;
    s.router_logits.resize(size_t(T * E));
    kernels::WeightView rv{lw.router.data(), DType::kF32, E, H, H};
    gemm_xwt(s.h.data(), T, H, rv, s.router_logits.data(), E);
    s.ids.resize(size_t(T * K));
    s.wts.resize(size_t(T * K));
    kernels::moe_gate(gcfg, s.router_logits.data(), T, lw.router_bias.empty() ? nullptr : lw.router_bias.data(),
                      s.ids.data(), s.wts.data());
    s.buckets.resize(size_t(E));
    for (auto& b : s.buckets) b.clear();  // keeps each bucket's capacity from step to step
    for (int64_t t = 0; t < T; ++t)
      for (int64_t k = 0; k < K; ++k) {
        const int32_t e = s.ids[size_t(t * K + k)];
        if (e < 0 || e >= E) throw Error("moe_gate returned expert id " + std::to_string(e));
        s.buckets[size_t(e)].push_back({int32_t(t), s.wts[size_t(t * K + k)]});
      }
    // Tokens grouped by expert: each touched expert's weights are read once for all its tokens,
    // and all experts (shared included) run as one grouped product per projection.
    struct Part {
      const Expert* e;
      int64_t expert, m, x_off, gu_off, act_off;
    };
    std::vector<Part> parts;
    int64_t rows = 0, gu_len = 0, act_len = 0;
    if (cfg_.n_shared_experts > 0) {
      parts.push_back({&lw.shared, -1, T, 0, 0, 0});
      gu_len += T * lw.shared.gate_up.n;
      act_len += T * lw.shared.down.k;
    }
    for (int64_t e = 0; e < E; ++e) {
      const int64_t m = int64_t(s.buckets[size_t(e)].size());
      if (!m) continue;
      ++expert_calls;
      const Expert& ex = lw.experts[size_t(e)];
      parts.push_back({&ex, e, m, rows, gu_len, act_len});
      rows += m;
      gu_len += m * ex.gate_up.n;
      act_len += m * ex.down.k;
    }
    s.hb.resize(size_t(rows * H));
    s.y.resize(size_t(rows * H));
    s.gu.resize(size_t(gu_len));
    s.act.resize(size_t(act_len));
    std::vector<kernels::GemmProblem> probs(parts.size());
    // Routed rows are gathered into hb (row x_off + r of a part is its r-th token), and every
    // token records where its experts' outputs will be, in expert order, for the weighted sum.
    s.gather_token.resize(size_t(rows));
    s.slot_count.assign(size_t(T), 0);
    s.slot_row.resize(size_t(T * K));
    s.slot_weight.resize(size_t(T * K));
    for (size_t i = 0; i < parts.size(); ++i) {
      const Part& p = parts[i];
      const float* xin = s.h.data();
      if (p.expert >= 0) {
        const auto& b = s.buckets[size_t(p.expert)];
        for (int64_t r = 0; r < p.m; ++r) {
          const int32_t t = b[size_t(r)].first;
          s.gather_token[size_t(p.x_off + r)] = t;
          const int64_t slot = int64_t(t) * K + s.slot_count[size_t(t)]++;
          s.slot_row[size_t(slot)] = p.x_off + r;
          s.slot_weight[size_t(slot)] = b[size_t(r)].second;
        }
        xin = s.hb.data() + p.x_off * H;
      }
      probs[i] = {xin, p.m, H, p.e->gate_up.view(), s.gu.data() + p.gu_off, p.e->gate_up.n, false};
    }
    // The glue around the expert products runs on both threads once a batch makes it worth a fork
    // (gather, SwiGLU and the weighted sum took 0.28 ms of a 7.4-8.2 ms batch-16 step on one).
    const bool par_rows = rows * H >= (int64_t(1) << 15);
#pragma omp parallel for schedule(static) if (par_rows)
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(s.hb.data() + r * H, s.h.data() + int64_t(s.gather_token[size_t(r)]) * H, size_t(H) * 4);
    {
      DSBENCH_TRACE_SCOPE("engine/moe_gate_up");  // every touched expert's gate_up product
      kernels::gemm_xwt_grouped(probs.data(), int64_t(probs.size()));
    }
    // SwiGLU over runs of parts with the same intermediate size: their gate_up and act rows are
    // contiguous with the same strides, so each run is one call.
    for (size_t i = 0; i < parts.size();) {
      const int64_t inter = parts[i].e->down.k;
      int64_t m = 0;
      size_t j = i;
      for (; j < parts.size() && parts[j].e->down.k == inter; ++j) m += parts[j].m;
      kernels::silu_mul(s.gu.data() + parts[i].gu_off, m, inter, 2 * inter, s.act.data() + parts[i].act_off);
      i = j;
    }
    for (size_t i = 0; i < parts.size(); ++i) {
      const Part& p = parts[i];
      const int64_t inter = p.e->down.k;
      // The shared expert adds straight into the residual; routed outputs are weighted below.
      if (p.expert < 0) probs[i] = {s.act.data() + p.act_off, p.m, inter, p.e->down.view(), s.x.data(), H, true};
      else probs[i] = {s.act.data() + p.act_off, p.m, inter, p.e->down.view(), s.y.data() + p.x_off * H, H, false};
    }
    {
      DSBENCH_TRACE_SCOPE("engine/moe_down");
      kernels::gemm_xwt_grouped(probs.data(), int64_t(probs.size()));
    }
    // Each token adds its experts' weighted outputs in expert order (the order of a token's slots).
#pragma omp parallel for schedule(static) if (par_rows)
    for (int64_t t = 0; t < T; ++t) {
      float* xr = s.x.data() + t * H;
      for (int32_t k = 0; k < s.slot_count[size_t(t)]; ++k) {
        const float* yr = s.y.data() + s.slot_row[size_t(t * K + k)] * H;
        const float wgt = s.slot_weight[size_t(t * K + k)];
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) xr[j] += wgt * yr[j];
      }
    }
  }
  {
    DSBENCH_TRACE_SCOPE("engine/lm_head");
    s.last.resize(size_t(n_logits * H));
    int64_t r = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      if (!batch[i].want_logits) continue;
      const int64_t row = meta.input_first[i] + batch[i].n - 1;
      kernels::rms_norm(s.x.data() + row * H, 1, H, H, w_.final_norm.data(), eps, s.last.data() + r * H, H);
      ++r;
    }
    logits.resize(size_t(n_logits * V));
    if (n_logits > 0) gemm_xwt(s.last.data(), n_logits, H, w_.lm_head.view(), logits.data(), V);
  }
  if (stats) {
    stats->tokens = T;
    stats->expert_invocations = expert_calls;
    stats->cache_bytes_read = cache_read;
    stats->weight_bytes_read = fixed_weight_bytes() + double(expert_calls) * expert_bytes();
  }
}

}  // namespace dsbench::engine
