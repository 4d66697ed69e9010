// Building blocks of the dsbench report and trend pages: DOM construction with text nodes only
// (never innerHTML: benchmark names and host strings are untrusted), number formatting, sortable
// tables, and charts (uPlot lines and bars, heatmaps on a plain canvas). report.js uses them.
(function () {
  'use strict';

  const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2',
                   '#17becf', '#7f7f7f', '#bcbd22'];
  // Tests read this: every chart registers here, and ready turns true once all are drawn.
  const state = { charts: [], errors: [], ready: false };
  window.dsbench = state;

  // ---- DOM helpers (text only) ---------------------------------------------------------------
  function h(tag, props, children) {
    const e = document.createElement(tag);
    if (props) {
      for (const k of Object.keys(props)) {
        if (k === 'className') e.className = props[k];
        else if (k === 'text') e.textContent = props[k];
        else if (k === 'onclick' || k === 'oninput') e[k] = props[k];
        else e.setAttribute(k, String(props[k]));
      }
    }
    for (const c of children || []) {
      if (c === null || c === undefined) continue;
      e.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    }
    return e;
  }
  const txt = (s) => document.createTextNode(String(s));
  const isNum = (v) => typeof v === 'number' && isFinite(v);

  // ---- formatting ------------------------------------------------------------------------------
  function fmtNum(v, digits) {
    if (!isNum(v)) return '-';
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e7 || a < 1e-3)) return v.toExponential(2);
    return String(+v.toPrecision(digits || 4));
  }
  function fmtValue(v, unit) {
    if (!isNum(v)) return '-';
    const a = Math.abs(v);
    if (unit === 's') {
      if (a === 0) return '0 s';
      if (a < 1e-6) return fmtNum(v * 1e9, 3) + ' ns';
      if (a < 1e-3) return fmtNum(v * 1e6, 3) + ' us';
      if (a < 1) return fmtNum(v * 1e3, 3) + ' ms';
      return fmtNum(v, 3) + ' s';
    }
    if (unit === 'B' || unit === 'bytes') return fmtBytes(v);
    return fmtNum(v) + (unit ? ' ' + unit : '');
  }
  function fmtBytes(v) {
    if (!isNum(v)) return '-';
    const a = Math.abs(v);
    if (a >= 1e12) return fmtNum(v / 1e12, 3) + ' TB';
    if (a >= 1e9) return fmtNum(v / 1e9, 3) + ' GB';
    if (a >= 1e6) return fmtNum(v / 1e6, 3) + ' MB';
    if (a >= 1e3) return fmtNum(v / 1e3, 3) + ' kB';
    return fmtNum(v, 4) + ' B';
  }
  // Axis ticks: integers in full (16384, not 1.638e4), everything else as fmtNum.
  function fmtTick(v) {
    return isNum(v) && Number.isInteger(v) && Math.abs(v) < 1e12 ? String(v) : fmtNum(v);
  }
  function fmtPct(v) { return isNum(v) ? (v >= 0 ? '+' : '') + (v * 100).toFixed(1) + '%' : '-'; }
  function paramsText(p, skip) {
    if (!p || typeof p !== 'object') return '';
    return Object.keys(p).filter((k) => !skip || !skip.includes(k))
      .map((k) => k + '=' + (typeof p[k] === 'object' ? JSON.stringify(p[k]) : String(p[k]))).join(', ');
  }
  function samplesOf(b) { return (b.samples || []).filter(isNum); }
  function median(xs) {
    const s = xs.filter(isNum).slice().sort((a, b) => a - b);
    if (!s.length) return null;
    const m = (s.length - 1) / 2;
    return (s[Math.floor(m)] + s[Math.ceil(m)]) / 2;
  }
  function medianOf(b) {
    if (b.stats && isNum(b.stats.median) && b.stats.n > 0) return b.stats.median;
    return median(samplesOf(b));
  }
  function counter(b, k) { return b.counters && isNum(b.counters[k]) ? b.counters[k] : null; }

  // ---- sortable tables -------------------------------------------------------------------------
  // columns: [{label, value(row) -> sortable, text(row) -> string|Node, num, cls(row)}]
  function table(parent, columns, rows, opts) {
    opts = opts || {};
    let filterText = '';
    let sortCol = opts.sortCol === undefined ? -1 : opts.sortCol;
    let sortDir = opts.sortDir || 1;
    const thead = h('thead');
    const tbody = h('tbody');
    const tbl = h('table', { className: 'data' }, [thead, tbody]);
    const headRow = h('tr');
    columns.forEach((c, i) => {
      const th = h('th', { title: 'sort by ' + c.label, onclick: () => {
        sortDir = sortCol === i ? -sortDir : 1;
        sortCol = i;
        render();
      } }, [c.label]);
      headRow.appendChild(th);
    });
    thead.appendChild(headRow);
    const texts = rows.map((r) => columns.map((c) => {
      const t = c.text ? c.text(r) : c.value(r);
      return typeof t === 'object' && t !== null ? t.textContent : String(t);
    }).join(' ').toLowerCase());
    function render() {
      headRow.childNodes.forEach((th, i) => {
        th.className = i === sortCol ? (sortDir > 0 ? 'sorted-asc' : 'sorted-desc') : '';
      });
      let idx = rows.map((_, i) => i).filter((i) => !filterText || texts[i].includes(filterText));
      if (sortCol >= 0) {
        const c = columns[sortCol];
        idx.sort((a, b) => {
          const va = c.value(rows[a]), vb = c.value(rows[b]);
          const na = va === null || va === undefined || (typeof va === 'number' && !isFinite(va));
          const nb = vb === null || vb === undefined || (typeof vb === 'number' && !isFinite(vb));
          if (na || nb) return na === nb ? 0 : na ? 1 : -1;  // blanks last either way
          if (typeof va === 'number' && typeof vb === 'number') return (va - vb) * sortDir;
          return String(va).localeCompare(String(vb)) * sortDir;
        });
      }
      tbody.replaceChildren();
      for (const i of idx) {
        const r = rows[i];
        const tr = h('tr');
        for (const c of columns) {
          const v = c.text ? c.text(r) : c.value(r);
          const td = h('td', { className: (c.num ? 'num ' : '') + (c.cls ? c.cls(r) || '' : '') });
          td.appendChild(typeof v === 'object' && v !== null ? v : txt(v === null || v === undefined ? '-' : v));
          tr.appendChild(td);
        }
        tbody.appendChild(tr);
      }
    }
    if (rows.length > 12) {
      parent.appendChild(h('input', { className: 'filter', type: 'search',
        placeholder: 'filter ' + rows.length + ' rows', oninput: (ev) => {
          filterText = ev.target.value.toLowerCase();
          render();
        } }));
    }
    parent.appendChild(rows.length > 25 ? h('div', { className: 'table-wrap' }, [tbl]) : tbl);
    render();
    return tbl;
  }
  function chip(verdict) { return h('span', { className: 'chip v-' + verdict }, [verdict]); }

  // ---- charts ----------------------------------------------------------------------------------
  function chartBox(parent, title, sub) {
    const box = h('div', { className: 'chart' }, [h('h4', null, [title]), sub ? h('div', { className: 'sub' }, [sub]) : null]);
    parent.appendChild(box);
    return box;
  }
  function chartWidth(parent) {
    const w = parent.clientWidth || 1200;
    return Math.max(360, Math.min(600, Math.floor(w / 2) - 30));
  }
  function register(box, title, kind, canvas) {
    box.setAttribute('data-chart', kind);
    state.charts.push({ title: title, kind: kind, canvas: canvas });
  }
  function safeChart(fn) {
    try { fn(); } catch (e) { state.errors.push(String(e && e.stack || e)); console.error(e); }
  }

  // spec: {title, sub, xLabel, yLabel, unit, xs, series:[{label, ys, dash, points, color}],
  //        xLog, xTime, xLabels (category names), bars, marks:[{x, color}]}
  function lineChart(parent, spec) {
    const box = chartBox(parent, spec.title, spec.sub);
    const xs = spec.xs;
    const positive = xs.length > 1 && xs.every((x) => x > 0);
    const xLog = spec.xLog !== undefined ? spec.xLog && positive
      : positive && Math.max(...xs) / Math.min(...xs) >= 16;
    const fmtY = (v) => spec.unit ? fmtValue(v, spec.unit) : fmtNum(v);
    const nser = spec.series.length;
    const series = [{ label: spec.xLabel || 'x',
      value: spec.xLabels ? (u, v) => (v === null ? '-' : spec.xLabels[Math.round(v)]) : spec.xTime ? undefined : (u, v) => fmtNum(v) }];
    spec.series.forEach((s, i) => {
      const color = s.color || PALETTE[i % PALETTE.length];
      const ser = { label: s.label, stroke: color, width: s.width || 2, spanGaps: true,
        value: (u, v) => (v === null || v === undefined ? '-' : fmtY(v)),
        points: { show: s.points !== false, size: s.pointSize || 5, fill: color } };
      if (s.dash) ser.dash = s.dash;
      if (s.noLine) ser.paths = () => null;
      if (spec.bars) {
        const align = spec.grouped ? 0 : nser === 2 ? (i === 0 ? -1 : 1) : 0;
        ser.paths = uPlot.paths.bars({ size: [spec.grouped ? 0.9 : nser === 2 ? 0.4 : 0.7, 60], align: align });
        ser.fill = color + 'cc';
        if (spec.yLog) ser.fillTo = (u) => u.scales.y.min;  // a log axis has no zero to grow from
        ser.points = { show: false };
      }
      series.push(ser);
    });
    const xAxis = { label: spec.xLabel || '', stroke: '#333' };
    if (spec.xLabels) {
      const n = spec.xLabels.length;
      const step = Math.max(1, Math.ceil(n / 24));
      xAxis.splits = () => spec.xLabels.map((_, i) => i).filter((i) => i % step === 0);
      xAxis.values = (u, splits) => splits.map((v) => {
        const s = spec.xLabels[v];
        return s === undefined ? '' : s.length > 14 ? s.slice(0, 13) + '\u2026' : s;
      });
      const longest = Math.max(...spec.xLabels.map((l) => Math.min(14, l.length)));
      if (n > 8 || n * longest > 48) {
        xAxis.rotate = -40;
        xAxis.size = 30 + 5.5 * longest;
      }
    } else if (!spec.xTime) {
      xAxis.values = (u, splits) => splits.map(fmtTick);
      // A short sweep gets a tick at each measured point (1024, 4096, ...), not at 1.5.
      if (xs.length <= 12 && xs.every(Number.isInteger)) xAxis.splits = () => xs;
    }
    const scales = { x: { time: !!spec.xTime } };
    if (xLog) { scales.x.distr = 3; scales.x.log = 2; }
    if (spec.xLabels) scales.x.range = () => [-0.6, spec.xLabels.length - 0.4];
    if (spec.bars) scales.y = { range: (u, mn, mx) => [Math.min(0, mn), mx > 0 ? mx * 1.08 : 1] };
    if (spec.yLog) scales.y = { distr: 3, log: 10 };
    const hooks = {};
    if (spec.marks && spec.marks.length) {
      hooks.draw = [(u) => {
        const ctx = u.ctx;
        ctx.save();
        ctx.lineWidth = 2;
        ctx.setLineDash([6, 4]);
        for (const m of spec.marks) {
          const x = u.valToPos(m.x, 'x', true);
          ctx.strokeStyle = m.color;
          ctx.beginPath();
          ctx.moveTo(x, u.bbox.top);
          ctx.lineTo(x, u.bbox.top + u.bbox.height);
          ctx.stroke();
        }
        ctx.restore();
      }];
    }
    const opts = {
      width: spec.width || chartWidth(parent), height: spec.height || 260,
      scales: scales, series: series, hooks: hooks,
      axes: [xAxis, { label: spec.yLabel || '', stroke: '#333',
        values: (u, splits) => splits.map((v) => fmtY(v)),
        // Wide enough for the longest tick label ("120 tokens/s") plus the axis label.
        size: (u, values) => 34 + 7 * Math.max(3, ...(values || []).map((v) => String(v).length)) }],
      legend: { show: true, live: true },
      cursor: { drag: { x: true, y: false } },
    };
    const data = [xs].concat(spec.series.map((s) => s.ys.map((v) => (isNum(v) ? v : null))));
    const plot = new uPlot(opts, data, box);
    register(box, spec.title, spec.bars ? 'bar' : 'line', plot.ctx.canvas);
    return plot;
  }

  function barChart(parent, spec) {
    // spec: {title, sub, labels, series:[{label, values}], unit, yLabel}. One or two series are
    // bars (two side by side); three to six are grouped bars placed around each category.
    const n = spec.labels.length, k = Math.min(spec.series.length, 6);
    // Values spanning more than two decades (bytes per token across models) get a log axis.
    const vals = spec.series.flatMap((s) => s.values).filter((v) => isNum(v) && v > 0);
    const yLog = spec.yLog !== undefined ? spec.yLog : vals.length > 1 &&
      vals.length === spec.series.flatMap((s) => s.values).filter(isNum).length && Math.max(...vals) / Math.min(...vals) > 100;
    const base = { title: spec.title, sub: spec.sub, unit: spec.unit, yLabel: spec.yLabel, xLabel: spec.xLabel || '',
      xLabels: spec.labels.map(String), bars: true, xLog: false, yLog: yLog };
    if (k <= 2) {
      return lineChart(parent, Object.assign(base, { xs: spec.labels.map((_, i) => i),
        series: spec.series.map((s) => ({ label: s.label, ys: s.values })) }));
    }
    const w = 0.8 / k, xs = [];
    for (let c = 0; c < n; c++) for (let i = 0; i < k; i++) xs.push(c + (i - (k - 1) / 2) * w);
    return lineChart(parent, Object.assign(base, { xs: xs, grouped: true,
      series: spec.series.slice(0, k).map((s, i) => ({ label: s.label,
        ys: xs.map((_, j) => (j % k === i ? s.values[Math.floor(j / k)] : null)) })) }));
  }

  function heatColor(t) {
    // A perceptually ordered blue -> yellow ramp (viridis-like anchors).
    const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
    t = Math.max(0, Math.min(1, isNum(t) ? t : 0));
    const f = t * (stops.length - 1), i = Math.min(stops.length - 2, Math.floor(f)), r = f - i;
    const c = stops[i].map((a, k) => Math.round(a + (stops[i + 1][k] - a) * r));
    return 'rgb(' + c[0] + ',' + c[1] + ',' + c[2] + ')';
  }
  // spec: {title, sub, matrix (rows of numbers), rowLabel, colLabel, rowNames}
  function heatmap(parent, spec) {
    const box = chartBox(parent, spec.title, spec.sub);
    const m = spec.matrix, rows = m.length, cols = Math.max(...m.map((r) => r.length));
    const left = 56, top = 8, bottom = 34;
    const width = Math.min(1200, Math.max(360, chartWidth(parent)));
    const cw = Math.max(1, (width - left - 10) / cols), ch = Math.max(3, Math.min(18, 320 / rows));
    const canvas = h('canvas');
    const dpr = window.devicePixelRatio || 1;
    const H = Math.ceil(top + rows * ch + bottom);
    canvas.width = Math.ceil(width * dpr);
    canvas.height = Math.ceil(H * dpr);
    canvas.style.width = width + 'px';
    canvas.style.height = H + 'px';
    const ctx = canvas.getContext('2d');
    ctx.scale(dpr, dpr);
    let lo = Infinity, hi = -Infinity;
    for (const r of m) for (const v of r) if (isNum(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    if (!isFinite(lo)) { lo = 0; hi = 1; }
    const span = hi > lo ? hi - lo : 1;
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < m[i].length; j++) {
        ctx.fillStyle = isNum(m[i][j]) ? heatColor((m[i][j] - lo) / span) : '#eee';
        ctx.fillRect(left + j * cw, top + i * ch, Math.ceil(cw), Math.ceil(ch));
      }
    }
    ctx.fillStyle = '#333';
    ctx.font = '11px sans-serif';
    const rstep = Math.max(1, Math.ceil(rows / 16));
    for (let i = 0; i < rows; i += rstep) {
      const name = spec.rowNames ? String(spec.rowNames[i]) : String(i);
      ctx.fillText(name.slice(0, 8), 4, top + i * ch + Math.min(ch, 12));
    }
    const cstep = Math.max(1, Math.ceil(cols / 16));
    for (let j = 0; j < cols; j += cstep) ctx.fillText(String(j), left + j * cw, top + rows * ch + 12);
    ctx.fillText((spec.colLabel || 'column') + ' \u2192', left, top + rows * ch + 28);
    box.appendChild(canvas);
    box.appendChild(h('div', { className: 'heat-legend' }, [
      (spec.rowLabel || 'row') + ' \u2193   colour: ' + fmtNum(lo) + ' (dark) to ' + fmtNum(hi) + ' (yellow)']));
    register(box, spec.title, 'heatmap', canvas);
  }

  window.dsbenchLib = { state: state, h: h, txt: txt, isNum: isNum, fmtNum: fmtNum, fmtValue: fmtValue,
    fmtBytes: fmtBytes, fmtPct: fmtPct, paramsText: paramsText, samplesOf: samplesOf, median: median,
    medianOf: medianOf, counter: counter, table: table, chip: chip, chartBox: chartBox,
    lineChart: lineChart, barChart: barChart, heatmap: heatmap, safeChart: safeChart, suiteCharts: {} };
})();
