// CPU spans for --trace: thread-local span buffers, NVTX3 ranges, and the Chrome trace-event
// JSON writer that also merges the GPU collector's events (see docs/tracing.md).
#include "dsbench/trace.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "dsbench/results.h"

#if defined(__has_include)
#if __has_include(<nvtx3/nvToolsExt.h>)
#include <nvtx3/nvToolsExt.h>
#define DSBENCH_HAVE_NVTX 1
#endif
#endif

namespace dsbench::trace {
namespace {

struct Span {
  std::string name;
  const char* category;
  int64_t start_ns, end_ns;
};

// One per thread that ever opened a span. The owning thread appends; the writer reads at stop.
// The per-buffer mutex is uncontended on the hot path (only the writer ever takes it too), which
// keeps appends race-free without a global lock.
struct ThreadBuffer {
  std::mutex mu;
  int tid = 0;
  std::string name;
  uint64_t generation = 0;  // the trace session the spans belong to
  std::vector<Span> spans;
};

struct Registry {
  std::mutex mu;  // guards `buffers` (registration and the writer), never taken by span appends
  std::vector<std::shared_ptr<ThreadBuffer>> buffers;
  int next_tid = 1;
  GpuCollector collector;
};

Registry& registry() {
  static Registry* r = new Registry();  // leaked on purpose: threads may end spans at exit
  return *r;
}

std::atomic<bool> g_enabled{false};
std::atomic<uint64_t> g_generation{0};
std::atomic<int64_t> g_base_ns{0};

ThreadBuffer& this_thread_buffer() {
  thread_local std::shared_ptr<ThreadBuffer> buf = [] {
    auto b = std::make_shared<ThreadBuffer>();
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    b->tid = r.next_tid++;
    if (b->name.empty()) b->name = "cpu thread " + std::to_string(b->tid);
    r.buffers.push_back(b);
    return b;
  }();
  return *buf;
}

#ifdef DSBENCH_HAVE_NVTX
nvtxDomainHandle_t nvtx_domain() {
  static nvtxDomainHandle_t d = nvtxDomainCreateA("dsbench");
  return d;
}
#endif

nlohmann::json metadata(const char* what, int pid, int tid, const std::string& name) {
  nlohmann::json e = {{"ph", "M"}, {"name", what}, {"pid", pid}, {"args", {{"name", name}}}};
  if (tid >= 0) e["tid"] = tid;
  return e;
}

}  // namespace

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t base_ns() { return g_base_ns.load(std::memory_order_relaxed); }

bool enabled() { return g_enabled.load(std::memory_order_relaxed); }

void set_thread_name(const std::string& name) {
  ThreadBuffer& b = this_thread_buffer();
  std::lock_guard<std::mutex> lock(b.mu);
  b.name = name;
}

void set_gpu_collector(GpuCollector c) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.collector = std::move(c);
}

void start() {
  Registry& r = registry();
  GpuCollector collector;
  {
    std::lock_guard<std::mutex> lock(r.mu);
    g_generation.fetch_add(1);
    g_base_ns.store(now_ns());
    collector = r.collector;
  }
  // The collector starts before spans are enabled so the first suite's kernels are captured.
  if (collector.on_start) collector.on_start();
  g_enabled.store(true);
}

void Scope::begin(const char* category) {
  category_ = category;
#ifdef DSBENCH_HAVE_NVTX
  // NVTX ranges are pushed whether or not --trace is on: Nsight Systems users rely on them, and
  // without an attached tool a push is a single function-pointer check.
  nvtxEventAttributes_t attr{};
  attr.version = NVTX_VERSION;
  attr.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
  attr.messageType = NVTX_MESSAGE_TYPE_ASCII;
  attr.message.ascii = name_.c_str();
  nvtxDomainRangePushEx(nvtx_domain(), &attr);
  nvtx_ = true;
#endif
  if (enabled()) start_ns_ = now_ns();
}

Scope::Scope(const char* name, const char* category) : name_(name ? name : "") {
  begin(category);
}

Scope::Scope(const std::string& name, const char* category) : name_(name) { begin(category); }

Scope::~Scope() {
#ifdef DSBENCH_HAVE_NVTX
  if (nvtx_) nvtxDomainRangePop(nvtx_domain());
#endif
  if (start_ns_ < 0 || !enabled()) return;
  int64_t end = now_ns();
  if (start_ns_ < g_base_ns.load(std::memory_order_relaxed)) return;  // began in an older session
  ThreadBuffer& b = this_thread_buffer();
  uint64_t gen = g_generation.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(b.mu);
  if (b.generation != gen) {
    b.spans.clear();
    b.generation = gen;
  }
  b.spans.push_back(Span{std::move(name_), category_, start_ns_, end});
}

nlohmann::json stop_and_write(const std::filesystem::path& path) {
  g_enabled.store(false);
  Registry& r = registry();
  const int64_t base = g_base_ns.load();
  const uint64_t gen = g_generation.load();

  nlohmann::json events = nlohmann::json::array();
  events.push_back(metadata("process_name", kCpuPid, -1, "dsbench (CPU)"));
  events.push_back({{"ph", "M"}, {"name", "process_sort_index"}, {"pid", kCpuPid},
                    {"args", {{"sort_index", 0}}}});
  size_t n_spans = 0, n_threads = 0;
  GpuCollector collector;
  {
    std::lock_guard<std::mutex> lock(r.mu);
    collector = r.collector;
    for (const auto& bp : r.buffers) {
      std::lock_guard<std::mutex> block(bp->mu);
      if (bp->generation != gen || bp->spans.empty()) continue;
      ++n_threads;
      events.push_back(metadata("thread_name", kCpuPid, bp->tid, bp->name));
      // Outer spans first at equal start so viewers nest them correctly.
      std::vector<const Span*> order;
      order.reserve(bp->spans.size());
      for (const Span& s : bp->spans) order.push_back(&s);
      std::stable_sort(order.begin(), order.end(), [](const Span* a, const Span* b) {
        if (a->start_ns != b->start_ns) return a->start_ns < b->start_ns;
        return a->end_ns > b->end_ns;
      });
      for (const Span* s : order) {
        events.push_back({{"ph", "X"},
                          {"name", s->name},
                          {"cat", s->category ? s->category : "dsbench"},
                          {"pid", kCpuPid},
                          {"tid", bp->tid},
                          {"ts", ns_to_trace_us(s->start_ns - base)},
                          {"dur", ns_to_trace_us(s->end_ns - s->start_ns)}});
        ++n_spans;
      }
      bp->spans.clear();
    }
  }

  nlohmann::json summary = {{"file", path.string()},
                            {"cpu_spans", n_spans},
                            {"cpu_threads", n_threads},
                            {"kernels", nlohmann::json::array()}};
  if (collector.on_stop) {
    nlohmann::json gpu_events = nlohmann::json::array();
    collector.on_stop(base, gpu_events, summary);
    for (auto& e : gpu_events) events.push_back(std::move(e));
  }

  nlohmann::json doc = {{"traceEvents", std::move(events)},
                        {"displayTimeUnit", "ns"},
                        {"otherData", {{"generator", "dsbench"}, {"base_ns", base}}}};
  write_text_atomic(path, doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return summary;
}

void discard() {
  g_enabled.store(false);
  Registry& r = registry();
  GpuCollector collector;
  {
    std::lock_guard<std::mutex> lock(r.mu);
    collector = r.collector;
    for (const auto& bp : r.buffers) {
      std::lock_guard<std::mutex> block(bp->mu);
      bp->spans.clear();
    }
  }
  if (collector.on_stop) {
    nlohmann::json events = nlohmann::json::array(), summary = nlohmann::json::object();
    collector.on_stop(g_base_ns.load(), events, summary);
  }
}

void set_paused(bool paused) {
  GpuCollector collector;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    collector = r.collector;
  }
  if (paused) {
    g_enabled.store(false);
    if (collector.on_pause) collector.on_pause(true);
  } else {
    if (collector.on_pause) collector.on_pause(false);
    g_enabled.store(true);
  }
}

double ns_to_trace_us(int64_t ns) {
  // Chrome trace timestamps are microseconds; keep nanosecond resolution as a fraction.
  return static_cast<double>(ns) / 1000.0;
}

}  // namespace dsbench::trace
