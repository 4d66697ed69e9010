// Opens dsbench's HTML reports in real headless chromium (Debian's, driven by playwright-core):
// the quick-plan report, a report with a baseline, a trend page and a page built from hostile
// strings. Each must load from file:// with no console errors or network requests, draw every
// chart (non-empty canvas) and run no injected script. Screenshots go to --out.
// Exit 0 pass, 1 fail, 77 skipped (no chromium or no node_modules).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { richRun, hostileRun, nightly, HOSTILE } from './fixtures.mjs';

const SKIP = 77;
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const root = path.resolve(args.root || process.cwd());
const out = path.resolve(args.out || path.join(root, 'build', 'browser'));
const dsbench = args.dsbench || path.join(root, 'build', 'dsbench');
const chromiumPath = process.env.DSBENCH_CHROMIUM || '/usr/bin/chromium';

if (!fs.existsSync(chromiumPath)) {
  console.log(`SKIP: chromium not found at ${chromiumPath} (apt-get install chromium, or set DSBENCH_CHROMIUM)`);
  process.exit(SKIP);
}
let chromium;
try {
  chromium = createRequire(path.join(root, 'package.json'))('playwright-core').chromium;
} catch (e) {
  console.log(`SKIP: playwright-core not found under ${path.join(root, 'node_modules')} (run npm ci in ${root})`);
  process.exit(SKIP);
}

// The vendored chart library must be the version package.json pins (npm run vendor-uplot).
for (const f of ['uPlot.iife.min.js', 'uPlot.min.css']) {
  if (!fs.existsSync(path.join(root, 'node_modules', 'uplot', 'dist', f))) {
    console.log(`SKIP: node_modules/uplot missing under ${root} (run npm ci)`);
    process.exit(SKIP);
  }
  const vendored = fs.readFileSync(path.join(root, 'reports', 'assets', f));
  const pinned = fs.readFileSync(path.join(root, 'node_modules', 'uplot', 'dist', f));
  if (!vendored.equals(pinned)) {
    console.log(`FAIL reports/assets/${f} differs from node_modules/uplot/dist/${f}: run npm run vendor-uplot`);
    process.exit(1);
  }
}

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
const failures = [];
let passed = 0;
const check = (ok, what) => {
  if (ok) passed++;
  else failures.push(what);
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
};

function sh(argv, timeoutS = 60) {
  const r = spawnSync(dsbench, argv, { cwd: root, encoding: 'utf8', timeout: timeoutS * 1000 });
  if (r.status !== 0) {
    console.log(`$ dsbench ${argv.join(' ')}\nexit ${r.status}${r.signal ? ' (' + r.signal + ')' : ''}\n${r.stdout}\n${r.stderr}`);
  }
  return r.status;
}
const writeJson = (file, doc) => fs.writeFileSync(file, JSON.stringify(doc, null, 1));

// ---- the pages ---------------------------------------------------------------------------------
const pages = [];
// 1. The quick plan, run for real (or a result file given by DSBENCH_BROWSER_RESULT).
let quick = process.env.DSBENCH_BROWSER_RESULT;
if (!quick) {
  quick = path.join(out, 'quick.json');
  const rc = sh(['run', '--plan', path.join(root, 'suites', 'plans', 'quick.json'), '--quiet', '--out', quick], 300);
  check(rc === 0, 'dsbench run --quick wrote a result');
}
if (fs.existsSync(quick)) {
  const rc = sh(['report', quick, '-o', path.join(out, 'quick.html')]);
  check(rc === 0, 'dsbench report on the quick-plan result');
  if (rc === 0) pages.push({ name: 'quick', minCharts: 1 });
}
// 2. Every suite's shapes, against a 20%-slower baseline (so verdicts and deltas show).
// The candidate's read peak took several streams per thread, the baseline's one (before dsbench
// recorded read_streams): the page must say the runs measured differently.
const rich = richRun(1);
rich.host.peak = Object.assign({}, rich.host.peak, { read_streams: [1, 4, 8] });
writeJson(path.join(out, 'rich.json'), rich);
writeJson(path.join(out, 'rich-base.json'), richRun(2, 0.8));
check(sh(['report', path.join(out, 'rich.json'), '--baseline', path.join(out, 'rich-base.json'),
  '-o', path.join(out, 'baseline.html')]) === 0, 'dsbench report --baseline');
pages.push({ name: 'baseline', minCharts: 8, throttledMarks: 1,
  expectText: ['Comparison with the baseline', 'regressed', 'improved', 'Throttle check: threshold 75%',
    '300 is the best rate a probe read', '1 ran throttled throughout',
    'Runs measured differently: host.peak.read_streams: [1] vs [1,4,8]'] });
// 3. Hostile strings everywhere a user string can go (with itself as the baseline).
writeJson(path.join(out, 'hostile.json'), hostileRun());
check(sh(['report', path.join(out, 'hostile.json'), '--baseline', path.join(out, 'hostile.json'),
  '-o', path.join(out, 'hostile.html')]) === 0, 'dsbench report on hostile strings');
pages.push({ name: 'hostile', minCharts: 1, hostile: true });
// 3b. The trend page over hostile results.
fs.mkdirSync(path.join(out, 'hostile-nightly'));
for (const [i, ts] of [[0, '2026-11-01T02:00:00Z'], [1, '2026-11-02T02:00:00Z']]) {
  writeJson(path.join(out, 'hostile-nightly', `h${i}.json`), Object.assign(hostileRun(), { started_at: ts }));
}
check(sh(['history', path.join(out, 'hostile-nightly'), '-o', path.join(out, 'hostile-trend.html')]) === 0, 'dsbench history on hostile strings');
pages.push({ name: 'hostile-trend', minCharts: 1, hostile: true });
// 4. A trend over twelve nightlies with a step.
fs.mkdirSync(path.join(out, 'nightly'));
for (let i = 0; i < 12; i++) writeJson(path.join(out, 'nightly', `2026-11-${String(i + 1).padStart(2, '0')}-n${i}.json`), nightly(i));
check(sh(['history', path.join(out, 'nightly'), '-o', path.join(out, 'trend.html')]) === 0, 'dsbench history');
pages.push({ name: 'trend', minCharts: 3, expectText: ['Change points (2)', 'regression', 'improvement'] });

// ---- the browser -------------------------------------------------------------------------------
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'dsbench-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: chromiumPath,
  headless: true,
  viewport: { width: 1360, height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  for (const p of pages) {
    const file = path.join(out, p.name + '.html');
    if (!fs.existsSync(file)) continue;
    const page = await context.newPage();
    const errors = [];
    const requests = [];
    let dialogs = 0;
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('dialog', (d) => { dialogs++; d.dismiss().catch(() => {}); });
    page.on('request', (r) => { if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) requests.push(r.url()); });
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    await page.waitForFunction(() => window.dsbench && window.dsbench.ready, null, { timeout: 30000 });
    const res = await page.evaluate(() => {
      const boxes = [...document.querySelectorAll('.chart')];
      const charts = boxes.map((box) => {
        const canvases = [...box.querySelectorAll('canvas')];
        let inked = 0;
        for (const c of canvases) {
          if (!c.width || !c.height) continue;
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          for (let i = 3; i < d.length; i += 4) if (d[i] > 0) inked++;
        }
        return { title: (box.querySelector('h4') || {}).textContent, canvases: canvases.length, inked };
      });
      return { charts, registered: window.dsbench.charts.length, errors: window.dsbench.errors,
        pwned: window.__pwned, imgs: document.querySelectorAll('img').length,
        scripts: document.querySelectorAll('script').length, text: document.body.innerText,
        throttledMarks: document.querySelectorAll('.chip.throttled').length };
    });
    check(errors.length === 0, `${p.name}: no console errors ${errors.length ? JSON.stringify(errors) : ''}`);
    check(res.errors.length === 0, `${p.name}: no chart errors ${res.errors.length ? JSON.stringify(res.errors) : ''}`);
    check(requests.length === 0, `${p.name}: no network requests ${requests.length ? JSON.stringify(requests) : ''}`);
    check(res.charts.length >= p.minCharts && res.charts.length === res.registered,
      `${p.name}: ${res.charts.length} charts (at least ${p.minCharts})`);
    const blank = res.charts.filter((c) => c.canvases === 0 || c.inked < 200);
    check(blank.length === 0, `${p.name}: every chart drew on its canvas ${blank.length ? JSON.stringify(blank) : ''}`);
    for (const t of p.expectText || []) check(res.text.includes(t), `${p.name}: shows "${t}"`);
    if (p.throttledMarks !== undefined) {
      check(res.throttledMarks === p.throttledMarks, `${p.name}: ${res.throttledMarks} throttled marks (${p.throttledMarks})`);
    }
    if (p.hostile) {
      check(res.pwned === undefined && dialogs === 0, `${p.name}: no injected script ran`);
      check(res.imgs === 0, `${p.name}: no injected element exists`);
      check(res.scripts === 5, `${p.name}: only the page's own 5 script elements (${res.scripts})`);
      check(res.text.includes(HOSTILE.slice(0, 40)), `${p.name}: the strings are shown as text`);
    }
    await page.screenshot({ path: path.join(out, p.name + '.png'), fullPage: true });
    console.log(`     screenshot ${path.join(out, p.name + '.png')}`);
    await page.close();
  }
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failures.length} failed`);
process.exit(failures.length ? 1 : 0);
