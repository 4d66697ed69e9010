// e2e GEMM path choice: the engine's own bf16 weight-streaming kernel against OpenBLAS sgemm
// (bf16 widened per panel) for the shapes a dsv3 decode/prefill step runs, by number of rows m,
// over row-major weights and over the kPanel16 layout the engine repacks its weights into.
// Weights rotate over copies larger than the last-level cache, as a real step streams them.
#include <random>

#include "dsbench/kernels/gemm.h"
#include "e2e/e2e_common.h"

namespace dsbench::suites::e2e {

std::vector<Benchmark> gemm_benchmarks(const SuiteContext& ctx) {
  const auto ms = int_list_option(
      ctx.options, "gemm_m",
      ctx.quick ? std::vector<int64_t>{1, 64} : std::vector<int64_t>{1, 4, 8, 16, 32, 64, 256});
  const int64_t n =
      2 * std::max<int64_t>(ctx.model.moe_intermediate_size, 256) * 4;  // a fused gate_up slab
  const int64_t k = std::max<int64_t>(ctx.model.hidden_size, 256);
  std::vector<Benchmark> out;
  for (const char* layout : {"panel16", "rows"})
    for (const char* path : {"own", "blas"})
      for (int64_t m : ms) {
        Benchmark b;
        b.name = "gemm";
        b.params = {{"m", m},       {"n", n},           {"k", k},
                    {"path", path}, {"layout", layout}, {"dtype", "bf16"}};
        const bool panels = std::string(layout) == "panel16";
        b.bytes = double(n * k * 2 + m * k * 4 + m * n * 4);
        b.flops = 2.0 * double(m) * double(n) * double(k);
        const kernels::GemmPath gp =
            std::string(path) == "own" ? kernels::GemmPath::kOwn : kernels::GemmPath::kBlas;
        const uint64_t seed = ctx.seed;
        // Rotation larger than the LLC; the quick plan only checks that the paths run.
        const int64_t rotate = ctx.quick ? (8ll << 20) : (96ll << 20);
        b.timed = [m, n, k, gp, seed, rotate, panels](benchmark::State& st) {
          const int copies = int(std::max<int64_t>(2, rotate / (n * k * 2)));
          const int64_t one = panels ? kernels::panel16_elems(n, k) : n * k;
          std::vector<uint16_t> w(static_cast<size_t>(copies) * size_t(one));
          std::mt19937 rng(static_cast<uint32_t>(seed));
          std::uniform_real_distribution<float> u(-0.05f, 0.05f);
          for (auto& v : w) v = kernels::bf16::from_float(u(rng));
          std::vector<float> x(static_cast<size_t>(m * k)), y(static_cast<size_t>(m * n));
          for (auto& v : x) v = u(rng);
          int c = 0;
          for (auto _ : st) {
            kernels::WeightView wv{w.data() + size_t(c) * size_t(one), kernels::DType::kBF16, n, k,
                                   k};
            if (panels) {
              wv.layout = kernels::WeightLayout::kPanel16;
              wv.ld = kernels::panel16_stride(k);
            }
            kernels::gemm_xwt(x.data(), m, k, wv, y.data(), n, false, gp);
            benchmark::DoNotOptimize(y.data());
            c = (c + 1) % copies;
          }
        };
        out.push_back(std::move(b));
      }
  return out;
}

}  // namespace dsbench::suites::e2e
