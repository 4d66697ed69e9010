// CPU-only traces: the written file is valid Chrome trace JSON with spans nested per thread,
// the names given (escaped), metadata, and timestamps that never run backwards.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsbench/trace.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

fs::path temp_trace(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("dsbench_trace_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir / name;
}

json read_json(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);  // throws on invalid JSON, failing the test
}

void busy_wait_us(int us) {
  int64_t until = dsbench::trace::now_ns() + us * 1000LL;
  while (dsbench::trace::now_ns() < until) {
  }
}

struct Ev {
  std::string name;
  double ts, dur;
};

}  // namespace

TEST(TraceCpu, NestedSpansPerThreadValidJson) {
  namespace tr = dsbench::trace;
  const std::string hostile = "quote\" back\\slash </script> \n tab\t";
  tr::start();
  ASSERT_TRUE(tr::enabled());
  {
    tr::Scope outer("outer");
    busy_wait_us(50);
    {
      tr::Scope inner(std::string("inner"));
      busy_wait_us(50);
      { tr::Scope leaf(hostile); busy_wait_us(20); }
    }
    { tr::Scope second("inner2"); busy_wait_us(20); }
  }
  std::thread worker([] {
    tr::set_thread_name("worker");
    tr::Scope a("worker_outer");
    busy_wait_us(30);
    tr::Scope b("worker_inner");
    busy_wait_us(30);
  });
  worker.join();
  fs::path path = temp_trace("cpu.trace.json");
  json summary = tr::stop_and_write(path);
  EXPECT_FALSE(tr::enabled());
  EXPECT_EQ(summary["file"], path.string());
  EXPECT_EQ(summary["cpu_spans"], 6);
  EXPECT_EQ(summary["cpu_threads"], 2);
  EXPECT_TRUE(summary["kernels"].is_array());
  EXPECT_FALSE(fs::exists(path.string() + ".tmp"));

  json doc = read_json(path);
  ASSERT_TRUE(doc["traceEvents"].is_array());
  std::map<int, std::vector<Ev>> by_tid;
  std::map<int, std::string> thread_names;
  bool process_named = false;
  for (const json& e : doc["traceEvents"]) {
    ASSERT_TRUE(e.contains("ph"));
    ASSERT_TRUE(e.contains("pid"));
    if (e["ph"] == "M") {
      if (e["name"] == "thread_name") thread_names[e["tid"].get<int>()] = e["args"]["name"];
      if (e["name"] == "process_name") process_named = true;
      continue;
    }
    ASSERT_EQ(e["ph"], "X");
    EXPECT_EQ(e["pid"], tr::kCpuPid);
    EXPECT_GE(e["ts"].get<double>(), 0.0);
    EXPECT_GE(e["dur"].get<double>(), 0.0);
    by_tid[e["tid"].get<int>()].push_back(
        {e["name"].get<std::string>(), e["ts"].get<double>(), e["dur"].get<double>()});
  }
  EXPECT_TRUE(process_named);
  ASSERT_EQ(by_tid.size(), 2u);

  for (auto& [tid, evs] : by_tid) {
    ASSERT_TRUE(thread_names.count(tid)) << "thread " << tid << " has no thread_name";
    // Monotonic: the writer emits each thread's spans in start order.
    for (size_t i = 1; i < evs.size(); ++i) EXPECT_LE(evs[i - 1].ts, evs[i].ts);
    // Properly nested: any two spans are disjoint or one contains the other.
    for (size_t i = 0; i < evs.size(); ++i) {
      for (size_t j = i + 1; j < evs.size(); ++j) {
        const Ev& a = evs[i];
        const Ev& b = evs[j];
        bool disjoint = b.ts >= a.ts + a.dur || a.ts >= b.ts + b.dur;
        bool a_has_b = b.ts >= a.ts && b.ts + b.dur <= a.ts + a.dur + 1e-3;
        EXPECT_TRUE(disjoint || a_has_b) << a.name << " vs " << b.name;
      }
    }
  }

  // The main thread's spans: outer contains inner (contains the hostile leaf) and inner2.
  const std::vector<Ev>* main_evs = nullptr;
  const std::vector<Ev>* worker_evs = nullptr;
  for (auto& [tid, evs] : by_tid) {
    if (thread_names[tid] == "worker") worker_evs = &evs;
    else main_evs = &evs;
  }
  ASSERT_NE(main_evs, nullptr);
  ASSERT_NE(worker_evs, nullptr);
  ASSERT_EQ(main_evs->size(), 4u);
  EXPECT_EQ((*main_evs)[0].name, "outer");
  EXPECT_EQ((*main_evs)[1].name, "inner");
  EXPECT_EQ((*main_evs)[2].name, hostile);  // round-trips through JSON escaping
  EXPECT_EQ((*main_evs)[3].name, "inner2");
  const Ev& outer = (*main_evs)[0];
  const Ev& inner = (*main_evs)[1];
  EXPECT_GE(outer.dur, inner.dur);
  EXPECT_GE(inner.ts, outer.ts);
  ASSERT_EQ(worker_evs->size(), 2u);
  EXPECT_EQ((*worker_evs)[0].name, "worker_outer");
  EXPECT_EQ((*worker_evs)[1].name, "worker_inner");
  fs::remove_all(path.parent_path());
}

TEST(TraceCpu, SpansOutsideASessionAreNotRecorded) {
  namespace tr = dsbench::trace;
  { tr::Scope before("before_start"); }
  tr::start();
  { tr::Scope during("during"); }
  auto straddling = std::make_unique<tr::Scope>("straddles_stop");
  fs::path path = temp_trace("window.trace.json");
  json summary = tr::stop_and_write(path);
  straddling.reset();  // ends after stop: must not leak into the next session
  EXPECT_EQ(summary["cpu_spans"], 1);

  tr::start();
  { tr::Scope again("second_session"); }
  json s2 = tr::stop_and_write(path);
  EXPECT_EQ(s2["cpu_spans"], 1);
  json doc = read_json(path);
  std::vector<std::string> names;
  for (const json& e : doc["traceEvents"]) {
    if (e["ph"] == "X") names.push_back(e["name"]);
  }
  EXPECT_EQ(names, std::vector<std::string>{"second_session"});
  fs::remove_all(path.parent_path());
}

TEST(TraceCpu, DisabledScopesAreFree) {
  namespace tr = dsbench::trace;
  EXPECT_FALSE(tr::enabled());
  for (int i = 0; i < 1000; ++i) DSBENCH_TRACE_SCOPE("noop");
  tr::start();
  fs::path path = temp_trace("empty.trace.json");
  json summary = tr::stop_and_write(path);
  EXPECT_EQ(summary["cpu_spans"], 0);
  json doc = read_json(path);
  EXPECT_TRUE(doc["traceEvents"].is_array());
  fs::remove_all(path.parent_path());
}

TEST(TraceCpu, UnwritablePathThrows) {
  namespace tr = dsbench::trace;
  tr::start();
  { tr::Scope s("x"); }
  EXPECT_ANY_THROW(tr::stop_and_write("/proc/definitely/not/writable/trace.json"));
}

TEST(TraceOverhead, InterleavesTracedAndUntracedRounds) {
  namespace tr = dsbench::trace;
  // Without an outer session: traced rounds see tracing on, untraced rounds off.
  int traced = 0, untraced = 0;
  auto work = [&] {
    if (tr::enabled()) ++traced; else ++untraced;
    tr::Scope s("work");
    return tr::enabled() ? 50.0 : 100.0;
  };
  tr::OverheadResult r = tr::measure_overhead(work, 3);
  EXPECT_EQ(traced, 3);
  EXPECT_EQ(untraced, 3);
  EXPECT_DOUBLE_EQ(r.traced, 50.0);
  EXPECT_DOUBLE_EQ(r.untraced, 100.0);
  EXPECT_DOUBLE_EQ(r.ratio, 0.5);
  EXPECT_FALSE(tr::enabled());
  EXPECT_EQ(r.to_json()["trace_overhead_ratio"], 0.5);

  // Inside an outer session: the untraced rounds pause it, and it resumes afterwards; the scratch
  // spans of the measurement stay in the outer trace only from traced rounds.
  tr::start();
  traced = untraced = 0;
  tr::measure_overhead(work, 2);
  EXPECT_TRUE(tr::enabled());
  EXPECT_EQ(traced, 2);
  EXPECT_EQ(untraced, 2);
  fs::path path = temp_trace("overhead.trace.json");
  json summary = tr::stop_and_write(path);
  EXPECT_EQ(summary["cpu_spans"], 2);
  fs::remove_all(path.parent_path());
}
