// Suite-specific report charts, drawn from the `data` and counters each suite documents in
// docs/suites/<suite>.md. Every renderer checks its inputs and draws nothing when they are absent;
// it returns the benchmarks whose `data` it charted, so the generic data charts skip them.
(function () {
  'use strict';
  const L = window.dsbenchLib;
  if (!L) return;
  const { isNum, medianOf, counter, paramsText, lineChart, barChart, heatmap, safeChart } = L;
  const numArr = (a) => Array.isArray(a) && a.length >= 1 && a.every((v) => isNum(v) || v === null);
  const measured = (suite) => suite.benchmarks.filter((b) => !b.skipped);
  const byPrefix = (suite, prefix) => measured(suite).filter((b) => b.name === prefix || b.name.startsWith(prefix + '/'));

  // ---- moe_routing ---------------------------------------------------------------------------
  L.suiteCharts.moe_routing = function (parent, suite) {
    const used = new Set();
    const label = (b) => b.name + ' {' + paramsText(b.params) + '}';
    // balance/<source>: data.layers[] with tokens_per_expert and per-EP-rank loads.
    const balance = measured(suite).filter((b) => b.data && Array.isArray(b.data.layers) && b.data.layers.length &&
      b.data.layers.every((l) => l && numArr(l.tokens_per_expert)));
    if (balance.length >= 2) {
      safeChart(() => barChart(parent, { title: 'Expert load imbalance by token source', sub: 'max/mean tokens per expert (mean over layers); lower is better',
        labels: balance.map((b) => String(b.params.source || b.name)), yLabel: 'max/mean',
        series: [{ label: 'max/mean', values: balance.map((b) => counter(b, 'max_over_mean') !== null ? counter(b, 'max_over_mean') : medianOf(b)) }] }));
    }
    balance.forEach((b, i) => {
      used.add(b);
      if (i >= 3) return;  // three heatmaps tell the story; the rest is in the table
      const layers = b.data.layers;
      safeChart(() => heatmap(parent, { title: 'Expert load per layer: ' + String(b.params.source || b.name), sub: label(b),
        matrix: layers.map((l) => l.tokens_per_expert), rowNames: layers.map((l, k) => (isNum(l.layer) ? l.layer : k)),
        rowLabel: 'layer', colLabel: 'expert' }));
    });
    const withEp = balance.filter((b) => b.data.layers[0].ep && typeof b.data.layers[0].ep === 'object');
    if (withEp.length) {
      const degrees = Object.keys(withEp[0].data.layers[0].ep).filter((k) => numArr((withEp[0].data.layers[0].ep[k] || {}).rank_load));
      const deg = degrees.sort((a, c) => Number(a) - Number(c))[0];
      if (deg) {
        const rows = withEp.filter((b) => b.data.layers[0].ep[deg] && numArr(b.data.layers[0].ep[deg].rank_load)).slice(0, 6);
        const n = rows[0].data.layers[0].ep[deg].rank_load.length;
        safeChart(() => barChart(parent, { title: 'Per-GPU load at EP=' + deg + ' (layer ' + rows[0].data.layers[0].layer + ', contiguous placement)',
          sub: 'tokens per EP rank, by token source', labels: Array.from({ length: n }, (_, k) => 'gpu ' + k), yLabel: 'tokens',
          series: rows.map((b) => ({ label: String(b.params.source || b.name), values: b.data.layers[0].ep[deg].rank_load })) }));
      }
    }
    // Imbalance over balancing steps: aux-loss-free bias updates against no balancing.
    for (const b of byPrefix(suite, 'balancing')) {
      const d = b.data;
      if (!d || !numArr(d.with_bias)) continue;
      used.add(b);
      const stride = isNum(d.stride) ? d.stride : 1;
      const xs = d.with_bias.map((_, k) => k * stride);
      const series = [{ label: 'with bias', ys: d.with_bias }];
      if (numArr(d.without_bias) && d.without_bias.length === xs.length) series.push({ label: 'without bias', ys: d.without_bias });
      safeChart(() => lineChart(parent, { title: 'Imbalance (max/mean) over balancing steps', sub: label(b),
        xLabel: 'step', xLog: false, xs: xs, series: series }));
      if (numArr(d.bias_spread) && d.bias_spread.length === xs.length) {
        safeChart(() => lineChart(parent, { title: 'Bias spread (max - min) over balancing steps', sub: label(b),
          xLabel: 'step', xLog: false, xs: xs, series: [{ label: 'bias spread', ys: d.bias_spread }] }));
      }
    }
    // GPU load balance per layer before and after expert-parallel placement (EPLB), one group of
    // bars per layer: contiguous placement, then EPLB at each redundancy level.
    const placements = byPrefix(suite, 'placement').filter((b) => b.data && numArr(b.data.balancedness_before) &&
      numArr(b.data.balancedness_after) && b.data.balancedness_after.length === b.data.balancedness_before.length);
    if (placements.length) {
      const d0 = placements[0].data;
      const layers = numArr(d0.layers) && d0.layers.length === d0.balancedness_before.length ? d0.layers : d0.balancedness_before.map((_, k) => k);
      const same = placements.filter((b) => b.data.balancedness_after.length === layers.length).slice(0, 5);
      same.forEach((b) => used.add(b));
      safeChart(() => barChart(parent, { title: 'GPU load balance per layer, before and after EPLB placement',
        sub: 'balancedness = mean/max GPU load, higher is better; ' + paramsText(placements[0].params, ['redundant', 'replicas']),
        labels: layers.map((l) => 'layer ' + l), yLabel: 'balancedness',
        series: [{ label: 'contiguous', values: d0.balancedness_before }].concat(same.map((b) => ({
          label: 'EPLB +' + (isNum(b.params.redundant) ? b.params.redundant : '?') + ' redundant', values: b.data.balancedness_after }))) }));
    }
    // Node-limited routing: nodes-per-token histograms with and without the limit.
    for (const b of byPrefix(suite, 'routing')) {
      const ds = b.data && Array.isArray(b.data.designs) ? b.data.designs.filter((x) => x && numArr(x.nodes_histogram)) : [];
      if (ds.length < 1) continue;
      used.add(b);
      const n = Math.max(...ds.map((x) => x.nodes_histogram.length));
      safeChart(() => barChart(parent, { title: 'Nodes reached per token', sub: label(b), xLabel: 'nodes',
        labels: Array.from({ length: n }, (_, k) => String(k)), yLabel: 'tokens',
        series: ds.map((x) => ({ label: x.limited ? 'node-limited' : 'unlimited', values: x.nodes_histogram })) }));
    }
    // Standard MoE vs DeepSeekMoE at equal active parameters.
    for (const b of byPrefix(suite, 'compare')) {
      const keys = ['max_over_mean', 'balanced_max_over_mean', 'cv', 'norm_entropy', 'balancedness', 'ep8_balancedness', 'drop_fraction_cf1_25']
        .filter((k) => counter(b, 'standard_' + k) !== null && counter(b, 'deepseekmoe_' + k) !== null);
      if (!keys.length) continue;
      used.add(b);
      safeChart(() => barChart(parent, { title: 'Standard MoE vs DeepSeekMoE', sub: label(b), labels: keys,
        series: [{ label: 'standard', values: keys.map((k) => counter(b, 'standard_' + k)) },
          { label: 'DeepSeekMoE', values: keys.map((k) => counter(b, 'deepseekmoe_' + k)) }] }));
    }
    return used;
  };


  // ---- latency percentiles (serving's ttft/tpot/itl/e2el records; any suite with *_ms counters) --
  function latencyPercentiles(parent, suite) {
    const recs = measured(suite).filter((b) => counter(b, 'median_ms') !== null && counter(b, 'p99_ms') !== null);
    const points = new Map();
    for (const b of recs) {
      const key = paramsText(b.params);
      if (!points.has(key)) points.set(key, []);
      points.get(key).push(b);
    }
    [...points.entries()].slice(0, 6).forEach(([key, bs]) => {
      safeChart(() => barChart(parent, { title: 'Latency percentiles (ms)', sub: key, labels: bs.map((b) => b.name),
        yLabel: 'ms', series: [
          { label: 'p50', values: bs.map((b) => counter(b, 'median_ms')) },
          { label: 'p90', values: bs.map((b) => counter(b, 'p90_ms')) },
          { label: 'p99', values: bs.map((b) => counter(b, 'p99_ms')) }] }));
    });
  }

  // Per-request latencies over the run, from data.requests (sent_s, ttft_s, e2el_s).
  function requestTimeline(parent, suite, used) {
    for (const b of measured(suite)) {
      const reqs = b.data && Array.isArray(b.data.requests) ? b.data.requests.filter((r) => r && isNum(r.sent_s) && r.sent_s >= 0 && isNum(r.ttft_s)) : [];
      if (reqs.length < 2) continue;
      used.add(b);
      reqs.sort((a, c) => a.sent_s - c.sent_s);
      safeChart(() => lineChart(parent, { title: 'Per-request latency over the run', sub: b.name + ' {' + paramsText(b.params) + '}',
        xLabel: 'sent at (s)', xLog: false, unit: 's', yLabel: 'latency', xs: reqs.map((r) => r.sent_s),
        series: [{ label: 'TTFT', ys: reqs.map((r) => r.ttft_s), noLine: true },
          { label: 'E2EL', ys: reqs.map((r) => (isNum(r.e2el_s) ? r.e2el_s : null)), noLine: true }] }));
      if (used.size >= 4) break;
    }
  }

  L.suiteCharts.serving = function (parent, suite) {
    const used = new Set();
    latencyPercentiles(parent, suite);
    requestTimeline(parent, suite, used);
    return used;
  };

  // Bars of one value per benchmark, categories by one param and a series per another
  // (e.g. bytes per token: models x cache kinds). Returns the benchmarks drawn.
  function groupedBars(parent, benches, catKey, seriesKey, value, title, sub, unit) {
    benches = benches.filter((b) => value(b) !== null);
    if (benches.length < 2) return [];
    const cats = [...new Set(benches.map((b) => String(b.params[catKey])))].slice(0, 24);
    const sers = [...new Set(benches.map((b) => String(b.params[seriesKey])))].slice(0, 6);
    const series = sers.map((sv) => ({ label: sv, values: cats.map((cv) => {
      const b = benches.find((x) => String(x.params[catKey]) === cv && String(x.params[seriesKey]) === sv);
      return b ? value(b) : null;
    }) }));
    safeChart(() => barChart(parent, { title: title, sub: sub, labels: cats, unit: unit, yLabel: unit || '', series: series }));
    return benches;
  }

  // Percentile counters named <metric>_p50_s / _p90_s / _p99_s (or _ms): TTFT, TPOT, ITL.
  function percentileCounters(parent, suite) {
    for (const b of measured(suite)) {
      const metrics = new Map();
      for (const k of Object.keys(b.counters || {})) {
        const m = /^(.*)_p(50|90|99)_(s|ms)$/.exec(k);
        if (!m || !isNum(b.counters[k])) continue;
        if (!metrics.has(m[1])) metrics.set(m[1], {});
        metrics.get(m[1])['p' + m[2]] = b.counters[k] * (m[3] === 's' ? 1e3 : 1);
      }
      if (!metrics.size) continue;
      const names = [...metrics.keys()];
      safeChart(() => barChart(parent, { title: 'Latency percentiles (ms)', sub: b.name + ' {' + paramsText(b.params) + '}',
        labels: names, yLabel: 'ms', series: ['p50', 'p90', 'p99'].map((p) => ({ label: p,
          values: names.map((n) => (isNum(metrics.get(n)[p]) ? metrics.get(n)[p] : null)) })) }));
    }
  }

  // ---- e2e --------------------------------------------------------------------------------------
  L.suiteCharts.e2e = function (parent, suite) {
    const used = new Set();
    const bytes = measured(suite).filter((b) => b.name === 'cache_bytes_per_token');
    groupedBars(parent, bytes, 'model', 'mode', (b) => medianOf(b),
      'KV cache bytes per token by cache mode and model', 'measured from the engine allocator', 'B').forEach((b) => used.add(b));
    const conc = measured(suite).filter((b) => b.name === 'max_concurrency');
    groupedBars(parent, conc, 'model', 'mode', (b) => medianOf(b),
      'Concurrent requests at a fixed KV memory budget', conc.length ? paramsText(conc[0].params, ['mode', 'model']) : '', 'requests')
      .forEach((b) => used.add(b));
    percentileCounters(parent, suite);
    latencyPercentiles(parent, suite);
    return used;
  };

  // ---- kv_cache ---------------------------------------------------------------------------------
  L.suiteCharts.kv_cache = function (parent, suite) {
    const used = new Set();
    // kv_bytes/<kind>: params model, kind, dtype; counters bytes_per_token (analytic) and
    // allocator_bytes_per_token (measured from the engine's allocator).
    const kv = measured(suite).filter((b) => /^kv_bytes\//.test(b.name) && b.params && b.params.kind !== undefined);
    const dtypes = [...new Set(kv.map((b) => b.params.dtype))];
    const dtype = dtypes.includes('bf16') ? 'bf16' : dtypes[0];
    const val = (b) => (counter(b, 'bytes_per_token') !== null ? counter(b, 'bytes_per_token') : medianOf(b));
    groupedBars(parent, kv.filter((b) => b.params.dtype === dtype), 'model', 'kind', val,
      'KV cache bytes per token by attention type and model', 'dtype ' + dtype + '; all layers', 'B').forEach((b) => used.add(b));
    const alloc = kv.filter((b) => b.params.dtype === dtype && counter(b, 'allocator_bytes_per_token') !== null);
    if (alloc.length >= 2) {
      groupedBars(parent, alloc, 'model', 'kind', (b) => counter(b, 'allocator_bytes_per_token'),
        'KV bytes per token measured from the allocator', 'dtype ' + dtype + '; should equal the analytic figure', 'B');
    }
    if (dtypes.length > 1) {
      const model = kv.find((b) => /deepseek-v3/.test(String(b.params.model))) ? 'deepseek-v3' : String(kv[0].params.model);
      groupedBars(parent, kv.filter((b) => String(b.params.model) === model), 'kind', 'dtype', val,
        'KV bytes per token by dtype: ' + model, 'all layers', 'B');
    }
    // decode_attention/<kind>: latency vs context, one line per attention kind, one chart per
    // (shape, batch, dtype); GB/s and roofline fraction for the smallest batch of each shape.
    const dec = measured(suite).filter((b) => /^decode_attention\/(mha|gqa|mqa|mla_naive|mla_absorbed)$/.test(b.name) &&
      isNum(b.params.context) && medianOf(b) !== null);
    const combos = new Map();
    for (const b of dec) {
      const key = JSON.stringify([b.params.shape, b.params.batch, b.params.dtype]);
      if (!combos.has(key)) combos.set(key, []);
      combos.get(key).push(b);
    }
    const order = [...combos.entries()].filter(([, bs]) => new Set(bs.map((b) => b.params.context)).size >= 2)
      .sort(([a], [c]) => {
        const [sa, ba, da] = JSON.parse(a), [sc, bc, dc] = JSON.parse(c);
        return String(sa).localeCompare(String(sc)) || (da === 'bf16' ? 0 : 1) - (dc === 'bf16' ? 0 : 1) || (ba || 0) - (bc || 0);
      }).slice(0, 8);
    const firstBatch = new Map();
    for (const [key, bs] of order) {
      const [shape, batch, dt] = JSON.parse(key);
      bs.forEach((b) => used.add(b));
      const xs = [...new Set(bs.map((b) => b.params.context))].sort((a, c) => a - c);
      const kinds = [...new Set(bs.map((b) => b.name.split('/')[1]))];
      const line = (get) => kinds.map((k) => ({ label: k, ys: xs.map((x) => {
        const b = bs.find((y) => y.name.endsWith('/' + k) && y.params.context === x);
        return b ? get(b) : null;
      }) }));
      const what = [shape, batch !== undefined ? 'batch ' + batch : '', dt].filter(Boolean).join(', ');
      safeChart(() => lineChart(parent, { title: 'Decode attention latency vs context (' + what + ')', sub: 'median per call; lower is better',
        xLabel: 'context', unit: 's', yLabel: 's', xs: xs, series: line(medianOf) }));
      if (!firstBatch.has(shape)) {
        firstBatch.set(shape, true);
        if (bs.some((b) => counter(b, 'gbps') !== null)) {
          safeChart(() => lineChart(parent, { title: 'Decode attention GB/s vs context (' + what + ')', sub: 'bytes it must read / median time',
            xLabel: 'context', yLabel: 'GB/s', xs: xs, series: line((b) => counter(b, 'gbps')) }));
        }
        if (bs.some((b) => counter(b, 'roofline_fraction') !== null)) {
          safeChart(() => lineChart(parent, { title: 'Roofline fraction vs context (' + what + ')', sub: 'ideal time from measured peaks / median time',
            xLabel: 'context', yLabel: 'fraction', xs: xs, series: line((b) => counter(b, 'roofline_fraction')) }));
        }
      }
    }
    return used;
  };
})();
