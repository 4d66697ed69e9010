// Converts GPU activity records (copied from CUPTI) into Chrome trace events and the per-kernel
// summary of the result's "traces" entry. No CUDA here, so it is tested from a record fixture.
#include "dsbench/trace_activity.h"

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>

#include "dsbench/trace.h"

namespace dsbench::trace {
namespace {

// CUPTI reports "no stream" (e.g. a context-wide synchronisation) as an all-ones id.
constexpr uint32_t kNoStream = 0xffffffffu;
constexpr int kNoStreamTid = 1 << 30;

int gpu_pid(uint32_t device) { return kGpuPidBase + static_cast<int>(device); }
int stream_tid(uint32_t stream) {
  return stream == kNoStream ? kNoStreamTid : static_cast<int>(stream & 0x3fffffffu);
}

const char* category(ActivityKind k) {
  switch (k) {
    case ActivityKind::kKernel: return "kernel";
    case ActivityKind::kMemcpy: return "memcpy";
    case ActivityKind::kMemset: return "memset";
    case ActivityKind::kRuntime: return "cuda_runtime";
    case ActivityKind::kDriver: return "cuda_driver";
    case ActivityKind::kSync: return "cuda_sync";
    case ActivityKind::kMarker: return "nvtx";
  }
  return "gpu";
}

bool on_device(ActivityKind k) {
  return k == ActivityKind::kKernel || k == ActivityKind::kMemcpy || k == ActivityKind::kMemset;
}

struct KernelTotals {
  uint64_t count = 0;
  int64_t total_ns = 0;
};

}  // namespace

std::string demangle(const std::string& name) {
  if (name.rfind("_Z", 0) != 0) return name;
  int status = 0;
  char* out = abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status);
  if (status != 0 || !out) return name;
  std::string s(out);
  std::free(out);
  return s;
}

void convert_activity(const std::vector<ActivityRecord>& records, int64_t base_ns,
                      const ActivityCounts& counts, nlohmann::json& events, nlohmann::json& summary) {
  using nlohmann::json;
  uint64_t invalid = 0, before_base = 0, unpaired = 0, n_flows = 0;
  uint64_t n_kernels = 0, n_memcpy = 0, n_memset = 0, n_api = 0, n_markers = 0, n_sync = 0;

  std::set<uint32_t> devices;
  std::set<std::pair<uint32_t, uint32_t>> streams;  // (device, stream)
  std::set<uint32_t> host_threads;
  std::map<std::string, KernelTotals> kernels;
  std::vector<json> out;

  // Valid window: drawn records start at max(start, base) and end after base.
  auto valid = [&](const ActivityRecord& r) {
    if (r.start_ns <= 0 || r.end_ns <= 0 || r.end_ns < r.start_ns) {
      ++invalid;
      return false;
    }
    if (r.end_ns < base_ns) {
      ++before_base;
      return false;
    }
    return true;
  };
  auto ts = [&](int64_t t) { return ns_to_trace_us(std::max(t, base_ns) - base_ns); };

  // First pass: API calls by correlation id (runtime wins over driver for the flow source).
  std::unordered_map<uint32_t, const ActivityRecord*> api_by_corr;
  for (const ActivityRecord& r : records) {
    if (r.kind != ActivityKind::kRuntime && r.kind != ActivityKind::kDriver) continue;
    if (r.correlation == 0 || r.start_ns <= 0 || r.end_ns < r.start_ns || r.end_ns < base_ns) {
      continue;
    }
    auto [it, inserted] = api_by_corr.emplace(r.correlation, &r);
    if (!inserted && r.kind == ActivityKind::kRuntime) it->second = &r;
  }

  // Markers: pair start/end by id; the start record carries the message.
  std::unordered_map<uint64_t, const ActivityRecord*> open_markers;

  for (const ActivityRecord& r : records) {
    if (r.kind == ActivityKind::kMarker) {
      if (r.start_ns <= 0) {
        ++invalid;
        continue;
      }
      if (r.marker_phase == MarkerPhase::kStart) {
        open_markers[r.marker_id] = &r;
        continue;
      }
      if (r.marker_phase == MarkerPhase::kInstant) {
        if (r.start_ns < base_ns) {
          ++before_base;
          continue;
        }
        host_threads.insert(r.thread);
        out.push_back({{"ph", "i"}, {"s", "t"}, {"name", r.name}, {"cat", "nvtx"},
                       {"pid", kCudaApiPid}, {"tid", static_cast<int64_t>(r.thread)},
                       {"ts", ts(r.start_ns)}, {"args", {{"domain", r.domain}}}});
        ++n_markers;
        continue;
      }
      auto it = open_markers.find(r.marker_id);
      if (it == open_markers.end()) {
        ++unpaired;
        continue;
      }
      const ActivityRecord& s = *it->second;
      open_markers.erase(it);
      if (r.start_ns < s.start_ns) {
        ++invalid;
        continue;
      }
      if (r.start_ns < base_ns) {
        ++before_base;
        continue;
      }
      host_threads.insert(s.thread);
      out.push_back({{"ph", "X"}, {"name", s.name}, {"cat", "nvtx"}, {"pid", kCudaApiPid},
                     {"tid", static_cast<int64_t>(s.thread)}, {"ts", ts(s.start_ns)},
                     {"dur", ns_to_trace_us(r.start_ns - std::max(s.start_ns, base_ns))},
                     {"args", {{"domain", s.domain.empty() ? r.domain : s.domain}}}});
      ++n_markers;
      continue;
    }

    if (!valid(r)) continue;
    json e = {{"ph", "X"}, {"cat", category(r.kind)}, {"ts", ts(r.start_ns)},
              {"dur", ns_to_trace_us(r.end_ns - std::max(r.start_ns, base_ns))}};
    json args = {{"correlation", r.correlation}};
    switch (r.kind) {
      case ActivityKind::kKernel: {
        std::string name = demangle(r.name);
        e["name"] = name;
        args["grid"] = {r.grid[0], r.grid[1], r.grid[2]};
        args["block"] = {r.block[0], r.block[1], r.block[2]};
        args["registers"] = r.registers;
        args["shared_bytes"] = r.shared_bytes;
        KernelTotals& k = kernels[name];
        ++k.count;
        k.total_ns += r.end_ns - r.start_ns;
        ++n_kernels;
        break;
      }
      case ActivityKind::kMemcpy:
        e["name"] = "Memcpy " + r.name;
        args["bytes"] = r.bytes;
        ++n_memcpy;
        break;
      case ActivityKind::kMemset:
        e["name"] = "Memset";
        args["bytes"] = r.bytes;
        ++n_memset;
        break;
      case ActivityKind::kSync:
        e["name"] = "Sync " + r.name;
        ++n_sync;
        break;
      case ActivityKind::kRuntime:
      case ActivityKind::kDriver:
        e["name"] = r.name;
        ++n_api;
        break;
      case ActivityKind::kMarker: break;  // handled above
    }
    e["args"] = std::move(args);
    if (on_device(r.kind) || r.kind == ActivityKind::kSync) {
      devices.insert(r.device);
      streams.insert({r.device, r.stream});
      e["pid"] = gpu_pid(r.device);
      e["tid"] = stream_tid(r.stream);
    } else {
      host_threads.insert(r.thread);
      e["pid"] = kCudaApiPid;
      e["tid"] = static_cast<int64_t>(r.thread);
    }
    out.push_back(std::move(e));

    // A flow arrow from the launching call to the GPU work, keyed by correlation id.
    if (on_device(r.kind) && r.correlation != 0) {
      auto it = api_by_corr.find(r.correlation);
      if (it != api_by_corr.end()) {
        const ActivityRecord& api = *it->second;
        out.push_back({{"ph", "s"}, {"name", "launch"}, {"cat", "launch"},
                       {"id", r.correlation}, {"pid", kCudaApiPid},
                       {"tid", static_cast<int64_t>(api.thread)}, {"ts", ts(api.start_ns)}});
        out.push_back({{"ph", "f"}, {"bp", "e"}, {"name", "launch"}, {"cat", "launch"},
                       {"id", r.correlation}, {"pid", gpu_pid(r.device)},
                       {"tid", stream_tid(r.stream)}, {"ts", ts(r.start_ns)}});
        ++n_flows;
      }
    }
  }
  unpaired += open_markers.size();

  std::stable_sort(out.begin(), out.end(), [](const json& a, const json& b) {
    return a["ts"].get<double>() < b["ts"].get<double>();
  });

  // Metadata first, then the events.
  if (!host_threads.empty() || n_markers > 0) {
    events.push_back({{"ph", "M"}, {"name", "process_name"}, {"pid", kCudaApiPid},
                      {"args", {{"name", "CUDA API and NVTX (host)"}}}});
    events.push_back({{"ph", "M"}, {"name", "process_sort_index"}, {"pid", kCudaApiPid},
                      {"args", {{"sort_index", 1}}}});
  }
  for (uint32_t t : host_threads) {
    events.push_back({{"ph", "M"}, {"name", "thread_name"}, {"pid", kCudaApiPid},
                      {"tid", static_cast<int64_t>(t)},
                      {"args", {{"name", "host thread " + std::to_string(t)}}}});
  }
  for (uint32_t d : devices) {
    events.push_back({{"ph", "M"}, {"name", "process_name"}, {"pid", gpu_pid(d)},
                      {"args", {{"name", "GPU " + std::to_string(d)}}}});
    events.push_back({{"ph", "M"}, {"name", "process_sort_index"}, {"pid", gpu_pid(d)},
                      {"args", {{"sort_index", 2 + static_cast<int>(d)}}}});
  }
  for (const auto& [d, s] : streams) {
    std::string label = s == kNoStream ? std::string("context synchronisation")
                                       : "stream " + std::to_string(s);
    events.push_back({{"ph", "M"}, {"name", "thread_name"}, {"pid", gpu_pid(d)},
                      {"tid", stream_tid(s)}, {"args", {{"name", label}}}});
  }
  for (auto& e : out) events.push_back(std::move(e));

  std::vector<std::pair<std::string, KernelTotals>> sorted(kernels.begin(), kernels.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.second.total_ns > b.second.total_ns;
  });
  json ks = json::array();
  for (const auto& [name, k] : sorted) {
    ks.push_back({{"name", name},
                  {"count", k.count},
                  {"total_ns", k.total_ns},
                  {"mean_ns", static_cast<double>(k.total_ns) / static_cast<double>(k.count)}});
  }
  summary["kernels"] = std::move(ks);
  summary["gpu"] = {{"records", records.size()},  {"kernels", n_kernels},
                    {"memcpy", n_memcpy},         {"memset", n_memset},
                    {"api_calls", n_api},         {"sync", n_sync},
                    {"markers", n_markers},       {"flows", n_flows},
                    {"dropped", counts.dropped},  {"invalid_timestamps", invalid},
                    {"before_base", before_base}, {"unpaired_markers", unpaired}};
}

}  // namespace dsbench::trace
