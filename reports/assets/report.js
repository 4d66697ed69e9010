// dsbench report and trend pages: renders the JSON payload of #dsbench-data (run metadata, host
// and peaks, comparison verdicts, per-suite charts and tables, traces; or nightly trends) with the
// building blocks of report_lib.js. User strings only ever become text nodes.
(function () {
  'use strict';

  const L = window.dsbenchLib;
  const { state, h, isNum, fmtNum, fmtValue, fmtBytes, fmtPct, paramsText, samplesOf, medianOf, counter,
    table, chip, lineChart, barChart, heatmap, safeChart } = L;
  const payload = JSON.parse(document.getElementById('dsbench-data').textContent);
  const app = document.getElementById('app');

  // ---- metadata --------------------------------------------------------------------------------
  function metaList(parent, pairs) {
    const dl = h('dl', { className: 'meta' });
    for (const [k, v] of pairs) {
      if (v === undefined || v === null || v === '') continue;
      dl.appendChild(h('dt', null, [k]));
      dl.appendChild(h('dd', null, [typeof v === 'object' ? JSON.stringify(v) : String(v)]));
    }
    parent.appendChild(dl);
  }
  function hostSection(parent, host, title) {
    host = host || {};
    parent.appendChild(h('h2', null, [title || 'Host']));
    metaList(parent, [
      ['CPU', host.cpu], ['cores', host.cores],
      ['memory', isNum(host.memory_bytes) ? fmtBytes(host.memory_bytes) : host.memory_bytes],
      ['compiler', host.compiler], ['build type', host.build_type], ['CUDA', host.cuda],
      ['git', host.git_sha ? host.git_sha + (host.dirty ? ' (dirty)' : '') : ''],
    ]);
    const peakRows = [];
    const p = host.peak || {};
    if (Object.keys(p).length) {
      peakRows.push({ dev: 'CPU', read: p.read_gbps, triad: p.triad_gbps, flops: p.fma_gflops, other: p });
    }
    for (const g of host.gpus || []) {
      const gp = (g && g.peak) || {};
      peakRows.push({ dev: String(g.name || 'GPU') + (isNum(g.sm_count) ? ' (' + g.sm_count + ' SMs' +
        (isNum(g.memory_bytes) ? ', ' + fmtBytes(g.memory_bytes) : '') + ')' : ''),
        read: gp.read_gbps !== undefined ? gp.read_gbps : gp.copy_gbps !== undefined ? gp.copy_gbps : gp.bandwidth_gbps,
        triad: gp.triad_gbps, flops: gp.fma_gflops !== undefined ? gp.fma_gflops : gp.gemm_gflops, other: gp,
        driver: g.driver });
    }
    if (peakRows.length) {
      parent.appendChild(h('h3', null, ['Measured peaks']));
      table(parent, [
        { label: 'device', value: (r) => r.dev },
        { label: 'read / copy GB/s', value: (r) => r.read, text: (r) => fmtNum(r.read), num: true },
        { label: 'triad GB/s', value: (r) => r.triad, text: (r) => fmtNum(r.triad), num: true },
        { label: 'GFLOP/s', value: (r) => r.flops, text: (r) => fmtNum(r.flops), num: true },
        { label: 'driver', value: (r) => r.driver || '' },
        { label: 'all peak fields', value: (r) => JSON.stringify(r.other) },
      ], peakRows);
    } else {
      parent.appendChild(h('p', { className: 'note' }, ['No measured peaks in this run.']));
    }
    const sp = host.speed_probe;
    if (sp && typeof sp === 'object') {
      // dsbench run's throttle check: what the FMA probe read around each CPU repetition.
      const raised = isNum(p.fma_gflops_at_start) ? ' (measured ' + fmtNum(p.fma_gflops_at_start) + ' at the start; ' +
        fmtNum(p.fma_gflops) + ' is the best rate a probe read, used for the roofline)' : '';
      parent.appendChild(h('p', { className: 'note' }, ['Throttle check: threshold ' +
        (isNum(sp.threshold) ? Math.round(sp.threshold * 100) + '%' : '-') + ' of the best probe rate' + raised + '; ' +
        String(sp.retaken_benchmarks) + ' benchmarks had repetitions set aside and retaken, ' +
        String(sp.throttled_benchmarks) + ' ran throttled throughout (marked in the tables).']));
    }
  }

  // Counters the throttle check adds: shown as a mark next to the median, not as columns.
  const THROTTLE_KEYS = ['host_speed', 'throttled', 'throttled_repetitions'];
  function medianCell(b, med) {
    if (b.skipped) return h('span', { className: 'skipped' }, ['skipped: ' + b.skipped]);
    const text = fmtValue(med, b.unit);
    if (counter(b, 'throttled') !== 1) return text;
    const speed = counter(b, 'host_speed');
    return h('span', null, [text + ' ', h('span', { className: 'chip v-inconclusive throttled',
      title: 'the host ran below the throttle threshold throughout' + (isNum(speed) ? ' (speed ' + speed.toFixed(2) + ' of its best)' : '') },
      ['throttled'])]);
  }

  // ---- the run report --------------------------------------------------------------------------
  function benchLabel(b, skipParams) {
    const p = paramsText(b.params, skipParams);
    return b.name + (p ? ' {' + p + '}' : '');
  }

  function noiseOf(b) {
    const s = b.stats;
    return s && isNum(s.noise) && isNum(s.median_ci_level) && s.median_ci_level >= 0.95 ? s.noise : null;
  }

  function benchTable(parent, suite, cmpByKey) {
    const rows = suite.benchmarks.map((b) => ({ b: b, med: medianOf(b),
      cmp: cmpByKey ? cmpByKey.get(suite.name + '|' + b.name + '|' + JSON.stringify(sortKeys(b.params))) : null }));
    const counterKeys = [];
    for (const r of rows) {
      for (const k of Object.keys(r.b.counters || {})) if (!counterKeys.includes(k) && !THROTTLE_KEYS.includes(k)) counterKeys.push(k);
    }
    const cols = [
      { label: 'benchmark', value: (r) => r.b.name },
      { label: 'params', value: (r) => paramsText(r.b.params) },
      { label: 'median', value: (r) => r.med, text: (r) => medianCell(r.b, r.med), num: true },
      { label: 'p10', value: (r) => r.b.stats && r.b.stats.p10, text: (r) => fmtValue(r.b.stats && r.b.stats.p10, r.b.unit), num: true },
      { label: 'p90', value: (r) => r.b.stats && r.b.stats.p90, text: (r) => fmtValue(r.b.stats && r.b.stats.p90, r.b.unit), num: true },
      { label: 'cv', value: (r) => r.b.stats && r.b.stats.cv, text: (r) => r.b.stats && isNum(r.b.stats.cv) ? (r.b.stats.cv * 100).toFixed(1) + '%' : '-', num: true },
      // Half-width of the median's 95% interval, relative (what --max-noise bounds); '-' below the
      // 6 samples such an interval needs.
      { label: '\u00b1 median', value: (r) => noiseOf(r.b), text: (r) => isNum(noiseOf(r.b)) ? (noiseOf(r.b) * 100).toFixed(1) + '%' : '-', num: true },
      { label: 'n', value: (r) => samplesOf(r.b).length, num: true },
      { label: 'better', value: (r) => r.b.direction },
    ];
    for (const k of counterKeys.slice(0, 12)) {
      cols.push({ label: k, value: (r) => counter(r.b, k), num: true, text: (r) => {
        const v = counter(r.b, k);
        return k === 'bytes' ? fmtBytes(v) : isNum(v) && Number.isInteger(v) && Math.abs(v) < 1e15 ? String(v) : fmtNum(v);
      } });
    }
    if (cmpByKey) {
      cols.push({ label: 'baseline', value: (r) => r.cmp && r.cmp.base_median, text: (r) => r.cmp ? fmtValue(r.cmp.base_median, r.cmp.unit) : 'new', num: true });
      cols.push({ label: 'delta', value: (r) => r.cmp && r.cmp.delta, text: (r) => r.cmp ? fmtPct(r.cmp.delta) : '-', num: true,
        cls: (r) => r.cmp && r.cmp.verdict === 'regressed' ? 'delta-bad' : r.cmp && r.cmp.verdict === 'improved' ? 'delta-good' : '' });
      cols.push({ label: 'verdict', value: (r) => r.cmp ? r.cmp.verdict : 'new', text: (r) => chip(r.cmp ? r.cmp.verdict : 'new') });
    }
    table(parent, cols, rows);
  }
  function sortKeys(o) {
    if (!o || typeof o !== 'object' || Array.isArray(o)) return o;
    const out = {};
    for (const k of Object.keys(o).sort()) out[k] = sortKeys(o[k]);
    return out;
  }

  const ROW_KEYS = ['layer', 'step', 'index', 'window', 'rank', 'gpu', 'batch', 'context', 'request'];
  const X_PREFERENCE = ['context', 'context_len', 'seq_len', 'kv_len', 'prompt_len', 'prompt_tokens',
    'input_len', 'batch', 'batch_size', 'tokens', 'num_tokens', 'concurrency', 'max_concurrency',
    'request_rate', 'rate', 'step', 'steps', 'experts', 'heads'];

  // Generic sweep charts: benchmarks of one family ("decode_attention/...") against the numeric
  // parameter that varies, one series per variant. Covers latency/GB/s vs context, tokens/s vs batch.
  function familyCharts(parent, suite, used) {
    const fams = new Map();
    for (const b of suite.benchmarks) {
      if (b.skipped || medianOf(b) === null || used.has(b)) continue;  // already charted by the suite
      const fam = b.name.split('/')[0];
      if (!fams.has(fam)) fams.set(fam, []);
      fams.get(fam).push(b);
    }
    for (const [fam, benches] of fams) {
      const distinct = new Map();
      for (const b of benches) {
        for (const [k, v] of Object.entries(b.params || {})) {
          if (!distinct.has(k)) distinct.set(k, { nums: new Set(), all: true });
          const d = distinct.get(k);
          if (isNum(v)) d.nums.add(v); else d.all = false;
        }
      }
      const cands = [...distinct.entries()].filter(([, d]) => d.all && d.nums.size >= 2).map(([k]) => k);
      let xKey = X_PREFERENCE.find((k) => cands.includes(k) && distinct.get(k).nums.size >= 3) ||
        X_PREFERENCE.find((k) => cands.includes(k)) ||
        cands.sort((a, b) => distinct.get(b).nums.size - distinct.get(a).nums.size)[0];
      if (xKey) {
        const xs = [...distinct.get(xKey).nums].sort((a, b) => a - b);
        const groups = new Map();
        // Parameters equal across the family say nothing in a legend: label by what varies.
        const constant = [...distinct.keys()].filter((k) => {
          const vals = new Set(benches.map((b) => JSON.stringify((b.params || {})[k])));
          return vals.size === 1;
        });
        // A parameter that follows x (replicas = experts + redundant) would make one series per
        // point: leave it out of the labels too.
        const follows = [...distinct.keys()].filter((k) => {
          // Only numeric ones: a label such as engine=null must never be merged away.
          if (k === xKey || constant.includes(k) || !distinct.get(k).all) return false;
          const byX = new Map();
          for (const b of benches) {
            const x = (b.params || {})[xKey], v = JSON.stringify((b.params || {})[k]);
            if (!byX.has(x)) byX.set(x, new Set());
            byX.get(x).add(v);
          }
          return [...byX.values()].every((set) => set.size === 1);
        });
        for (const b of benches) {
          if (!isNum((b.params || {})[xKey])) continue;
          const rest = b.name.slice(fam.length).replace(/^\//, '');
          let label = [rest, paramsText(b.params, [xKey].concat(constant, follows))].filter(Boolean).join(' ') || fam;
          if (label.length > 60) label = label.slice(0, 59) + '\u2026';
          if (!groups.has(label)) groups.set(label, []);
          groups.get(label).push(b);
        }
        // A sweep needs a series with two points or more; otherwise bars say it better.
        if ([...groups.values()].every((g) => g.length < 2)) {
          medianBars(parent, suite, fam, benches);
          continue;
        }
        const labels = [...groups.keys()].slice(0, 10);
        const more = groups.size > labels.length ? ' (' + (groups.size - labels.length) + ' more series in the table)' : '';
        const unit = benches[0].unit;
        const metrics = [['median', unit, (b) => medianOf(b)]];
        for (const [k, u] of [['gbps', 'GB/s'], ['gflops', 'GFLOP/s'], ['roofline_fraction', ''], ['tokens_per_s', 'tokens/s']]) {
          if (benches.some((b) => counter(b, k) !== null)) metrics.push([k, u, (b) => counter(b, k)]);
        }
        for (const [mname, munit, get] of metrics) {
          const series = labels.map((l) => {
            const byX = new Map(groups.get(l).map((b) => [b.params[xKey], get(b)]));
            return { label: l, ys: xs.map((x) => (byX.has(x) ? byX.get(x) : null)) };
          });
          const title = fam + ': ' + (mname === 'median' ? 'median ' + (unit === 's' ? 'time' : unit) : mname) + ' vs ' + xKey;
          const fixed = paramsText(benches[0].params, Object.keys(benches[0].params || {}).filter((k) => !constant.includes(k)));
          safeChart(() => lineChart(parent, { title: title, sub: suite.name + (fixed ? ' \u00b7 ' + fixed : '') + more, xLabel: xKey,
            yLabel: mname === 'median' ? unit : munit, unit: mname === 'median' ? unit : '', xs: xs, series: series }));
        }
      } else {
        medianBars(parent, suite, fam, benches);
      }
    }
  }
  function medianBars(parent, suite, fam, benches) {
    if (benches.length < 2 || !benches.every((b) => b.unit === benches[0].unit)) return;
    const shown = benches.slice(0, 40);
    // Label each bar by what tells it apart: the name past the family and the varying params.
    const keys = [...new Set(shown.flatMap((b) => Object.keys(b.params || {})))];
    const same = keys.filter((k) => new Set(shown.map((b) => JSON.stringify((b.params || {})[k]))).size === 1);
    const fixed = paramsText(shown[0].params, keys.filter((k) => !same.includes(k)));
    safeChart(() => barChart(parent, { title: fam + ': median ' + benches[0].unit, sub: suite.name + (fixed ? ' \u00b7 ' + fixed : ''),
      labels: shown.map((b) => [b.name.slice(fam.length).replace(/^\//, ''), paramsText(b.params, same)].filter(Boolean).join(' ') || b.name),
      unit: benches[0].unit, yLabel: benches[0].unit,
      series: [{ label: 'median', values: shown.map(medianOf) }] }));
  }

  // Generic charts of a benchmark's free-form `data`: numeric arrays, matrices, {x, y} series.
  function dataCharts(parent, tableParent, b, budget, tables) {
    const label = benchLabel(b);
    const numArr = (a) => Array.isArray(a) && a.length >= 2 && a.every((v) => isNum(v) || v === null);
    const matrix = (a) => Array.isArray(a) && a.length >= 2 && a.every((r) => numArr(r)) &&
      a.every((r) => r.length === a[0].length);
    function walk(node, path, depth) {
      if (budget.left <= 0 || depth > 3 || node === null || typeof node !== 'object') return;
      const title = path.length ? path.join('.') : 'data';
      if (matrix(node)) {
        budget.left--;
        safeChart(() => heatmap(parent, { title: title, sub: label, matrix: node,
          rowLabel: path[path.length - 1] || 'row', colLabel: 'index' }));
        return;
      }
      if (numArr(node)) {
        budget.left--;
        const bars = node.length <= 64 || /load|count|expert|gpu|rank|token/i.test(title);
        const xs = node.map((_, i) => i);
        safeChart(() => bars
          ? barChart(parent, { title: title, sub: label, labels: xs.map(String), xLabel: 'index', series: [{ label: path[path.length - 1] || 'value', values: node }] })
          : lineChart(parent, { title: title, sub: label, xLabel: 'index', xs: xs, xLog: false, series: [{ label: path[path.length - 1] || 'value', ys: node }] }));
        return;
      }
      if (!Array.isArray(node) && numArr(node.x) && (numArr(node.y) || Array.isArray(node.series))) {
        budget.left--;
        const ys = numArr(node.y) ? [{ label: node.label || node.name || 'y', ys: node.y }]
          : node.series.filter((s) => s && numArr(s.y)).map((s) => ({ label: String(s.label || s.name || ''), ys: s.y }));
        safeChart(() => lineChart(parent, { title: title, sub: label, xLabel: String(node.x_label || 'x'), yLabel: String(node.y_label || ''), xs: node.x, series: ys }));
        return;
      }
      if (Array.isArray(node)) {
        if (node.length >= 1 && node.every((r) => r && typeof r === 'object' && !Array.isArray(r))) {
          // Rows of records (per layer, per model): a table of their scalar fields; scalar
          // numbers as lines against a varying row key; a field that is an equal-length number
          // array in every row as a heatmap; nested records walked in turn.
          const keys = [...new Set(node.flatMap((r) => Object.keys(r)))];
          const scalarKeys = keys.filter((k) => node.every((r) => r[k] === undefined || r[k] === null || typeof r[k] !== 'object'));
          const xKey = ROW_KEYS.find((k) => node.every((r) => isNum(r[k])) && new Set(node.map((r) => r[k])).size === node.length);
          const numKeys = scalarKeys.filter((k) => k !== xKey && node.every((r) => isNum(r[k])));
          const rowNames = node.map((r, i) => (xKey ? r[xKey] : i));
          if (scalarKeys.length && tables.left > 0) {
            tables.left--;
            const box = h('div', { className: 'data-table' }, [h('h4', null, [title + ' (' + node.length + ' rows)']), h('div', { className: 'sub' }, [label])]);
            tableParent.appendChild(box);
            table(box, scalarKeys.slice(0, 14).map((k) => ({ label: k, value: (r) => r[k], num: node.every((r) => isNum(r[k]) || r[k] === undefined),
              text: (r) => (r[k] === undefined || r[k] === null ? '-' : isNum(r[k]) ? fmtNum(r[k], 6) : String(r[k])) })), node.slice(0, 200));
          }
          for (const k of keys) {
            if (budget.left > 0 && node.length >= 2 && node.every((r) => numArr(r[k]) && r[k].length === node[0][k].length)) {
              budget.left--;
              safeChart(() => heatmap(parent, { title: title + '[].' + k, sub: label, matrix: node.map((r) => r[k]),
                rowNames: rowNames, rowLabel: xKey || 'row', colLabel: k }));
            }
          }
          if (xKey && numKeys.length && node.length >= 2 && budget.left > 0) {
            budget.left--;
            safeChart(() => lineChart(parent, { title: title + '[] by ' + xKey, sub: label,
              xLabel: xKey, xs: rowNames, xLog: false,
              series: numKeys.slice(0, 6).map((k) => ({ label: k, ys: node.map((r) => r[k]) })) }));
          }
          for (const k of keys) {
            if (scalarKeys.includes(k)) continue;
            const nested = node[0][k];
            if (nested && typeof nested === 'object' && !numArr(nested)) walk(nested, path.concat('0', k), depth + 1);
          }
          return;
        }
        node.slice(0, 8).forEach((v, i) => walk(v, path.concat(String(i)), depth + 1));
        return;
      }
      for (const k of Object.keys(node)) walk(node[k], path.concat(k), depth + 1);
    }
    walk(b.data, [], 0);
  }

  function suiteSection(parent, suite, cmpByKey) {
    const sec = h('section', { 'data-suite': suite.name });
    parent.appendChild(sec);
    sec.appendChild(h('h2', null, ['Suite: ' + suite.name]));
    const measured = suite.benchmarks.filter((b) => !b.skipped).length;
    metaList(sec, [['model', suite.model], ['device', suite.device],
      ['benchmarks', suite.benchmarks.length + ' (' + measured + ' measured, ' + (suite.benchmarks.length - measured) + ' skipped)']]);
    const charts = h('div', { className: 'charts' });
    sec.appendChild(charts);
    const special = SUITE_CHARTS[suite.name];
    let used = new Set();
    if (special) safeChart(() => { used = special(charts, suite) || used; });
    familyCharts(charts, suite, used);
    const withData = suite.benchmarks.filter((b) => !b.skipped && b.data && typeof b.data === 'object' && !used.has(b));
    if (withData.length) {
      const det = h('details', { open: '' }, [h('summary', null, ['Benchmark data (' + withData.length + ' benchmarks)'])]);
      const dcharts = h('div', { className: 'charts' });
      det.appendChild(dcharts);
      sec.appendChild(det);
      const budget = { left: 24 }, tables = { left: 12 };
      const dtables = h('div');
      det.appendChild(dtables);
      for (const b of withData) dataCharts(dcharts, dtables, b, budget, tables);
      if (!dcharts.childNodes.length) dcharts.remove();
      if (budget.left <= 0) det.appendChild(h('p', { className: 'note' }, ['Chart limit reached; the rest of the data is in the result file.']));
    }
    if (!charts.childNodes.length) charts.remove();
    sec.appendChild(h('h3', null, ['All benchmarks']));
    benchTable(sec, suite, cmpByKey);
  }

  // Suite-specific charts, drawn from the shapes each suite documents in docs/suites/<suite>.md.
  // Each guards its own inputs: a missing field draws nothing rather than failing the page.
  // suite_charts.js (inlined after this file) fills it; rendering waits for DOMContentLoaded.
  const SUITE_CHARTS = L.suiteCharts;

  function comparisonSection(parent, cmp, baseline) {
    parent.appendChild(h('h2', null, ['Comparison with the baseline']));
    metaList(parent, [['baseline', (baseline && baseline.source) + ' (' + cmp.baseline.run_id + ')'],
      ['baseline started', baseline && baseline.started_at],
      ['metric', cmp.normalized ? 'roofline fraction (normalised across hardware)' : 'median of raw samples'],
      ['gate', cmp.gate_failed ? 'FAILED' : 'passed']]);
    const sum = h('div', { className: 'summary' });
    for (const v of ['regressed', 'improved', 'unchanged', 'inconclusive', 'skipped', 'missing', 'new']) {
      sum.appendChild(h('span', { className: 'chip v-' + v }, [cmp.summary[v] + ' ' + v]));
    }
    parent.appendChild(sum);
    for (const w of cmp.host_warnings || []) parent.appendChild(h('div', { className: 'warning' }, ['Hosts differ: ' + w]));
    for (const w of cmp.method_warnings || []) parent.appendChild(h('div', { className: 'warning' }, ['Runs measured differently: ' + w]));
    const rank = { regressed: 0, improved: 1, inconclusive: 2, skipped: 3, unchanged: 4 };
    const rows = (cmp.benchmarks || []).slice();
    table(parent, [
      { label: 'verdict', value: (r) => rank[r.verdict], text: (r) => chip(r.verdict) },
      { label: 'benchmark', value: (r) => r.key },
      { label: 'baseline', value: (r) => r.base_median, text: (r) => fmtValue(r.base_median, r.unit), num: true },
      { label: 'candidate', value: (r) => r.cand_median, text: (r) => fmtValue(r.cand_median, r.unit), num: true },
      { label: 'delta', value: (r) => r.delta, text: (r) => fmtPct(r.delta), num: true,
        cls: (r) => (r.verdict === 'regressed' ? 'delta-bad' : r.verdict === 'improved' ? 'delta-good' : '') },
      { label: 'p', value: (r) => r.p_value, text: (r) => (isNum(r.p_value) ? (r.p_value < 1e-4 ? '<1e-4' : r.p_value.toFixed(4)) : '-'), num: true },
      { label: 'better', value: (r) => r.direction },
      { label: 'gated', value: (r) => (r.gated ? 'yes' : 'no') },
      { label: 'note', value: (r) => r.note || '' },
    ], rows, { sortCol: 0, sortDir: 1 });
    const changed = rows.filter((r) => isNum(r.delta) && r.verdict !== 'skipped').slice(0, 40);
    if (changed.length >= 2) {
      const charts = h('div', { className: 'charts' });
      parent.appendChild(charts);
      safeChart(() => barChart(charts, { title: 'Median change against the baseline (%)', sub: 'positive = larger value; see each benchmark\'s direction',
        labels: changed.map((r) => r.name), yLabel: '%', series: [{ label: 'delta %', values: changed.map((r) => r.delta * 100) }] }));
    }
    for (const [what, list] of [['Missing in this run', cmp.missing], ['New in this run', cmp.new]]) {
      if (!list || !list.length) continue;
      parent.appendChild(h('h3', null, [what + ' (' + list.length + ')']));
      parent.appendChild(h('ul', null, list.map((k) => h('li', { className: 'mono' }, [k]))));
    }
  }

  function tracesSection(parent, traces) {
    if (!traces || !traces.length) return;
    parent.appendChild(h('h2', null, ['Traces']));
    for (const t of traces) {
      parent.appendChild(h('h3', null, ['Trace: ' + String(t.file || '(unnamed)')]));
      const extra = Object.entries(t).filter(([k]) => k !== 'file' && k !== 'kernels');
      metaList(parent, extra.map(([k, v]) => [k, v]));
      const ks = Array.isArray(t.kernels) ? t.kernels : [];
      if (!ks.length) { parent.appendChild(h('p', { className: 'note' }, ['No kernel records (CPU-only run or no GPU activity).'])); continue; }
      const total = ks.reduce((a, k) => a + (isNum(k.total_ns) ? k.total_ns : 0), 0);
      table(parent, [
        { label: 'kernel', value: (k) => k.name },
        { label: 'count', value: (k) => k.count, num: true },
        { label: 'total', value: (k) => k.total_ns, text: (k) => fmtValue(k.total_ns / 1e9, 's'), num: true },
        { label: 'mean', value: (k) => k.mean_ns, text: (k) => fmtValue(k.mean_ns / 1e9, 's'), num: true },
        { label: 'share', value: (k) => (total ? k.total_ns / total : null), text: (k) => (total ? (100 * k.total_ns / total).toFixed(1) + '%' : '-'), num: true },
      ], ks, { sortCol: 2, sortDir: -1 });
    }
  }

  function renderReport(p) {
    const run = p.run;
    document.title = 'dsbench report ' + (run.run_id || '');
    app.appendChild(h('h1', null, ['dsbench report']));
    metaList(app, [['run', run.run_id], ['file', p.source], ['started', run.started_at], ['finished', run.finished_at],
      ['command', run.command], ['schema', run.schema], ['generated', p.generated_at]]);
    hostSection(app, run.host, 'Host');
    let cmpByKey = null;
    if (p.comparison) {
      cmpByKey = new Map();
      for (const r of p.comparison.benchmarks || []) cmpByKey.set(r.suite + '|' + r.name + '|' + JSON.stringify(sortKeys(r.params)), r);
      comparisonSection(app, p.comparison, p.baseline);
    }
    for (const s of run.suites || []) suiteSection(app, s, cmpByKey);
    if (!(run.suites || []).length) app.appendChild(h('p', { className: 'note' }, ['This run has no suites.']));
    tracesSection(app, run.traces);
  }

  // ---- the trend page --------------------------------------------------------------------------
  function renderTrend(p) {
    document.title = 'dsbench trend (' + p.runs.length + ' runs)';
    app.appendChild(h('h1', null, ['dsbench trend']));
    const first = p.runs[0] || {}, last = p.runs[p.runs.length - 1] || {};
    metaList(app, [['runs', p.runs.length], ['from', first.started_at], ['to', last.started_at],
      ['series', p.series.length], ['generated', p.generated_at]]);
    for (const w of p.warnings || []) app.appendChild(h('div', { className: 'warning' }, [w]));
    const times = p.runs.map((r) => Date.parse(r.started_at) / 1000);
    const useTime = times.every(isNum) && new Set(times).size === times.length;
    const xOf = (ri) => (useTime ? times[ri] : ri);

    const changes = [];
    for (const s of p.series) for (const c of s.changes) changes.push({ s: s, c: c, run: p.runs[c.run] || {} });
    app.appendChild(h('h2', null, ['Change points (' + changes.length + ')']));
    if (changes.length) {
      table(app, [
        { label: 'verdict', value: (r) => (r.c.regression ? 0 : 1), text: (r) => chip(r.c.regression ? 'regression' : 'improvement') },
        { label: 'benchmark', value: (r) => r.s.key },
        { label: 'first run', value: (r) => r.run.started_at || '' },
        { label: 'git', value: (r) => r.run.git_sha || '' },
        { label: 'before', value: (r) => r.c.before, text: (r) => fmtValue(r.c.before, r.s.unit), num: true },
        { label: 'after', value: (r) => r.c.after, text: (r) => fmtValue(r.c.after, r.s.unit), num: true },
        { label: 'change', value: (r) => r.c.delta, text: (r) => fmtPct(r.c.delta), num: true,
          cls: (r) => (r.c.regression ? 'delta-bad' : 'delta-good') },
      ], changes, { sortCol: 0, sortDir: 1 });
    } else {
      app.appendChild(h('p', { className: 'note' }, ['No level shifts detected.']));
    }
    app.appendChild(h('h2', null, ['Series']));
    const order = p.series.slice().sort((a, b) => (b.changes.length > 0) - (a.changes.length > 0));
    const limit = 300;
    const charts = h('div', { className: 'charts' });
    const filter = h('input', { className: 'filter', type: 'search', placeholder: 'filter series by name', oninput: (ev) => {
      const f = ev.target.value.toLowerCase();
      for (const box of charts.childNodes) box.style.display = box.getAttribute('data-key').toLowerCase().includes(f) ? '' : 'none';
    } });
    app.appendChild(filter);
    app.appendChild(charts);
    for (const s of order.slice(0, limit)) {
      const holder = h('div', { 'data-key': s.key });
      charts.appendChild(holder);
      const xs = s.run.map(xOf);
      const marks = s.changes.map((c) => ({ x: xOf(c.run), color: c.regression ? '#c62828' : '#2e7d32' }));
      safeChart(() => lineChart(holder, { title: s.key, sub: 'better: ' + s.direction + (s.changes.length ? '; ' + s.changes.length + ' change point(s), dashed' : ''),
        xLabel: useTime ? 'run date' : 'run', xTime: useTime, xLog: false, unit: s.unit, yLabel: s.unit, xs: xs, marks: marks,
        width: 580, series: [
          { label: 'median', ys: s.median },
          { label: 'p10', ys: s.p10, dash: [4, 4], color: '#9e9e9e', width: 1, points: false },
          { label: 'p90', ys: s.p90, dash: [4, 4], color: '#9e9e9e', width: 1, points: false },
        ] }));
    }
    if (order.length > limit) app.appendChild(h('p', { className: 'note' }, [(order.length - limit) + ' more series not drawn; see dsbench history --json.']));
  }

  function main() {
    try {
      if (payload.kind === 'trend') renderTrend(payload);
      else renderReport(payload);
    } catch (e) {
      state.errors.push(String(e && e.stack || e));
      app.appendChild(h('div', { className: 'warning' }, ['The page failed to render: ' + String(e)]));
      console.error(e);
    }
    state.ready = true;
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', main);
  else main();
})();
