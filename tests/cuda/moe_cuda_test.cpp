// CUDA MoE kernels against the CPU ones: gate (ids exact up to near-ties, weights to fp32
// rounding), permute plan/dispatch/combine (exact rows), grouped expert GEMM and the engine GEMM.
#include <cmath>
#include <vector>

#include "cuda_test_util.h"
#include "dsbench/kernels/cuda/gemm.h"
#include "dsbench/kernels/cuda/memory.h"
#include "dsbench/kernels/cuda/moe_gate.h"
#include "dsbench/kernels/cuda/moe_grouped_gemm.h"
#include "dsbench/kernels/cuda/moe_permute.h"
#include "dsbench/kernels/gemm.h"
#include "dsbench/kernels/moe_gate.h"
#include "dsbench/kernels/moe_permute.h"

namespace kc = dsbench::kernels::cuda;
namespace k = dsbench::kernels;
using dsbench::test::max_rel_error;
using dsbench::test::random_floats;

namespace {

k::GateConfig dsv3_gate() {
  k::GateConfig c;
  c.n_experts = 256;
  c.top_k = 8;
  c.n_group = 8;
  c.topk_group = 4;
  c.scoring = k::ScoringFunc::kSigmoid;
  c.method = k::TopkMethod::kNoAuxTc;
  c.norm_topk_prob = true;
  c.routed_scaling_factor = 2.5f;
  return c;
}

}  // namespace

TEST(CudaMoe, GateMatchesCpu) {
  DSBENCH_REQUIRE_CUDA_DEVICE();
  k::GateConfig v2 = dsv3_gate();
  v2.n_experts = 64;
  v2.top_k = 6;
  v2.n_group = 1;
  v2.topk_group = 1;
  v2.scoring = k::ScoringFunc::kSoftmax;
  v2.method = k::TopkMethod::kGreedy;
  v2.norm_topk_prob = false;
  v2.routed_scaling_factor = 1.0f;
  k::GateConfig glg = dsv3_gate();
  glg.scoring = k::ScoringFunc::kSoftmax;
  glg.method = k::TopkMethod::kGroupLimitedGreedy;
  glg.n_group = 8;
  glg.topk_group = 3;
  for (const k::GateConfig& cfg : {dsv3_gate(), v2, glg}) {
    const int64_t T = 777;
    auto logits = random_floats(size_t(T) * cfg.n_experts, 41, -4.0f, 4.0f);
    auto bias = random_floats(size_t(cfg.n_experts), 42, -0.1f, 0.1f);
    std::vector<int32_t> ids(size_t(T) * cfg.top_k);
    std::vector<float> w(ids.size());
    k::moe_gate(cfg, logits.data(), T, bias.data(), ids.data(), w.data());

    auto dl = kc::upload(logits), db = kc::upload(bias);
    kc::DeviceBuffer did(ids.size() * 4), dw(w.size() * 4);
    kc::moe_gate_cuda(cfg, dl.as<float>(), T, db.as<float>(), did.as<int32_t>(), dw.as<float>());
    auto gids = kc::download<int32_t>(did.get(), ids.size());
    auto gw = kc::download<float>(dw.get(), w.size());
    int64_t mismatched_tokens = 0;
    for (int64_t t = 0; t < T; ++t) {
      bool same = true;
      for (int j = 0; j < cfg.top_k; ++j) same &= ids[t * cfg.top_k + j] == gids[t * cfg.top_k + j];
      if (!same) {
        ++mismatched_tokens;  // only a near-tie (sigmoid/exp rounding differs) may flip a choice
        continue;
      }
      for (int j = 0; j < cfg.top_k; ++j)
        EXPECT_NEAR(gw[t * cfg.top_k + j], w[t * cfg.top_k + j], 1e-5f * cfg.routed_scaling_factor);
    }
    EXPECT_LE(mismatched_tokens, T / 200) << "experts=" << cfg.n_experts;
  }
}

TEST(CudaMoe, GateRejectsBadConfig) {
  DSBENCH_REQUIRE_CUDA_DEVICE();
  k::GateConfig c = dsv3_gate();
  c.n_group = 7;  // does not divide 256
  EXPECT_THROW(kc::moe_gate_cuda(c, nullptr, 1, nullptr, nullptr, nullptr), std::invalid_argument);
}

TEST(CudaMoe, PermuteDispatchCombineMatchCpu) {
  DSBENCH_REQUIRE_CUDA_DEVICE();
  const int64_t T = 300, hidden = 40;
  const int K = 4, E = 16;
  std::vector<int32_t> ids(size_t(T) * K);
  std::mt19937 rng(5);
  for (auto& id : ids) id = int32_t(rng() % (E + 1)) - 1;  // includes dropped slots (-1)
  k::MoePermutation cpu;
  k::moe_permute_plan(ids.data(), T, K, E, &cpu);

  auto did = kc::upload(ids);
  kc::MoePermutationDevice gpu;
  kc::moe_permute_plan_cuda(did.as<int32_t>(), T, K, E, &gpu);
  ASSERT_EQ(gpu.rows, cpu.rows());
  EXPECT_EQ(gpu.host_offsets, cpu.offsets);
  EXPECT_EQ(kc::download<int32_t>(gpu.row_token.get(), cpu.row_token.size()), cpu.row_token);
  EXPECT_EQ(kc::download<int64_t>(gpu.slot_row.get(), cpu.slot_row.size()), cpu.slot_row);

  auto x = random_floats(size_t(T) * hidden, 51);
  std::vector<float> disp(size_t(cpu.rows()) * hidden);
  k::moe_dispatch(cpu, x.data(), hidden * 4, disp.data());
  auto dx = kc::upload(x);
  kc::DeviceBuffer ddisp(disp.size() * 4 + 4);
  kc::moe_dispatch_cuda(gpu, dx.get(), hidden * 4, ddisp.get());
  EXPECT_EQ(kc::download<float>(ddisp.get(), disp.size()), disp);

  auto wts = random_floats(ids.size(), 52, 0.0f, 1.0f);
  std::vector<float> y(size_t(T) * hidden);
  k::moe_combine(cpu, disp.data(), wts.data(), hidden, y.data());
  auto dwts = kc::upload(wts);
  kc::DeviceBuffer dy(y.size() * 4);
  kc::moe_combine_cuda(gpu, ddisp.get(), dwts.as<float>(), hidden, k::DType::kF32, dy.get());
  auto gy = kc::download<float>(dy.get(), y.size());
  std::vector<double> yd(y.begin(), y.end());
  EXPECT_LE(max_rel_error(gy, yd), 1e-5);
  // The same sum added into an fp32 residual.
  std::vector<float> x0 = random_floats(y.size(), 77);
  auto dres = kc::upload(x0);
  kc::moe_combine_add_cuda(gpu, ddisp.get(), dwts.as<float>(), hidden, k::DType::kF32, dres.as<float>());
  auto gx = kc::download<float>(dres.get(), y.size());
  std::vector<double> xd(y.size());
  for (size_t i = 0; i < y.size(); ++i) xd[i] = double(x0[i]) + double(y[i]);
  EXPECT_LE(max_rel_error(gx, xd), 1e-5);

  std::vector<int32_t> bad = {0, 99};
  auto dbad = kc::upload(bad);
  kc::MoePermutationDevice p2;
  EXPECT_THROW(kc::moe_permute_plan_cuda(dbad.as<int32_t>(), 1, 2, E, &p2), std::invalid_argument);
}

TEST(CudaMoe, GroupedExpertGemmMatchesFloat64) {
  DSBENCH_REQUIRE_CUDA_DEVICE();
  const int E = 5;
  const int64_t n = 48, kk = 64;
  std::vector<int64_t> offsets = {0, 7, 7, 40, 41, 60};  // expert 1 empty
  const int64_t rows = offsets.back();
  auto xf = random_floats(size_t(rows) * kk, 61);
  auto wf = random_floats(size_t(E) * n * kk, 62);
  std::vector<k::bf16> xb(xf.size()), wb(wf.size());
  for (size_t i = 0; i < xf.size(); ++i) xb[i] = k::bf16(xf[i]);
  for (size_t i = 0; i < wf.size(); ++i) wb[i] = k::bf16(wf[i]);
  std::vector<double> want(size_t(rows) * n);
  for (int e = 0; e < E; ++e)
    for (int64_t r = offsets[e]; r < offsets[e + 1]; ++r)
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t c = 0; c < kk; ++c)
          acc += double(float(xb[r * kk + c])) * float(wb[(e * n + j) * kk + c]);
        want[r * n + j] = acc;
      }
  auto dx = kc::upload(xb), dw = kc::upload(wb);
  kc::DeviceBuffer dy(want.size() * 2);
  kc::moe_grouped_gemm_cuda(dx.get(), offsets, dw.get(), n, kk, dy.get());
  auto gy = kc::download<k::bf16>(dy.get(), want.size());
  std::vector<float> got(gy.size());
  for (size_t i = 0; i < gy.size(); ++i) got[i] = float(gy[i]);
  EXPECT_LE(max_rel_error(got, want), k::rel_tolerance(k::DType::kBF16));
}

TEST(CudaMoe, EngineGemmMatchesReference) {
  DSBENCH_REQUIRE_CUDA_DEVICE();
  const int64_t m = 5, n = 33, kk = 70;
  auto x = random_floats(size_t(m) * kk, 71);
  for (k::DType dt : {k::DType::kF32, k::DType::kBF16}) {
    auto wf = random_floats(size_t(n) * kk, 72);
    std::vector<k::bf16> wb(wf.size());
    for (size_t i = 0; i < wf.size(); ++i) wb[i] = k::bf16(wf[i]);
    const void* host_w = dt == k::DType::kF32 ? static_cast<const void*>(wf.data()) : wb.data();
    k::WeightView hw{host_w, dt, n, kk, kk};
    std::vector<double> want(size_t(m) * n);
    k::gemm_xwt_ref(x.data(), m, kk, hw, want.data());
    kc::DeviceBuffer dw(size_t(n) * kk * k::dtype_bytes(dt));
    kc::copy_to_device(dw.get(), host_w, dw.bytes());
    auto dx = kc::upload(x);
    kc::DeviceBuffer dy(want.size() * 4);
    kc::Workspace ws;
    kc::gemm_xwt_cuda(dx.as<float>(), m, kk, k::WeightView{dw.get(), dt, n, kk, kk},
                      dy.as<float>(), n, false, ws);
    auto got = kc::download<float>(dy.get(), want.size());
    EXPECT_LE(max_rel_error(got, want), dt == k::DType::kF32 ? 1e-5 : k::rel_tolerance(dt));
  }
}
