// CUPTI Activity API collector for --trace: kernels, copies, memsets, runtime/driver calls,
// synchronisation and NVTX markers, copied into trace::ActivityRecord and converted at stop.
// Any CUPTI failure (e.g. CUPTI_ERROR_INSUFFICIENT_PRIVILEGES) is a warning: CPU spans still go out.
#include <cupti.h>
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "cuda_check.h"
#include "dsbench/kernels/cuda_device.h"
#include "dsbench/trace.h"
#include "dsbench/trace_activity.h"

namespace dsbench::gpu {
namespace {

// A few MB per buffer keeps the number of buffer callbacks small at thousands of kernels per
// second; CUPTI requires 8-byte alignment.
constexpr size_t kBufferBytes = 4u << 20;
constexpr size_t kPreallocated = 8;
constexpr size_t kAlign = 8;

const CUpti_ActivityKind kKinds[] = {
    CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, CUPTI_ACTIVITY_KIND_MEMCPY,
    CUPTI_ACTIVITY_KIND_MEMSET,            CUPTI_ACTIVITY_KIND_RUNTIME,
    CUPTI_ACTIVITY_KIND_DRIVER,            CUPTI_ACTIVITY_KIND_SYNCHRONIZATION,
    CUPTI_ACTIVITY_KIND_MARKER};

struct State {
  // CUPTI calls buffer_completed from its own worker thread as well as from cuptiActivityFlushAll
  // on ours, so the record list and the buffer pool are guarded by one mutex.
  std::mutex mu;
  std::vector<uint8_t*> pool;
  std::vector<trace::ActivityRecord> records;
  uint64_t dropped = 0;
  uint64_t extra_buffers = 0;  // allocated beyond the preallocated pool
  bool active = false;
  bool callbacks_registered = false;
  // Added to CUPTI timestamps when CUPTI could not stamp with the trace clock itself.
  int64_t clock_offset = 0;
  std::string warning;
};

State& state() {
  static State* s = new State();  // CUPTI may call back during process exit
  return *s;
}

uint64_t CUPTIAPI trace_clock() { return static_cast<uint64_t>(trace::now_ns()); }

void CUPTIAPI buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
  State& s = state();
  uint8_t* b = nullptr;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (!s.pool.empty()) {
      b = s.pool.back();
      s.pool.pop_back();
    } else {
      ++s.extra_buffers;
    }
  }
  if (!b) b = static_cast<uint8_t*>(std::aligned_alloc(kAlign, kBufferBytes));
  *buffer = b;
  *size = b ? kBufferBytes : 0;
  *max_records = 0;  // as many as fit
}

const char* api_name(CUpti_CallbackDomain domain, CUpti_CallbackId cbid) {
  const char* name = nullptr;
  if (cuptiGetCallbackName(domain, cbid, &name) != CUPTI_SUCCESS || !name) return "cuda API";
  return name;
}

const char* memcpy_kind(uint8_t k) {
  switch (k) {
    case CUPTI_ACTIVITY_MEMCPY_KIND_HTOD: return "HtoD";
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOH: return "DtoH";
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOD: return "DtoD";
    case CUPTI_ACTIVITY_MEMCPY_KIND_HTOH: return "HtoH";
    case CUPTI_ACTIVITY_MEMCPY_KIND_PTOP: return "PtoP";
    default: return "other";
  }
}

const char* sync_kind(CUpti_ActivitySynchronizationType t) {
  switch (t) {
    case CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_EVENT_SYNCHRONIZE: return "event";
    case CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_STREAM_WAIT_EVENT: return "stream wait event";
    case CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_STREAM_SYNCHRONIZE: return "stream";
    case CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_CONTEXT_SYNCHRONIZE: return "context";
    default: return "unknown";
  }
}

// Copies one CUPTI record into the CUPTI-independent form; false for kinds we do not draw.
bool convert(const CUpti_Activity* a, trace::ActivityRecord& r) {
  using trace::ActivityKind;
  switch (a->kind) {
    case CUPTI_ACTIVITY_KIND_KERNEL:
    case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL: {
      auto* k = reinterpret_cast<const CUpti_ActivityKernel10*>(a);
      r.kind = ActivityKind::kKernel;
      r.name = k->name ? k->name : "kernel";
      r.start_ns = static_cast<int64_t>(k->start);
      r.end_ns = static_cast<int64_t>(k->end);
      r.device = k->deviceId;
      r.stream = k->streamId;
      r.correlation = k->correlationId;
      r.grid[0] = k->gridX, r.grid[1] = k->gridY, r.grid[2] = k->gridZ;
      r.block[0] = k->blockX, r.block[1] = k->blockY, r.block[2] = k->blockZ;
      r.registers = k->registersPerThread;
      r.shared_bytes = k->staticSharedMemory + k->dynamicSharedMemory;
      return true;
    }
    case CUPTI_ACTIVITY_KIND_MEMCPY: {
      auto* m = reinterpret_cast<const CUpti_ActivityMemcpy6*>(a);
      r.kind = ActivityKind::kMemcpy;
      r.name = memcpy_kind(m->copyKind);
      r.start_ns = static_cast<int64_t>(m->start);
      r.end_ns = static_cast<int64_t>(m->end);
      r.device = m->deviceId;
      r.stream = m->streamId;
      r.correlation = m->correlationId;
      r.bytes = m->bytes;
      return true;
    }
    case CUPTI_ACTIVITY_KIND_MEMSET: {
      auto* m = reinterpret_cast<const CUpti_ActivityMemset4*>(a);
      r.kind = ActivityKind::kMemset;
      r.start_ns = static_cast<int64_t>(m->start);
      r.end_ns = static_cast<int64_t>(m->end);
      r.device = m->deviceId;
      r.stream = m->streamId;
      r.correlation = m->correlationId;
      r.bytes = m->bytes;
      return true;
    }
    case CUPTI_ACTIVITY_KIND_RUNTIME:
    case CUPTI_ACTIVITY_KIND_DRIVER: {
      auto* api = reinterpret_cast<const CUpti_ActivityAPI*>(a);
      bool rt = a->kind == CUPTI_ACTIVITY_KIND_RUNTIME;
      r.kind = rt ? ActivityKind::kRuntime : ActivityKind::kDriver;
      r.name = api_name(rt ? CUPTI_CB_DOMAIN_RUNTIME_API : CUPTI_CB_DOMAIN_DRIVER_API, api->cbid);
      r.start_ns = static_cast<int64_t>(api->start);
      r.end_ns = static_cast<int64_t>(api->end);
      r.thread = api->threadId;
      r.correlation = api->correlationId;
      return true;
    }
    case CUPTI_ACTIVITY_KIND_SYNCHRONIZATION: {
      auto* s = reinterpret_cast<const CUpti_ActivitySynchronization2*>(a);
      r.kind = ActivityKind::kSync;
      r.name = sync_kind(s->type);
      r.start_ns = static_cast<int64_t>(s->start);
      r.end_ns = static_cast<int64_t>(s->end);
      r.stream = s->streamId;
      r.correlation = s->correlationId;
      return true;
    }
    case CUPTI_ACTIVITY_KIND_MARKER: {
      auto* m = reinterpret_cast<const CUpti_ActivityMarker2*>(a);
      r.kind = ActivityKind::kMarker;
      r.name = m->name ? m->name : "";
      r.domain = m->domain ? m->domain : "";
      r.start_ns = r.end_ns = static_cast<int64_t>(m->timestamp);
      r.marker_id = m->id;
      if (m->objectKind == CUPTI_ACTIVITY_OBJECT_THREAD ||
          m->objectKind == CUPTI_ACTIVITY_OBJECT_PROCESS) {
        r.thread = m->objectId.pt.threadId;
      }
      if (m->flags & CUPTI_ACTIVITY_FLAG_MARKER_START) {
        r.marker_phase = trace::MarkerPhase::kStart;
      } else if (m->flags & CUPTI_ACTIVITY_FLAG_MARKER_END) {
        r.marker_phase = trace::MarkerPhase::kEnd;
      } else {
        r.marker_phase = trace::MarkerPhase::kInstant;
      }
      return true;
    }
    default: return false;
  }
}

void CUPTIAPI buffer_completed(CUcontext ctx, uint32_t stream_id, uint8_t* buffer, size_t size,
                               size_t valid_size) {
  std::vector<trace::ActivityRecord> local;
  CUpti_Activity* rec = nullptr;
  const int64_t offset = state().clock_offset;
  while (valid_size > 0 &&
         cuptiActivityGetNextRecord(buffer, valid_size, &rec) == CUPTI_SUCCESS) {
    trace::ActivityRecord r;
    if (!convert(rec, r)) continue;
    if (offset != 0) {  // zero stays zero: it marks a missing timestamp
      if (r.start_ns) r.start_ns += offset;
      if (r.end_ns) r.end_ns += offset;
    }
    local.push_back(std::move(r));
  }
  size_t dropped = 0;
  if (cuptiActivityGetNumDroppedRecords(ctx, stream_id, &dropped) != CUPTI_SUCCESS) dropped = 0;
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.active) {
    for (auto& r : local) s.records.push_back(std::move(r));
    s.dropped += dropped;
  }
  if (s.pool.size() < kPreallocated) {
    s.pool.push_back(buffer);
  } else {
    std::free(buffer);
  }
}

// NVTX reaches CUPTI only when CUPTI is NVTX's injection library, and NVTX reads that choice once,
// at its first call. The runner starts the trace before the first range, so pointing NVTX at the
// loaded libcupti here is early enough; a user's own setting (e.g. under nsys) wins.
void route_nvtx_to_cupti() {
  if (std::getenv("NVTX_INJECTION64_PATH")) return;
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&cuptiActivityEnable), &info) && info.dli_fname) {
    setenv("NVTX_INJECTION64_PATH", info.dli_fname, 0);
  }
}

void warn(State& s, const std::string& what) {
  s.warning = what;
  std::fprintf(stderr,
               "dsbench: warning: CUPTI tracing unavailable (%s); the trace keeps CPU spans only\n",
               what.c_str());
}

void on_start() {
  State& s = state();
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.records.clear();
    s.dropped = 0;
    s.extra_buffers = 0;
    s.warning.clear();
  }
  std::string why;
  if (!kernels::cuda_device_available(&why)) {
    std::lock_guard<std::mutex> lock(s.mu);
    s.warning = why;  // CPU-only run: nothing to say, the summary records the reason
    return;
  }
  {
    std::lock_guard<std::mutex> lock(s.mu);
    while (s.pool.size() < kPreallocated) {
      auto* b = static_cast<uint8_t*>(std::aligned_alloc(kAlign, kBufferBytes));
      if (!b) break;
      s.pool.push_back(b);
    }
  }
  try {
    route_nvtx_to_cupti();
    if (!s.callbacks_registered) {
      // Stamping with the trace clock puts GPU records on the same time base as CPU spans. An
      // older CUPTI without the callback stamps with its own clock: measure the offset instead.
      if (cuptiActivityRegisterTimestampCallback(trace_clock) != CUPTI_SUCCESS) {
        uint64_t cupti_now = 0;
        DSBENCH_CUPTI_CHECK(cuptiGetTimestamp(&cupti_now));
        s.clock_offset = trace::now_ns() - static_cast<int64_t>(cupti_now);
      }
      DSBENCH_CUPTI_CHECK(cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed));
      s.callbacks_registered = true;
    }
    for (CUpti_ActivityKind k : kKinds) DSBENCH_CUPTI_CHECK(cuptiActivityEnable(k));
    std::lock_guard<std::mutex> lock(s.mu);
    s.active = true;
  } catch (const std::exception& e) {
    for (CUpti_ActivityKind k : kKinds) cuptiActivityDisable(k);
    warn(s, e.what());
  }
}

void on_stop(int64_t base_ns, nlohmann::json& events, nlohmann::json& summary) {
  State& s = state();
  bool was_active;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    was_active = s.active;
  }
  if (was_active) {
    // Forced: also hands over buffers that are not full, so the last kernels are not lost.
    CUptiResult r = cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
    for (CUpti_ActivityKind k : kKinds) cuptiActivityDisable(k);
    if (r != CUPTI_SUCCESS) {
      warn(s, cupti_check_message(r, __FILE__, __LINE__, "cuptiActivityFlushAll"));
    }
  }
  std::vector<trace::ActivityRecord> records;
  trace::ActivityCounts counts;
  uint64_t extra = 0;
  std::string warning;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.active = false;
    records.swap(s.records);
    counts.dropped = s.dropped;
    extra = s.extra_buffers;
    warning = s.warning;
  }
  trace::convert_activity(records, base_ns, counts, events, summary);
  summary["gpu"]["cupti"] = was_active;
  summary["gpu"]["extra_buffers"] = extra;
  if (!warning.empty()) summary["gpu"]["warning"] = warning;
}

void on_pause(bool paused) {
  State& s = state();
  bool active;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    active = s.active;
  }
  if (!active) return;
  for (CUpti_ActivityKind k : kKinds) {
    if (paused) {
      cuptiActivityDisable(k);
    } else {
      cuptiActivityEnable(k);
    }
  }
}

const bool kRegistered = [] {
  trace::set_gpu_collector({on_start, on_stop, on_pause});
  return true;
}();

}  // namespace
}  // namespace dsbench::gpu
