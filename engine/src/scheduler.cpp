// Continuous batching over the engine's paged KV cache: FIFO admission with worst-case block
// reservation (prompt + max_tokens), chunked prefill under a per-step token budget, decode rows
// for every running request each step, retirement and block release as soon as a request ends.
#include "dsbench/engine/scheduler.h"

#include <algorithm>
#include <deque>
#include <unordered_set>

#include "dsbench/engine/kv_cache.h"
#include "dsbench/engine/model.h"
#include "dsbench/error.h"
#include "dsbench/trace.h"

namespace dsbench::engine {

const char* to_string(FinishReason r) {
  switch (r) {
    case FinishReason::kNone: return "none";
    case FinishReason::kLength: return "length";
    case FinishReason::kEos: return "eos";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kRejected: return "rejected";
  }
  return "?";
}

double RequestResult::ttft_s() const {
  return token_ns.empty() ? 0.0 : double(token_ns.front() - arrival_ns) * 1e-9;
}
double RequestResult::tpot_s() const {
  if (token_ns.size() < 2) return 0.0;
  return double(token_ns.back() - token_ns.front()) * 1e-9 / double(token_ns.size() - 1);
}

namespace {
struct Req {
  RequestSpec spec;
  RequestResult res;
  int32_t seq = -1;
  int64_t prefilled = 0;
  int64_t reserved = 0;
  int32_t last_token = -1;
  bool reject = false;
};
}  // namespace

struct Scheduler::Impl {
  Model& model;
  KvCache& cache;
  SchedulerOptions o;
  // Shared with other threads, under mu.
  mutable std::mutex mu;
  std::deque<std::unique_ptr<Req>> inbox;
  std::unordered_set<uint64_t> cancels;
  std::vector<RequestResult> finished;
  SchedulerStats snap;
  uint64_t next_id = 1;
  int64_t inflight = 0;  // submitted and not yet finished
  // Engine thread only.
  std::deque<std::unique_ptr<Req>> waiting;
  std::vector<std::unique_ptr<Req>> running;
  int64_t reserved = 0;
  SchedulerStats st;
  std::vector<float> logits;
  std::vector<SeqInput> inputs;
  std::vector<Req*> owners;

  Impl(Model& m, KvCache& c, SchedulerOptions opts) : model(m), cache(c), o(opts) {}

  void emit(Req& r, int32_t token, bool fin, FinishReason why, int64_t now) {
    if (!r.spec.on_token) return;
    TokenEvent ev;
    ev.request_id = r.res.id;
    ev.token = token;
    ev.index = token >= 0 ? int64_t(r.res.output.size()) - 1 : int64_t(r.res.output.size());
    ev.finished = fin;
    ev.reason = why;
    ev.time_ns = now;
    r.spec.on_token(ev);
  }

  void retire(std::unique_ptr<Req> r, FinishReason why, bool emit_event) {
    if (r->seq >= 0) {
      cache.pool().free_sequence(r->seq);
      r->seq = -1;
    }
    reserved -= r->reserved;
    r->reserved = 0;
    r->res.reason = why;
    if (why == FinishReason::kRejected) ++st.rejected;
    if (why == FinishReason::kCancelled) ++st.cancelled;
    ++st.finished;
    if (emit_event) emit(*r, -1, true, why, trace::now_ns());
    std::lock_guard<std::mutex> lk(mu);
    finished.push_back(std::move(r->res));
    --inflight;
  }

  int64_t need_blocks(const RequestSpec& s) const {
    return cache.blocks_for_tokens(int64_t(s.prompt.size()) + s.max_tokens);
  }

  void publish() {
    st.queued = int64_t(waiting.size());
    st.running = int64_t(running.size());
    st.kv_blocks_used = cache.pool().used_blocks();
    st.kv_blocks_total = cache.pool().num_blocks();
    st.kv_bytes_used = cache.pool().bytes_allocated();
    st.kv_bytes_budget = cache.pool().capacity_bytes();
    st.peak_running = std::max(st.peak_running, st.running);
    st.peak_kv_blocks_used = std::max(st.peak_kv_blocks_used, st.kv_blocks_used);
    std::lock_guard<std::mutex> lk(mu);
    snap = st;
    snap.queued += int64_t(inbox.size());
  }
};

Scheduler::Scheduler(Model& model, KvCache& cache, SchedulerOptions opts)
    : impl_(new Impl(model, cache, opts)) {
  if (impl_->o.eos_token_id < 0) {
    const auto& raw = model.config().raw;
    if (raw.is_object() && raw.contains("eos_token_id") && raw["eos_token_id"].is_number_integer())
      impl_->o.eos_token_id = raw["eos_token_id"].get<int64_t>();
  }
  if (impl_->o.max_step_tokens < 1 || impl_->o.max_running < 1)
    throw UsageError("scheduler: max_step_tokens and max_running must be >= 1");
  impl_->publish();
}
Scheduler::~Scheduler() = default;

uint64_t Scheduler::submit(RequestSpec spec) {
  Impl& I = *impl_;
  if (spec.prompt.empty()) throw UsageError("request: prompt is empty");
  if (spec.max_tokens < 1) throw UsageError("request: max_tokens must be >= 1");
  const int64_t V = I.model.vocab();
  for (int32_t t : spec.prompt)
    if (t < 0 || t >= V)
      throw UsageError("request: prompt token id " + std::to_string(t) + " out of range [0, " +
                       std::to_string(V) + ")");
  auto r = std::make_unique<Req>();
  r->res.prompt_tokens = int64_t(spec.prompt.size());
  r->res.arrival_ns = trace::now_ns();
  const bool too_big = I.need_blocks(spec) > I.cache.pool().num_blocks();
  r->spec = std::move(spec);
  std::lock_guard<std::mutex> lk(I.mu);
  r->res.id = I.next_id++;
  r->reject = too_big || int64_t(I.inbox.size()) + I.snap.queued >= I.o.max_queue;
  const uint64_t id = r->res.id;
  I.inbox.push_back(std::move(r));
  ++I.inflight;
  ++I.snap.queued;
  return id;
}

void Scheduler::cancel(uint64_t id) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->cancels.insert(id);
}

bool Scheduler::idle() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->inflight == 0;
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->snap;
}

std::vector<RequestResult> Scheduler::take_finished() {
  std::lock_guard<std::mutex> lk(impl_->mu);
  std::vector<RequestResult> out;
  out.swap(impl_->finished);
  return out;
}

void Scheduler::run_until_idle() {
  while (!idle()) step();
}

bool Scheduler::step() {
  Impl& I = *impl_;
  DSBENCH_TRACE_SCOPE("engine/step");
  // 1. Take new requests and cancellations.
  std::deque<std::unique_ptr<Req>> fresh;
  std::unordered_set<uint64_t> cancels;
  {
    std::lock_guard<std::mutex> lk(I.mu);
    fresh.swap(I.inbox);
    cancels.swap(I.cancels);
  }
  bool did = false;
  for (auto& r : fresh) {
    if (r->reject) {
      I.retire(std::move(r), FinishReason::kRejected, true);
      did = true;
    } else {
      I.waiting.push_back(std::move(r));
    }
  }
  if (!cancels.empty()) {
    for (auto it = I.waiting.begin(); it != I.waiting.end();) {
      if (cancels.count((*it)->res.id)) {
        I.retire(std::move(*it), FinishReason::kCancelled, true);
        it = I.waiting.erase(it);
        did = true;
      } else {
        ++it;
      }
    }
    for (auto it = I.running.begin(); it != I.running.end();) {
      if (cancels.count((*it)->res.id)) {
        I.retire(std::move(*it), FinishReason::kCancelled, true);
        it = I.running.erase(it);
        did = true;
      } else {
        ++it;
      }
    }
  }
  // 2. Admission in arrival order: a request enters only when its worst case fits the blocks
  // not yet promised to others, so the pool can never run out mid-generation.
  const int64_t total = I.cache.pool().num_blocks();
  while (!I.waiting.empty() && int64_t(I.running.size()) < I.o.max_running) {
    Req& r = *I.waiting.front();
    const int64_t need = I.need_blocks(r.spec);
    if (I.reserved + need > total) break;
    r.seq = I.cache.pool().add_sequence();
    r.reserved = need;
    I.reserved += need;
    r.res.first_scheduled_ns = trace::now_ns();
    I.running.push_back(std::move(I.waiting.front()));
    I.waiting.pop_front();
  }
  // 3. The step's batch: one decode row per generating request, then prefill chunks.
  I.inputs.clear();
  I.owners.clear();
  int64_t budget = I.o.max_step_tokens;
  for (auto& rp : I.running) {
    Req& r = *rp;
    if (r.prefilled < int64_t(r.spec.prompt.size()) || r.last_token < 0) continue;
    I.inputs.push_back({r.seq, &r.last_token, 1, true});
    I.owners.push_back(&r);
    --budget;
  }
  const int64_t decode_rows = int64_t(I.inputs.size());
  int64_t prefill_rows = 0;
  for (auto& rp : I.running) {
    Req& r = *rp;
    const int64_t left = int64_t(r.spec.prompt.size()) - r.prefilled;
    if (left <= 0 || budget <= 0) continue;
    const int64_t chunk = std::min(left, budget);
    // A one-token chunk would look like a decode row to the model; both paths are exact, so it
    // is fine either way.
    I.inputs.push_back({r.seq, r.spec.prompt.data() + r.prefilled, chunk, chunk == left});
    I.owners.push_back(&r);
    budget -= chunk;
    prefill_rows += chunk;
  }
  if (I.inputs.empty()) {
    I.publish();
    return did;
  }
  // 4. Forward, then sample for every input that asked for logits.
  I.model.forward(I.inputs, I.cache, I.logits);
  const int64_t now = trace::now_ns();
  ++I.st.steps;
  I.st.decode_tokens += decode_rows;
  I.st.prefill_tokens += prefill_rows;
  const int64_t V = I.model.vocab();
  int64_t li = 0;
  std::vector<Req*> done;
  for (size_t i = 0; i < I.inputs.size(); ++i) {
    Req& r = *I.owners[i];
    if (I.inputs[i].tokens != &r.last_token) r.prefilled += I.inputs[i].n;
    if (!I.inputs[i].want_logits) continue;
    const int32_t tok = sample_token(I.logits.data() + li * V, V, r.spec.sampling, uint64_t(r.res.output.size()));
    ++li;
    r.res.output.push_back(tok);
    r.res.token_ns.push_back(now);
    r.last_token = tok;
    FinishReason why = FinishReason::kNone;
    if (int64_t(r.res.output.size()) >= r.spec.max_tokens) why = FinishReason::kLength;
    if (!r.spec.ignore_eos && I.o.eos_token_id >= 0 && tok == I.o.eos_token_id) why = FinishReason::kEos;
    I.emit(r, tok, why != FinishReason::kNone, why, now);
    if (why != FinishReason::kNone) {
      r.res.reason = why;
      done.push_back(&r);
    }
  }
  // 5. Retire finished requests: their blocks return to the pool now.
  for (Req* d : done) {
    auto it = std::find_if(I.running.begin(), I.running.end(), [&](auto& p) { return p.get() == d; });
    FinishReason why = d->res.reason;
    I.retire(std::move(*it), why, false);
    I.running.erase(it);
  }
  I.publish();
  return true;
}

}  // namespace dsbench::engine
