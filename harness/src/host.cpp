// Host fingerprint and peak figures measured on this host (STREAM-like read and triad, FMA loop).
#include "dsbench/host.h"

#include <omp.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

namespace dsbench {
using nlohmann::json;

namespace {

GpuProbe& gpu_probe() {
  static GpuProbe probe;
  return probe;
}

json& host_facts() {
  static json facts = json::object();
  return facts;
}

std::string read_cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto pos = line.find(':');
      if (pos != std::string::npos) return line.substr(pos + 2);
    }
  }
  utsname u{};
  if (uname(&u) == 0) return u.machine;
  return "unknown";
}

// Runs a short shell command and returns its first output line ("" on failure).
std::string run_capture(const std::string& cmd) {
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  if (!p) return "";
  std::string out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p.get())) out += buf;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Buffer on 2 MiB pages where the OS offers them (the policy of kernels::host_alloc, which holds
// the engine's weights and the KV pools: the peak is what those buffers can reach), first touched
// by the threads that will stream it (NUMA-friendly).
struct Buffer {
  float* p = nullptr;
  size_t n = 0;
  explicit Buffer(size_t count) : n(count) {
    constexpr size_t kHuge = size_t(2) << 20;
    const size_t bytes = (count * 4 + kHuge - 1) / kHuge * kHuge;
    p = static_cast<float*>(std::aligned_alloc(kHuge, bytes));
    if (!p) throw std::bad_alloc();
#if defined(MADV_HUGEPAGE)
    (void)::madvise(p, bytes, MADV_HUGEPAGE);
#endif
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; ++i) p[i] = 1.0f + float(i % 97) * 1e-3f;
  }
  ~Buffer() { std::free(p); }
};

// The probes' vectors are one register of the widest kind the build targets (64 bytes with
// AVX-512, 32 with AVX, else 16), so that their accumulators fit the register file: wider ones
// split into several registers per vector and spill (an AVX2 build of the 64-byte FMA probe read
// 21 GFLOP/s on a host whose AVX2 peak is several times that).
#if defined(__AVX512F__)
#define DSB_PROBE_LANES 16
#elif defined(__AVX__)
#define DSB_PROBE_LANES 8
#else
#define DSB_PROBE_LANES 4
#endif
constexpr int kLanes = DSB_PROBE_LANES;
typedef float vprobe __attribute__((vector_size(DSB_PROBE_LANES * 4)));

// Sums S segments of seg floats each (seg a multiple of 16), seg apart, read in lockstep.
template <int S>
float sum_streams(const float* p, size_t seg) {
  vprobe acc[S] = {};
  for (size_t i = 0; i < seg; i += kLanes)
    for (int k = 0; k < S; ++k) {
      vprobe v;
      std::memcpy(&v, p + k * seg + i, sizeof v);
      acc[k] += v;
    }
  float t = 0;
  for (int k = 0; k < S; ++k)
    for (int j = 0; j < kLanes; ++j) t += acc[k][j];
  return t;
}

template <int S>
float read_pass(const float* a, size_t n) {
  float total = 0;
#pragma omp parallel reduction(+ : total)
  {
    const size_t nt = size_t(omp_get_num_threads()), t = size_t(omp_get_thread_num());
    const size_t lo = n * t / nt, len = n * (t + 1) / nt - lo;
    const float* p = a + lo;
    const size_t seg = len / S / 16 * 16;
    float sum = sum_streams<S>(p, seg);
    for (size_t i = S * seg; i < len; ++i) sum += p[i];
    total += sum;
  }
  return total;
}

}  // namespace

// One sequential stream per core does not reach the memory's peak where the core's outstanding
// misses bound it: on the 2-core development VM (1 GiB on 2 MiB pages) one stream per thread read
// 23 GB/s, two 31, four 33-41 and eight 39-42.
float sum_in_streams(const float* p, size_t n, int streams) {
  static_assert(kReadStreams == std::array<int, 3>{1, 4, 8}, "a case below for each of kReadStreams");
  switch (streams) {
    case 1: return read_pass<1>(p, n);
    case 4: return read_pass<4>(p, n);
    case 8: return read_pass<8>(p, n);
    default: throw std::invalid_argument("sum_in_streams: streams must be 1, 4 or 8");
  }
}

namespace {

// The best of `passes` rounds, each timing one pass with each of kReadStreams per thread.
double measure_read_gbps(size_t bytes, int passes) {
  Buffer a(bytes / 4);
  double best = 0;
  for (int pass = 0; pass < passes; ++pass)
    for (int streams : kReadStreams) {
      auto t0 = std::chrono::steady_clock::now();
      const float total = sum_in_streams(a.p, a.n, streams);
      double s = seconds_since(t0);
      benchmark::DoNotOptimize(total);
      best = std::max(best, double(a.n) * 4 / s / 1e9);
    }
  return best;
}

double measure_triad_gbps(size_t bytes_per_array, int passes) {
  Buffer a(bytes_per_array / 4), b(bytes_per_array / 4), c(bytes_per_array / 4);
  const float s = 1.0001f;
  double best = 0;
  for (int pass = 0; pass < passes; ++pass) {
    auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < a.n; ++i) a.p[i] = b.p[i] + s * c.p[i];
    double sec = seconds_since(t0);
    best = std::max(best, 3.0 * double(a.n) * 4 / sec / 1e9);
  }
  benchmark::DoNotOptimize(a.p[a.n / 2]);
  return best;
}

// The best of `passes` timings of thread_flops() run on every OpenMP thread at once (it returns the
// FLOPs its thread did), in GFLOP/s.
template <class ThreadFlops>
double best_parallel_gflops(int passes, ThreadFlops thread_flops) {
  double best = 0;
  for (int pass = 0; pass < passes; ++pass) {
    auto t0 = std::chrono::steady_clock::now();
    double total_flops = 0;
#pragma omp parallel reduction(+ : total_flops)
    total_flops += thread_flops();
    double s = seconds_since(t0);
    best = std::max(best, total_flops / s / 1e9);
  }
  return best;
}

// Register-resident FMA chains: enough independent accumulators to cover FMA latency on two ports
// (12 of the 32 AVX-512 registers; 10 of the 16 otherwise, leaving room for the two operands).
double measure_fma_gflops(long iters, int passes) {
  return best_parallel_gflops(passes, [iters] {
    constexpr int kChains = kLanes == 16 ? 12 : 10;
    vprobe acc[kChains];
    const float seed = 1.0f + 1e-7f * float(omp_get_thread_num());
    for (int c = 0; c < kChains; ++c) {
      for (int l = 0; l < kLanes; ++l) acc[c][l] = seed + 1e-3f * float(c * 16 + l);
    }
    vprobe m, k;
    for (int l = 0; l < kLanes; ++l) {
      m[l] = 0.999999f;
      k[l] = 1e-6f;
    }
    for (long it = 0; it < iters; ++it) {
      for (int c = 0; c < kChains; ++c) acc[c] = acc[c] * m + k;
    }
    float keep = 0;
    for (int c = 0; c < kChains; ++c) keep += acc[c][c % kLanes];
    benchmark::DoNotOptimize(keep);  // keeps the chains live
    return double(iters) * kChains * kLanes * 2;
  });
}

// 4 broadcast values against 4 vectors loaded from a 256 KiB buffer per thread (L2-resident after
// the first pass): 16 FMAs per 4 vectors loaded, all in registers (a kernel tile's shape). With
// 16 registers (no AVX-512), 4 values against 2 vectors, so that the 8 accumulators and the
// operands still fit.
double measure_cache_fed_gflops(int passes) {
  constexpr size_t kFloats = 64 * 1024;  // 256 KiB per thread
  constexpr int kCols = kLanes == 16 ? 4 : 2;
  static thread_local std::vector<vprobe> buf;
  return best_parallel_gflops(passes, [] {
    if (buf.size() != kFloats / kLanes) {
      buf.assign(kFloats / kLanes, vprobe{});
      for (size_t i = 0; i < buf.size(); ++i)
        for (int l = 0; l < kLanes; ++l) buf[i][l] = 1e-3f * float((i + size_t(l)) % 97);
    }
    vprobe c[4][kCols];
    for (auto& row : c)
      for (auto& v : row)
        for (int l = 0; l < kLanes; ++l) v[l] = 0;
    float a[4];
    for (int r = 0; r < 4; ++r) a[r] = 1e-4f * float(r + 1 + omp_get_thread_num());
    constexpr int kSweeps = 4;
    for (int sweep = 0; sweep < kSweeps; ++sweep) {
      for (size_t i = 0; i + kCols <= buf.size(); i += kCols) {
        for (int r = 0; r < 4; ++r) {
          for (int j = 0; j < kCols; ++j) c[r][j] += a[r] * buf[i + size_t(j)];
        }
      }
      benchmark::ClobberMemory();
    }
    float keep = 0;  // every accumulator live, or the compiler drops the unused chains
    for (int r = 0; r < 4; ++r)
      for (int j = 0; j < kCols; ++j) keep += c[r][j][(r + j) % kLanes];
    benchmark::DoNotOptimize(keep);
    return double(kSweeps) * double(buf.size() / kCols) * (4 * kCols) * kLanes * 2;
  });
}

}  // namespace

SpeedReading probe_speed() {
  // Two back-to-back runs of each, the faster kept: the first may pay for waking the threads.
  SpeedReading r;
  r.fma_gflops = measure_fma_gflops(40'000, 2);
  r.cache_gflops = measure_cache_fed_gflops(2);
  return r;
}

// Working sets far above the last-level cache (up to ~300 MiB on server parts): 1 GiB read,
// 3 x 384 MiB triad; half of that in quick mode, still well above any LLC.
constexpr size_t kMiB = size_t(1) << 20;

double measure_read_bandwidth(bool quick) {
  return measure_read_gbps(quick ? 512 * kMiB : 1024 * kMiB, quick ? 3 : 5);
}

CpuPeak measure_cpu_peak(bool quick) {
  CpuPeak p;
  p.read_gbps = measure_read_bandwidth(quick);
  p.triad_gbps = measure_triad_gbps(quick ? 192 * kMiB : 384 * kMiB, quick ? 3 : 5);
  p.fma_gflops = measure_fma_gflops(quick ? 4'000'000 : 20'000'000, 3);
  return p;
}

json host_fingerprint() {
  json h;
  h["cpu"] = read_cpu_model();
  h["cores"] = int(std::thread::hardware_concurrency());
  h["threads"] = omp_get_max_threads();
  h["memory_bytes"] = double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGE_SIZE));
  utsname u{};
  if (uname(&u) == 0) h["os"] = std::string(u.sysname) + " " + u.release + " " + u.machine;
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  h["hostname"] = host;
#if defined(__clang__)
  h["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  h["compiler"] = std::string("gcc ") + __VERSION__;
#else
  h["compiler"] = "unknown";
#endif
  h["build_type"] = DSBENCH_BUILD_TYPE;
  h["compiler_flags"] = DSBENCH_CXX_FLAGS;
#ifdef DSBENCH_WITH_CUDA
  h["cuda"] = {{"built", true}};
#else
  h["cuda"] = {{"built", false}};
#endif
  const std::string src = DSBENCH_SOURCE_DIR;
  std::string sha = run_capture("git -C '" + src + "' rev-parse HEAD 2>/dev/null");
  h["git_sha"] = sha.empty() ? "unknown" : sha;
  h["dirty"] = !sha.empty() &&
               !run_capture("git -C '" + src + "' status --porcelain --untracked-files=no 2>/dev/null")
                    .empty();
  h["gpus"] = json::array();
  for (const auto& [key, value] : host_facts().items()) h[key] = value;
  return h;
}

void set_gpu_probe(GpuProbe probe) { gpu_probe() = std::move(probe); }
void set_host_fact(const std::string& key, json value) { host_facts()[key] = std::move(value); }

json host_with_peaks(bool measure, bool quick) {
  json h = host_fingerprint();
  if (measure) {
    CpuPeak p = measure_cpu_peak(quick);
    h["peak"] = {{"read_gbps", p.read_gbps},
                 {"triad_gbps", p.triad_gbps},
                 {"fma_gflops", p.fma_gflops},
                 {"threads", omp_get_max_threads()},
                 {"read_streams", kReadStreams}};
  } else {
    h["peak"] = json::object();
  }
  if (gpu_probe()) {
    try {
      json gpus = gpu_probe()(measure, quick);
      if (gpus.is_array()) h["gpus"] = gpus;
    } catch (const std::exception& e) {
      h["gpu_probe_error"] = e.what();
    }
  }
  return h;
}

namespace {
const json* first_gpu_peak(const json& host) {
  auto g = host.find("gpus");
  if (g == host.end() || !g->is_array() || g->empty()) return nullptr;
  auto p = (*g)[0].find("peak");
  if (p == (*g)[0].end() || !p->is_object()) return nullptr;
  return &*p;
}
double get_number(const json* obj, const char* key) {
  if (!obj) return 0;
  auto it = obj->find(key);
  return (it != obj->end() && it->is_number()) ? it->get<double>() : 0;
}
}  // namespace

double peak_bandwidth_gbps(const json& host, const std::string& device) {
  if (device == "cuda") return get_number(first_gpu_peak(host), "copy_gbps");
  auto p = host.find("peak");
  return p == host.end() ? 0 : get_number(&*p, "read_gbps");
}

double peak_gflops(const json& host, const std::string& device) {
  if (device == "cuda") return get_number(first_gpu_peak(host), "bf16_gflops");
  auto p = host.find("peak");
  return p == host.end() ? 0 : get_number(&*p, "fma_gflops");
}

double roofline_fraction(double seconds, double bytes, double flops, double peak_gbps,
                         double peak_gflops_v) {
  if (seconds <= 0) return 0;
  double ideal = 0;
  if (bytes > 0 && peak_gbps > 0) ideal = std::max(ideal, bytes / (peak_gbps * 1e9));
  if (flops > 0 && peak_gflops_v > 0) ideal = std::max(ideal, flops / (peak_gflops_v * 1e9));
  return ideal / seconds;
}

}  // namespace dsbench
