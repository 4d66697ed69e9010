// Host fingerprint (CPU, memory, compiler, git, CUDA/GPUs) and peak figures measured on this host.
#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace dsbench {

struct CpuPeak {
  double read_gbps = 0;   // streaming read (sum) over a working set far above the LLC: the best of
                          // 1, 4 and 8 concurrent streams per thread
  double triad_gbps = 0;  // a[i] = b[i] + s*c[i], counting 3 streams (no write-allocate credit)
  double fma_gflops = 0;  // fp32 FMA throughput on all cores
};

// Measures CPU peaks with every OpenMP thread. quick: smaller working set and fewer passes.
CpuPeak measure_cpu_peak(bool quick);
// CpuPeak::read_gbps alone (the runner measures it again at the end of a run).
double measure_read_bandwidth(bool quick);
// The read loop behind it: the sum of p[0, n) on every OpenMP thread, each thread reading its
// contiguous slice as `streams` (1, 4 or 8) equal segments in lockstep.
float sum_in_streams(const float* p, size_t n, int streams);
// The stream counts per thread whose best rate is CpuPeak::read_gbps; results record them as
// host.peak.read_streams (a peak without them came from one stream per thread).
inline constexpr std::array<int, 3> kReadStreams = {1, 4, 8};

// The compute speed the host gives right now, from two loops of about a tenth of a millisecond on
// every OpenMP thread: the FMA loop of CpuPeak::fma_gflops (registers only), and the same FMAs fed
// by 64-byte loads streaming through a 256 KiB buffer per thread (L2, as kernel tiles are). Shared
// hosts change speed within seconds, and not always in both: a neighbour on the same physical core
// can halve the FMA rate, or leave it alone and slow the caches (measured on the project's VM: the
// register loop at full speed while an L2-fed GEMM tile ran at two thirds of its rate). The runner
// brackets each repetition with it.
struct SpeedReading {
  double fma_gflops = 0;    // registers only: comparable with CpuPeak::fma_gflops
  double cache_gflops = 0;  // FMAs fed from L2
};
SpeedReading probe_speed();

// Static facts about the machine and build (no measurement).
nlohmann::json host_fingerprint();

// A fact that layers above the harness know (e.g. the BLAS kernel set the executable runs), added
// to every fingerprint under `key` from then on.
void set_host_fact(const std::string& key, nlohmann::json value);

// Fingerprint plus "peak" (and per-GPU peaks when a GPU probe is registered and a device exists).
nlohmann::json host_with_peaks(bool measure, bool quick);

// The GPU side registers itself here (harness/gpu): returns the "gpus" array (name, sm_count,
// memory_bytes, driver, ..., and "peak" when measure is true), or an empty array.
// GPU peak keys read by the roofline: peak.copy_gbps (device-to-device copy, reads + writes)
// and peak.bf16_gflops (large bf16 cuBLAS GEMM).
using GpuProbe = std::function<nlohmann::json(bool measure, bool quick)>;
void set_gpu_probe(GpuProbe probe);

// Peak read bandwidth (GB/s) and compute (GFLOP/s) for a device ("cpu" or "cuda") from a host
// JSON; 0 when unknown. Used for roofline_fraction.
double peak_bandwidth_gbps(const nlohmann::json& host, const std::string& device);
double peak_gflops(const nlohmann::json& host, const std::string& device);

// roofline_fraction = ideal time / measured time, ideal = max(bytes/peak_bw, flops/peak_flops).
// Equivalent to achieved / min(peak_flops, intensity * peak_bw). 0 when no peak is known.
double roofline_fraction(double seconds, double bytes, double flops, double peak_gbps,
                         double peak_gflops);

}  // namespace dsbench
