// CUPTI-to-Chrome conversion from a fixture of activity records (no GPU, no CUPTI): kernels,
// memcpy, flows from launches to kernels, NVTX marker pairing, and bad timestamps counted.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsbench/trace.h"
#include "dsbench/trace_activity.h"

using nlohmann::json;
namespace tr = dsbench::trace;

namespace {

constexpr int64_t kBase = 1'000'000'000;  // base time of the fixture's trace

tr::ActivityRecord rec(tr::ActivityKind kind, std::string name, int64_t start, int64_t end,
                       uint32_t corr = 0) {
  tr::ActivityRecord r;
  r.kind = kind;
  r.name = std::move(name);
  r.start_ns = start ? kBase + start : 0;
  r.end_ns = end ? kBase + end : 0;
  r.correlation = corr;
  r.device = 0;
  r.thread = 4242;
  return r;
}

tr::ActivityRecord marker(tr::MarkerPhase phase, uint64_t id, std::string name, int64_t t) {
  tr::ActivityRecord r = rec(tr::ActivityKind::kMarker, std::move(name), t, t);
  r.marker_phase = phase;
  r.marker_id = id;
  r.domain = "dsbench";
  return r;
}

// Two launches on streams 7 and 9, a copy, a memset, a sync, an NVTX range around it all, plus
// records with zero/reversed timestamps and one from before the trace started.
std::vector<tr::ActivityRecord> fixture() {
  std::vector<tr::ActivityRecord> v;
  v.push_back(marker(tr::MarkerPhase::kStart, 1, "decode_step", 1'000));
  v.push_back(rec(tr::ActivityKind::kRuntime, "cudaLaunchKernel", 2'000, 3'000, 11));
  tr::ActivityRecord k1 = rec(tr::ActivityKind::kKernel, "_Z10mla_decodePKfPfi", 5'000, 9'000, 11);
  k1.stream = 7;
  k1.grid[0] = 128;
  k1.block[0] = 256;
  v.push_back(k1);
  v.push_back(rec(tr::ActivityKind::kRuntime, "cudaLaunchKernel", 3'500, 4'000, 12));
  tr::ActivityRecord k2 = rec(tr::ActivityKind::kKernel, "_Z10mla_decodePKfPfi", 9'000, 15'000, 12);
  k2.stream = 9;
  v.push_back(k2);
  v.push_back(rec(tr::ActivityKind::kDriver, "cuLaunchKernel", 4'100, 4'600, 13));
  tr::ActivityRecord k3 = rec(tr::ActivityKind::kKernel, "combine_kernel", 16'000, 17'000, 13);
  k3.stream = 7;
  v.push_back(k3);
  v.push_back(rec(tr::ActivityKind::kRuntime, "cudaMemcpyAsync", 4'700, 4'900, 14));
  tr::ActivityRecord cp = rec(tr::ActivityKind::kMemcpy, "DtoH", 17'500, 19'500, 14);
  cp.stream = 7;
  cp.bytes = 1 << 20;
  v.push_back(cp);
  tr::ActivityRecord ms = rec(tr::ActivityKind::kMemset, "", 1'500, 1'700, 0);
  ms.stream = 7;
  ms.bytes = 4096;
  v.push_back(ms);
  tr::ActivityRecord sync = rec(tr::ActivityKind::kSync, "stream", 5'000, 19'600, 15);
  sync.stream = 0xffffffffu;
  v.push_back(sync);
  v.push_back(marker(tr::MarkerPhase::kEnd, 1, "", 20'000));
  v.push_back(marker(tr::MarkerPhase::kInstant, 2, "checkpoint", 8'000));
  v.push_back(marker(tr::MarkerPhase::kStart, 3, "never_closed", 8'500));
  v.push_back(marker(tr::MarkerPhase::kEnd, 99, "", 8'600));  // end without a start
  // Invalid: zero start, zero end, reversed; and one that ended before the base time.
  v.push_back(rec(tr::ActivityKind::kKernel, "zero_start", 0, 5'000, 0));
  v.push_back(rec(tr::ActivityKind::kKernel, "zero_end", 5'000, 0, 0));
  v.push_back(rec(tr::ActivityKind::kKernel, "reversed", 9'000, 8'000, 0));
  tr::ActivityRecord old = rec(tr::ActivityKind::kKernel, "old", 1, 2, 0);
  old.start_ns = kBase - 5'000;
  old.end_ns = kBase - 4'000;
  v.push_back(old);
  return v;
}

const json* find_event(const json& events, const std::string& ph, const std::string& name) {
  for (const json& e : events) {
    if (e["ph"] == ph && e.value("name", "") == name) return &e;
  }
  return nullptr;
}

}  // namespace

TEST(TraceActivity, KernelsMemcpyAndSummary) {
  json events = json::array(), summary = json::object();
  tr::convert_activity(fixture(), kBase, tr::ActivityCounts{3}, events, summary);

  // Kernels land on their device's process, one track per stream, with names demangled.
  int on_7 = 0, on_9 = 0;
  for (const json& e : events) {
    if (e["ph"] != "X" || e["cat"] != "kernel") continue;
    EXPECT_EQ(e["pid"], tr::kGpuPidBase + 0);
    if (e["tid"] == 7) ++on_7;
    if (e["tid"] == 9) ++on_9;
  }
  EXPECT_EQ(on_7, 2);
  EXPECT_EQ(on_9, 1);
  const json* k = find_event(events, "X", "mla_decode(float const*, float*, int)");
  ASSERT_NE(k, nullptr);
  EXPECT_DOUBLE_EQ((*k)["ts"].get<double>(), 5.0);  // microseconds from the base
  EXPECT_DOUBLE_EQ((*k)["dur"].get<double>(), 4.0);
  EXPECT_EQ((*k)["args"]["grid"][0], 128);

  const json* cp = find_event(events, "X", "Memcpy DtoH");
  ASSERT_NE(cp, nullptr);
  EXPECT_EQ((*cp)["args"]["bytes"], 1 << 20);
  EXPECT_EQ((*cp)["tid"], 7);
  ASSERT_NE(find_event(events, "X", "Memset"), nullptr);
  const json* api = find_event(events, "X", "cudaLaunchKernel");
  ASSERT_NE(api, nullptr);
  EXPECT_EQ((*api)["pid"], tr::kCudaApiPid);
  EXPECT_EQ((*api)["tid"], 4242);

  // Metadata names the GPU process and each stream track.
  std::map<int, std::string> streams;
  bool gpu_named = false;
  for (const json& e : events) {
    if (e["ph"] != "M") continue;
    if (e["name"] == "process_name" && e["pid"] == tr::kGpuPidBase) gpu_named = true;
    if (e["name"] == "thread_name" && e["pid"] == tr::kGpuPidBase)
      streams[e["tid"].get<int>()] = e["args"]["name"];
  }
  EXPECT_TRUE(gpu_named);
  EXPECT_EQ(streams[7], "stream 7");
  EXPECT_EQ(streams[9], "stream 9");

  // Summary: per kernel name, by total time descending.
  ASSERT_EQ(summary["kernels"].size(), 2u);
  EXPECT_EQ(summary["kernels"][0]["name"], "mla_decode(float const*, float*, int)");
  EXPECT_EQ(summary["kernels"][0]["count"], 2);
  EXPECT_EQ(summary["kernels"][0]["total_ns"], 10'000);
  EXPECT_DOUBLE_EQ(summary["kernels"][0]["mean_ns"].get<double>(), 5'000.0);
  EXPECT_EQ(summary["kernels"][1]["name"], "combine_kernel");
  EXPECT_EQ(summary["kernels"][1]["count"], 1);

  const json& g = summary["gpu"];
  EXPECT_EQ(g["kernels"], 3);
  EXPECT_EQ(g["memcpy"], 1);
  EXPECT_EQ(g["memset"], 1);
  EXPECT_EQ(g["sync"], 1);
  EXPECT_EQ(g["dropped"], 3);
  EXPECT_EQ(g["invalid_timestamps"], 3);
  EXPECT_EQ(g["before_base"], 1);

  // Drawn events never have negative or missing times; invalid ones are absent.
  for (const json& e : events) {
    if (e["ph"] == "M") continue;
    EXPECT_GE(e["ts"].get<double>(), 0.0) << e.dump();
    if (e["ph"] == "X") {
      EXPECT_GE(e["dur"].get<double>(), 0.0) << e.dump();
      EXPECT_NE(e["name"], "zero_start");
      EXPECT_NE(e["name"], "zero_end");
      EXPECT_NE(e["name"], "reversed");
      EXPECT_NE(e["name"], "old");
    }
  }
}

TEST(TraceActivity, FlowsLinkLaunchesToTheirGpuWork) {
  json events = json::array(), summary = json::object();
  tr::convert_activity(fixture(), kBase, {}, events, summary);
  std::map<uint64_t, const json*> starts, finishes;
  for (const json& e : events) {
    if (e["ph"] == "s") starts[e["id"].get<uint64_t>()] = &e;
    if (e["ph"] == "f") finishes[e["id"].get<uint64_t>()] = &e;
  }
  // Correlations 11, 12 (runtime launches), 13 (driver launch) and 14 (memcpy).
  EXPECT_EQ(summary["gpu"]["flows"], 4);
  for (uint64_t id : {11u, 12u, 13u, 14u}) {
    ASSERT_TRUE(starts.count(id)) << id;
    ASSERT_TRUE(finishes.count(id)) << id;
    const json& s = *starts[id];
    const json& f = *finishes[id];
    EXPECT_EQ(s["pid"], tr::kCudaApiPid);
    EXPECT_EQ(s["tid"], 4242);
    EXPECT_EQ(f["pid"], tr::kGpuPidBase);
    EXPECT_EQ(f["bp"], "e");
    EXPECT_LE(s["ts"].get<double>(), f["ts"].get<double>());
  }
  EXPECT_DOUBLE_EQ(starts[11]->at("ts").get<double>(), 2.0);   // the launch call's start
  EXPECT_DOUBLE_EQ(finishes[11]->at("ts").get<double>(), 5.0); // the kernel's start
  EXPECT_EQ(finishes[12]->at("tid"), 9);
  EXPECT_FALSE(starts.count(15));  // the sync record has no launched work
}

TEST(TraceActivity, MarkersArePairedById) {
  json events = json::array(), summary = json::object();
  tr::convert_activity(fixture(), kBase, {}, events, summary);
  const json* range = find_event(events, "X", "decode_step");
  ASSERT_NE(range, nullptr);
  EXPECT_EQ((*range)["cat"], "nvtx");
  EXPECT_DOUBLE_EQ((*range)["ts"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ((*range)["dur"].get<double>(), 19.0);
  EXPECT_EQ((*range)["args"]["domain"], "dsbench");
  EXPECT_EQ((*range)["pid"], tr::kCudaApiPid);
  const json* instant = find_event(events, "i", "checkpoint");
  ASSERT_NE(instant, nullptr);
  EXPECT_DOUBLE_EQ((*instant)["ts"].get<double>(), 8.0);
  EXPECT_EQ(find_event(events, "X", "never_closed"), nullptr);
  EXPECT_EQ(summary["gpu"]["markers"], 2);
  EXPECT_EQ(summary["gpu"]["unpaired_markers"], 2);  // one start never closed, one stray end
}

TEST(TraceActivity, EmptyInputGivesEmptySummary) {
  json events = json::array(), summary = json::object();
  tr::convert_activity({}, kBase, {}, events, summary);
  EXPECT_TRUE(events.empty());
  EXPECT_TRUE(summary["kernels"].is_array());
  EXPECT_TRUE(summary["kernels"].empty());
  EXPECT_EQ(summary["gpu"]["records"], 0);
}

TEST(TraceActivity, DemangleLeavesPlainNamesAlone) {
  EXPECT_EQ(tr::demangle("plain_kernel"), "plain_kernel");
  EXPECT_EQ(tr::demangle("_Z3fooi"), "foo(int)");
  EXPECT_EQ(tr::demangle("_Zbroken!!"), "_Zbroken!!");
}
