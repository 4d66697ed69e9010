// Result documents for the browser test: a run shaped like every suite's output (sweeps, data
// matrices, traces), a slower baseline of it, a run full of hostile strings, and nightlies.

function rng(seed) {
  // Small deterministic generator (mulberry32) so the pages are identical run to run.
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function stats(samples) {
  const s = samples.slice().sort((a, b) => a - b);
  const q = (p) => {
    const pos = (p / 100) * (s.length - 1), lo = Math.floor(pos), hi = Math.min(lo + 1, s.length - 1);
    return s[lo] + (s[hi] - s[lo]) * (pos - lo);
  };
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  const sd = s.length > 1 ? Math.sqrt(s.reduce((a, b) => a + (b - mean) ** 2, 0) / (s.length - 1)) : 0;
  return { median: q(50), mean, stddev: sd, cv: mean ? sd / mean : 0, p10: q(10), p90: q(90),
    min: s[0], max: s[s.length - 1], n: s.length };
}

function bench(rand, name, params, center, opts = {}) {
  const n = opts.n || 5;
  const samples = [];
  for (let i = 0; i < n; i++) samples.push(center * (1 + 0.03 * (rand() - 0.5)));
  const b = { name, params, unit: opts.unit || 's', direction: opts.direction || 'lower', samples,
    stats: stats(samples), counters: opts.counters || {}, skipped: null };
  if (opts.data) b.data = opts.data;
  return b;
}

function host(cpu) {
  return { cpu, cores: 2, memory_bytes: 25769803776,
    peak: { read_gbps: 21.5, triad_gbps: 16.2, fma_gflops: 180.0 },
    gpus: [], compiler: 'GNU 12.2.0', build_type: 'Release', cuda: null,
    git_sha: 'abc1234', dirty: false };
}

function run(runId, startedAt, suites, h) {
  return { schema: 'dsbench.result/1', run_id: runId, started_at: startedAt, finished_at: startedAt,
    command: 'dsbench run --quick', host: h || host('Test CPU'), suites, traces: [] };
}

export function richRun(seed, slow = 1.0) {
  const rand = rng(seed);
  const kv = [];
  for (const att of ['mha', 'gqa', 'mqa', 'mla_naive', 'mla_absorbed']) {
    for (const ctx of [1024, 4096, 16384, 65536]) {
      const t = 1e-5 * ctx / 1024 * (att === 'mla_absorbed' ? 0.3 : 1) * slow;
      const bytes = ctx * 1024;
      kv.push(bench(rand, 'decode_attention/' + att, { context: ctx, batch: 1, dtype: 'bf16' }, t,
        { counters: { bytes, flops: bytes * 2, gbps: bytes / t / 1e9, gflops: bytes * 2 / t / 1e9,
          roofline_fraction: Math.min(1, bytes / t / 1e9 / 21.5) } }));
    }
  }
  // kv_bytes/<kind> as the kv_cache suite writes them (analytic, one sample).
  for (const [model, kind, v] of [['deepseek-v3', 'mla_absorbed', 70272], ['deepseek-v3', 'mla_naive', 61 * 128 * 320 * 2],
    ['deepseek-v3', 'mha', 61 * 128 * 320 * 2], ['llama-3.3-70b', 'gqa', 327680], ['llama-3.3-70b', 'mha', 80 * 64 * 256 * 2]]) {
    kv.push(bench(rand, 'kv_bytes/' + kind, { model, kind, dtype: 'bf16', layers: 61 }, v,
      { unit: 'bytes', n: 1, counters: { bytes_per_token: v, allocator_bytes_per_token: v } }));
  }
  kv.push({ name: 'decode_attention/mla_absorbed', params: { context: 4096, batch: 1, dtype: 'bf16', device: 'cuda' },
    unit: 's', direction: 'lower', samples: [], stats: stats([0]), counters: {}, skipped: 'no CUDA device' });
  // moe_routing, shaped as docs/suites/moe_routing.md describes.
  const moe = [
    bench(rand, 'router/gate', { shape: 'model', experts: 256, top_k: 8, tokens: 2048 }, 2e-4 * slow,
      { counters: { gbps: 3.1, tokens_per_s: 1e7 } }),
    bench(rand, 'permute/dispatch', { tokens: 1024, hidden: 256, dtype: 'bf16' }, 1.5e-4 * slow),
  ];
  for (const source of ['random_gate', 'zipf', 'dirichlet']) {
    const layers = [];
    for (const layer of [3, 30, 60]) {
      const tpe = [];
      for (let e = 0; e < 64; e++) tpe.push(Math.round(100 + 80 * rand() + (source === 'zipf' && e % 7 === 0 ? 300 : 0)));
      const rank = [];
      for (let g = 0; g < 8; g++) rank.push(tpe.slice(g * 8, g * 8 + 8).reduce((a, b) => a + b, 0));
      layers.push({ layer, tokens_per_expert: tpe, max_over_mean: 1.5 + rand(), cv: 0.3, balancedness: 0.6,
        ep: { 8: { balancedness: 0.8, max_over_mean: 1.2, rank_load: rank } } });
    }
    moe.push(bench(rand, 'balance/' + source, { source, tokens: 512, windows: 2, layers: 3 }, 1.8, {
      unit: 'max_over_mean', n: 3, counters: { max_over_mean: 1.8 + (source === 'zipf' ? 1 : 0), cv: 0.3 },
      data: { layers, ep_degrees: [8], nodes: 8, nodes_per_token_histogram: [0, 10, 30, 40, 20, 0, 0, 0, 0] } }));
  }
  const withBias = [], without = [], spread = [];
  for (let i = 0; i < 100; i++) {
    withBias.push(1 + 2 * Math.exp(-i / 15) + 0.05 * rand());
    without.push(3 + 0.1 * rand());
    spread.push(0.05 * (1 - Math.exp(-i / 20)));
  }
  moe.push(bench(rand, 'balancing/aux_free_bias', { source: 'zipf', zipf_s: 1, gamma: 0.001, steps: 400 }, 1.05,
    { unit: 'max_over_mean', data: { steps: 400, stride: 4, with_bias: withBias, without_bias: without, bias_spread: spread } }));
  moe.push(bench(rand, 'placement/eplb', { gpus: 8, nodes: 1, redundant: 8 }, 0.95, { unit: 'balancedness', direction: 'higher',
    data: { layers: [3, 30, 60], balancedness_before: [0.55, 0.6, 0.5], balancedness_after: [0.95, 0.96, 0.94] } }));
  moe.push(bench(rand, 'routing/node_limit', { nodes: 8, max_nodes_per_token: 4 }, 3.2, { unit: 'nodes_per_token', n: 1,
    data: { designs: [{ limited: false, nodes_histogram: [0, 2, 10, 30, 30, 20, 6, 2, 0] },
      { limited: true, nodes_histogram: [0, 5, 25, 40, 30, 0, 0, 0, 0] }] } }));
  moe.push(bench(rand, 'compare/standard_vs_deepseekmoe', { zipf_s: 1 }, 1.4, { unit: 'max_over_mean', n: 1,
    counters: { standard_max_over_mean: 2.1, deepseekmoe_max_over_mean: 1.4, standard_cv: 0.5, deepseekmoe_cv: 0.3,
      standard_balancedness: 0.48, deepseekmoe_balancedness: 0.7 } }));
  // serving, shaped as docs/suites/serving.md describes.
  const serving = [];
  const sp = { engine: 'null', dataset: 'random', input_len: 32, output_len: 64, num_prompts: 64, max_concurrency: 16, request_rate: 'inf' };
  for (const [name, ms] of [['ttft', 12], ['tpot', 2], ['itl', 2], ['e2el', 140]]) {
    serving.push(bench(rand, name, sp, ms / 1e3 * slow, { n: 20,
      counters: { n: 20, mean_ms: ms, median_ms: ms, std_ms: ms / 10, p90_ms: ms * 1.3, p99_ms: ms * 1.8, max_ms: ms * 2 } }));
  }
  const requests = [];
  for (let i = 0; i < 64; i++) requests.push({ index: i, ok: true, intended_s: 0, sent_s: i * 0.01, slip_s: 0, prompt_len: 32,
    output_tokens: 64, chunks: 64, ttft_s: 0.01 + 0.004 * rand(), e2el_s: 0.13 + 0.02 * rand(), tpot_s: 0.002 });
  serving.push(bench(rand, 'output_throughput', sp, 7000 / slow, { unit: 'tok/s', direction: 'higher', n: 1,
    counters: { completed: 64, failed: 0, request_throughput: 110 }, data: { summary: { completed: 64 }, requests } }));
  const e2e = [
    bench(rand, 'offline', { requests: 8 }, 2.0, { counters: { ttft_p50_s: 0.5, ttft_p90_s: 0.8, ttft_p99_s: 0.9,
      tpot_p50_s: 0.05, tpot_p90_s: 0.07, tpot_p99_s: 0.08 }, data: { ttft_s: [0.4, 0.5, 0.6, 0.9], tpot_s: [0.05, 0.05, 0.06, 0.08] } }),
  ];
  for (const model of ['dsv3-tiny', 'deepseek-v3']) {
    for (const [mode, v] of [['mla_absorbed', 1280], ['mla_naive', 1280], ['mha_cache', 10240]]) {
      e2e.push(bench(rand, 'cache_bytes_per_token', { model, mode, dtype: 'bf16' }, v * (model === 'deepseek-v3' ? 55 : 1), { unit: 'bytes', n: 1 }));
    }
  }
  for (const batch of [1, 4, 16]) {
    for (const prompt of [128, 1024]) {
      e2e.push(bench(rand, 'decode_throughput', { batch, prompt_len: prompt }, 40 * batch / (1 + prompt / 4096) / slow,
        { unit: 'tokens/s', direction: 'higher', counters: { ttft_p50_ms: 20 + prompt / 50, tpot_p50_ms: 25 / batch } }));
    }
  }
  const r = run('rich-' + seed, '2026-11-28T10:00:00Z', [
    { name: 'kv_cache', model: 'dsv3-tiny', device: 'cpu', benchmarks: kv },
    { name: 'moe_routing', model: 'dsv3-tiny', device: 'cpu', benchmarks: moe },
    { name: 'e2e', model: 'dsv3-tiny', device: 'cpu', benchmarks: e2e },
    { name: 'serving', model: 'dsv3-tiny', device: 'cpu', benchmarks: serving },
  ]);
  r.traces = [{ file: 'trace.json', kernels: [
    { name: 'mla_decode_absorbed', count: 120, total_ns: 8.4e6, mean_ns: 7e4 },
    { name: 'moe_gate_noaux_tc', count: 60, total_ns: 1.2e6, mean_ns: 2e4 }] }];
  // dsbench run's throttle check: one benchmark ran throttled throughout, and the FMA peak was
  // raised to the best rate the probe read.
  Object.assign(kv[0].counters, { host_speed: 0.55, throttled: 1, throttled_repetitions: 10 });
  r.host.peak = Object.assign({}, r.host.peak, { fma_gflops: 300.0, fma_gflops_at_start: 180.0 });
  r.host.speed_probe = { threshold: 0.75, probes: 400, min_gflops: 90, max_gflops: 300, retaken_benchmarks: 3,
    throttled_benchmarks: 1 };
  return r;
}

export const HOSTILE = '<script>window.__pwned=1</script>"\'><img src=x onerror="window.__pwned=2">' +
  '</script><script>window.__pwned=3</script><!--';

export function hostileRun() {
  const rand = rng(7);
  const b = bench(rand, HOSTILE, { [HOSTILE]: HOSTILE, context: 1 }, 1e-3, { data: { [HOSTILE]: [1, 2, 3] } });
  const b2 = bench(rand, HOSTILE + '/2', { [HOSTILE]: HOSTILE, context: 2 }, 2e-3);
  const h = host(HOSTILE);
  h.compiler = HOSTILE;
  h.git_sha = HOSTILE;
  h.gpus = [{ name: HOSTILE, sm_count: 1, memory_bytes: 1, driver: HOSTILE, peak: { [HOSTILE]: 1 } }];
  const r = run(HOSTILE, '2026-11-28T10:00:00Z', [{ name: HOSTILE, model: HOSTILE, device: HOSTILE, benchmarks: [b, b2] }], h);
  r.command = HOSTILE;
  r.traces = [{ file: HOSTILE, kernels: [{ name: HOSTILE, count: 1, total_ns: 10, mean_ns: 10 }] }];
  return r;
}

export function nightly(i) {
  const rand = rng(100 + i);
  const slow = i >= 9 ? 1.2 : 1.0;
  const day = String(i + 1).padStart(2, '0');
  return run('night-' + i, `2026-11-${day}T02:00:00Z`, [
    { name: 'kv_cache', model: 'dsv3-tiny', device: 'cpu', benchmarks: [
      bench(rand, 'decode_attention/mla_absorbed', { context: 4096 }, 1e-3 * slow),
      bench(rand, 'decode_attention/gqa', { context: 4096 }, 2e-3)] },
    { name: 'e2e', model: 'dsv3-tiny', device: 'cpu', benchmarks: [
      bench(rand, 'decode_throughput', { batch: 4 }, i >= 5 ? 120 : 100, { unit: 'tokens/s', direction: 'higher' })] },
  ]);
}
