// GPU activity records in a CUPTI-independent form, and their conversion to Chrome trace events
// plus a per-kernel summary. Pure code: it builds and is tested without CUDA or a GPU; the CUPTI
// collector (harness/gpu/cupti_collector.cpp) only copies CUPTI's records into this form.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dsbench::trace {

enum class ActivityKind { kKernel, kMemcpy, kMemset, kRuntime, kDriver, kSync, kMarker };

enum class MarkerPhase { kInstant, kStart, kEnd };

struct ActivityRecord {
  ActivityKind kind = ActivityKind::kKernel;
  // Kernel (mangled or plain), API function, memcpy kind ("HtoD"), sync type, NVTX message.
  std::string name;
  // On the trace clock (now_ns()); the collector makes CUPTI stamp with it. 0 = missing.
  int64_t start_ns = 0;
  int64_t end_ns = 0;
  uint32_t device = 0;
  uint32_t stream = 0;
  uint32_t correlation = 0;  // links a runtime/driver call to the GPU work it launched
  uint32_t thread = 0;       // host thread id of API calls and markers
  uint64_t bytes = 0;        // memcpy/memset
  int grid[3] = {0, 0, 0};   // kernel launch shape
  int block[3] = {0, 0, 0};
  int registers = 0;
  int shared_bytes = 0;
  // Markers (NVTX through CUPTI): start and end records share `marker_id`; only the start one
  // carries the message. Markers have no duration of their own (start_ns = end_ns = time).
  MarkerPhase marker_phase = MarkerPhase::kInstant;
  uint64_t marker_id = 0;
  std::string domain;
};

// Fixed process ids for the GPU side of the trace: one process for host-side CUDA API calls and
// NVTX markers (tid = host thread), one per device (kGpuPidBase + device, tid = stream).
inline constexpr int kCudaApiPid = 2;

struct ActivityCounts {
  uint64_t dropped = 0;  // cuptiActivityGetNumDroppedRecords, summed over contexts
};

// Appends Chrome events (timestamps relative to base_ns, in microseconds) for `records` to
// `events`, and fills summary["kernels"] = [{name, count, total_ns, mean_ns}] (by total time,
// descending) and summary["gpu"] = {records, kernels, memcpy, memset, api_calls, markers, flows,
// dropped, invalid_timestamps, before_base, unpaired_markers}. Records whose timestamps are zero
// or reversed are counted, not drawn; so are records that end before base_ns.
void convert_activity(const std::vector<ActivityRecord>& records, int64_t base_ns,
                      const ActivityCounts& counts, nlohmann::json& events, nlohmann::json& summary);

// Demangles an Itanium C++ name ("_Z..."); returns it unchanged otherwise.
std::string demangle(const std::string& name);

}  // namespace dsbench::trace
