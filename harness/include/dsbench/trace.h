// Tracing: CPU spans (always) and NVTX ranges, collected into Chrome trace-event JSON.
// GPU activity (CUPTI) joins through a registered collector (harness/gpu).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace dsbench::trace {

// Starts collecting (spans are free when not started: one relaxed atomic load).
void start();
bool enabled();
// Stops, writes the Chrome trace to `path` atomically, returns the summary for the result's
// "traces" entry ({"file", "kernels":[...], ...}).
nlohmann::json stop_and_write(const std::filesystem::path& path);

// Nanoseconds on the trace clock (steady_clock).
int64_t now_ns();

// A CPU span on the calling thread's track, plus an NVTX range in the "dsbench" domain.
class Scope {
 public:
  explicit Scope(const char* name, const char* category = "dsbench");
  Scope(const std::string& name, const char* category = "dsbench");
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  void begin(const char* category);
  std::string name_;
  const char* category_;
  int64_t start_ns_ = -1;
  bool nvtx_ = false;
};

// GPU activity collector hook: start() calls on_start; stop_and_write() calls on_stop, which
// returns extra trace events (Chrome format, already relative to base_ns) and a summary.
struct GpuCollector {
  std::function<void()> on_start;
  std::function<void(int64_t base_ns, nlohmann::json& events, nlohmann::json& summary)> on_stop;
  // Optional: stop/resume collecting without ending the session (measure_overhead).
  std::function<void(bool paused)> on_pause;
};
void set_gpu_collector(GpuCollector c);

// Additions used by the GPU collector, the engine and tests.
// Process id of the CPU tracks in the Chrome trace; GPU devices use kGpuPidBase + device.
inline constexpr int kCpuPid = 1;
inline constexpr int kGpuPidBase = 100;
// Names the calling thread's track ("runner", "engine worker 3"); default "cpu thread N".
void set_thread_name(const std::string& name);
// The trace's base time (now_ns() at start()); event timestamps are relative to it.
int64_t base_ns();
// Chrome trace timestamps are microseconds (fractional, so nanoseconds survive).
double ns_to_trace_us(int64_t ns);

// Tracing overhead, measured in one run: `throughput` runs one workload (e.g. an e2e decode batch)
// and returns its throughput (items/s). It is called `rounds` times traced and `rounds` times
// untraced, interleaved; ratio = median traced / median untraced (1.0 = free, 0.9 = 10% slower).
// When no trace session is active, traced rounds use a scratch session that is discarded; when
// one is active (--trace), untraced rounds pause it (CPU spans and the GPU collector).
struct OverheadResult {
  double traced = 0, untraced = 0, ratio = 0;
  int rounds = 0;
  nlohmann::json to_json() const;
};
OverheadResult measure_overhead(const std::function<double()>& throughput, int rounds = 3);
// Ends the current session without writing anything (scratch sessions).
void discard();
// Pauses or resumes recording in the current session.
void set_paused(bool paused);

}  // namespace dsbench::trace

#define DSBENCH_TRACE_SCOPE(name) \
  ::dsbench::trace::Scope DSBENCH_TRACE_CONCAT(dsbench_trace_scope_, __LINE__)(name)
#define DSBENCH_TRACE_CONCAT_INNER(a, b) a##b
#define DSBENCH_TRACE_CONCAT(a, b) DSBENCH_TRACE_CONCAT_INNER(a, b)
