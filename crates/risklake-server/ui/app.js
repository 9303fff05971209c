// risklake dashboard: a dependency-free single page over /api/v1. Every view reads the
// API (no workflow here); charts are SVG drawn by the small functions below. Text from
// the server is always set as text (never as HTML), so a table or run name cannot inject.
'use strict';

// ---------------------------------------------------------------- DOM helpers
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}
const SVGNS = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVGNS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}
function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
}
function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}
const $ = (sel, el = document) => el.querySelector(sel);

// ---------------------------------------------------------------- formatting
function num(v, digits = 4) {
  if (v === null || v === undefined) return '';
  if (typeof v !== 'number') return String(v);
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e7)) return v.toExponential(3);
  return v.toFixed(a >= 100 ? 2 : digits);
}
function when(t) {
  if (!t) return '';
  const d = new Date(t);
  return isNaN(d) ? String(t) : d.toISOString().replace('T', ' ').slice(0, 19);
}
function secs(v) {
  if (v === null || v === undefined) return '';
  return v < 1 ? `${(v * 1000).toFixed(0)} ms` : v < 120 ? `${v.toFixed(1)} s` : `${(v / 60).toFixed(1)} min`;
}
function badge(status) { return h('span', { class: `badge ${status}` }, status); }
function cell(v) {
  if (v === null || v === undefined) return h('td', { class: 'null' }, 'null');
  if (typeof v === 'number') return h('td', { class: 'num' }, num(v, 6));
  if (typeof v === 'object') return h('td', { class: 'mono' }, JSON.stringify(v));
  return h('td', {}, String(v));
}

// ---------------------------------------------------------------- API
const app = { me: null, project: 'default', timers: [], sources: [] };

function csrf() {
  const m = document.cookie.match(/(?:^|;\s*)rl_csrf=([^;]*)/);
  return m ? m[1] : '';
}
class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
    this.kind = body && body.error && body.error.kind;
  }
}
function withProject(path) {
  const sep = path.includes('?') ? '&' : '?';
  return `${path}${sep}project=${encodeURIComponent(app.project)}`;
}
async function api(path, opts = {}) {
  const init = { method: opts.method || 'GET', credentials: 'same-origin', headers: {} };
  if (init.method !== 'GET') init.headers['X-CSRF-Token'] = csrf();
  if (opts.body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(opts.body);
  }
  const r = await fetch(withProject(`/api/v1${path}`), init);
  if (r.status === 401 && app.me && app.me.auth === 'token') { location.href = '/ui/login'; }
  if (opts.raw) {
    if (!r.ok) throw new ApiError(r.status, await r.json().catch(() => null));
    return r;
  }
  const body = await r.json().catch(() => null);
  if (!r.ok) throw new ApiError(r.status, body);
  return body;
}
const enc = encodeURIComponent;

// ---------------------------------------------------------------- tables and paging
// columns: [{key, label, num, render(row) -> node|string, sort(row) -> value}]
function dataTable(columns, rows, opts = {}) {
  let sortKey = opts.sortKey || null, desc = opts.desc ?? true;
  const tbody = h('tbody');
  const heads = columns.map((c) => {
    const label = c.label ?? c.key;
    if (!opts.sortable || c.nosort) return h('th', { class: c.num ? 'num' : null, scope: 'col' }, label);
    const b = h('button', { class: 'sort', type: 'button', onclick: () => {
      if (sortKey === c.key) desc = !desc; else { sortKey = c.key; desc = true; }
      fill();
    } }, label);
    return h('th', { class: c.num ? 'num' : null, scope: 'col', 'aria-sort': 'none' }, b);
  });
  function value(c, r) { return c.sort ? c.sort(r) : r[c.key]; }
  function fill() {
    let list = rows.slice();
    const c = columns.find((x) => x.key === sortKey);
    if (c) {
      list.sort((a, b) => {
        const x = value(c, a), y = value(c, b);
        const cmp = x === y ? 0 : x === null || x === undefined ? 1 : y === null || y === undefined ? -1 : x < y ? -1 : 1;
        return desc ? -cmp : cmp;
      });
      heads.forEach((th, i) => th.setAttribute('aria-sort', columns[i].key === sortKey ? (desc ? 'descending' : 'ascending') : 'none'));
    }
    tbody.replaceChildren(...list.map((r) => {
      const tr = h('tr', {}, columns.map((col) => {
        const v = col.render ? col.render(r) : r[col.key];
        if (v instanceof Node) return h('td', { class: col.num ? 'num' : null }, v);
        return col.num ? h('td', { class: 'num' }, typeof v === 'number' ? num(v) : v ?? '') : cell(v);
      }));
      if (opts.rowAttrs) setAttrs(tr, opts.rowAttrs(r));
      return tr;
    }));
  }
  fill();
  return h('div', { class: 'scroll' }, h('table', { 'aria-label': opts.label || null }, h('thead', {}, h('tr', {}, heads)), tbody));
}

// Result rows (objects) under their columns ({name, type}), as the API answers them.
function resultTable(columns, rows, label) {
  return h('div', { class: 'scroll' }, h('table', { class: 'rows', 'aria-label': label || null },
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.name, h('div', { class: 'muted' }, c.type))))),
    h('tbody', {}, rows.map((r) => h('tr', {}, columns.map((c) => cell(r[c.name])))))));
}
// The same, paged on the client.
function rowsTable(columns, data, pageSize = 50) {
  const box = h('div');
  let page = 0;
  const pages = Math.max(1, Math.ceil(data.length / pageSize));
  function show() {
    const slice = data.slice(page * pageSize, (page + 1) * pageSize);
    box.replaceChildren(resultTable(columns, slice), pager(page, pages, data.length, (p) => { page = p; show(); }));
  }
  show();
  return box;
}
function pager(page, pages, total, go, unit = 'rows') {
  return h('div', { class: 'pager', role: 'navigation', 'aria-label': 'Pages' },
    h('button', { type: 'button', class: 'secondary', disabled: page === 0, onclick: () => go(page - 1) }, '‹ Previous'),
    h('span', { class: 'pager-where' }, `page ${page + 1} of ${pages}`, total !== null ? ` (${total.toLocaleString('en-US')} ${unit})` : ''),
    h('button', { type: 'button', class: 'secondary', disabled: page + 1 >= pages, onclick: () => go(page + 1) }, 'Next ›'));
}
function kv(pairs) {
  return h('dl', { class: 'kv' }, pairs.filter((p) => p[1] !== undefined).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v ?? '')]));
}
function errorBox(e) { return h('p', { class: 'error', role: 'alert' }, e.message || String(e)); }

// ---------------------------------------------------------------- charts (SVG)
const COLORS = ['var(--c1)', 'var(--c2)', 'var(--c3)', 'var(--c4)', 'var(--c5)', 'var(--c6)'];
function ticks(lo, hi, n = 5) {
  if (!(hi > lo)) { hi = lo + 1; }
  const step0 = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(step0)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((x) => x >= step0) || step0;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}
function frame(w, hgt, m, x0, x1, y0, y1, opts = {}) {
  const sx = (v) => m.l + ((v - x0) / (x1 - x0 || 1)) * (w - m.l - m.r);
  const sy = (v) => hgt - m.b - ((v - y0) / (y1 - y0 || 1)) * (hgt - m.t - m.b);
  const g = [];
  for (const t of ticks(y0, y1)) {
    g.push(s('line', { class: 'gridline', x1: m.l, x2: w - m.r, y1: sy(t), y2: sy(t) }));
    g.push(s('text', { x: m.l - 6, y: sy(t) + 4, 'text-anchor': 'end' }, num(t, 3)));
  }
  if (!opts.noXTicks) {
    for (const t of ticks(x0, x1, 6)) {
      g.push(s('text', { x: sx(t), y: hgt - m.b + 15, 'text-anchor': 'middle' }, num(t, 3)));
    }
  }
  g.push(s('line', { class: 'axis', x1: m.l, x2: w - m.r, y1: hgt - m.b, y2: hgt - m.b }));
  g.push(s('line', { class: 'axis', x1: m.l, x2: m.l, y1: m.t, y2: hgt - m.b }));
  if (opts.xLabel) g.push(s('text', { x: (m.l + w - m.r) / 2, y: hgt - 4, 'text-anchor': 'middle' }, opts.xLabel));
  if (opts.yLabel) g.push(s('text', { x: 12, y: m.t + (hgt - m.t - m.b) / 2, transform: `rotate(-90 12 ${m.t + (hgt - m.t - m.b) / 2})`, 'text-anchor': 'middle' }, opts.yLabel));
  return { sx, sy, g };
}
function extent(vals) {
  const f = vals.filter((v) => Number.isFinite(v));
  if (!f.length) return [0, 1];
  let lo = Math.min(...f), hi = Math.max(...f);
  if (lo === hi) { lo -= 0.5; hi += 0.5; }
  const pad = (hi - lo) * 0.04;
  return [lo - pad, hi + pad];
}
// series: [{name, points: [[x, y]], dots}]
function lineChart(series, opts = {}) {
  const w = opts.width || 640, hgt = opts.height || 260, m = { l: 56, r: 16, t: 12, b: 36 };
  const xs = series.flatMap((d) => d.points.map((p) => p[0])), ys = series.flatMap((d) => d.points.map((p) => p[1]));
  const [x0, x1] = extent(xs), [y0, y1] = opts.yRange || extent(ys);
  const { sx, sy, g } = frame(w, hgt, m, x0, x1, y0, y1, opts);
  series.forEach((d, i) => {
    const color = d.color || COLORS[i % COLORS.length];
    const pts = d.points.filter((p) => Number.isFinite(p[1]));
    if (!d.dotsOnly && pts.length > 1) g.push(s('polyline', { fill: 'none', stroke: color, 'stroke-width': 2, points: pts.map((p) => `${sx(p[0])},${sy(p[1])}`).join(' ') }));
    if (d.dots || pts.length === 1) for (const p of pts) g.push(s('circle', { cx: sx(p[0]), cy: sy(p[1]), r: 3, fill: color }, s('title', {}, `${d.name}: ${num(p[0])}, ${num(p[1])}`)));
  });
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${w} ${hgt}`, width: w, height: hgt, role: 'img', 'aria-label': opts.label || 'chart' }, g);
  return h('figure', { class: 'figure' }, svg, legend(series));
}
function legend(series) {
  if (series.length < 2) return null;
  return h('div', { class: 'legend' }, series.map((d, i) => h('span', {}, h('i', { style: `background:${d.color || COLORS[i % COLORS.length]}` }), d.name)));
}
// Bars (left axis) with an optional line (right axis): bins of a feature, histograms.
function barChart(labels, bars, opts = {}) {
  const w = opts.width || 640, hgt = opts.height || 260, m = { l: 56, r: opts.line ? 56 : 16, t: 12, b: opts.rotate ? 80 : 36 };
  const n = labels.length || 1, y1 = Math.max(1, ...bars);
  const { sy, g } = frame(w, hgt, m, 0, n, 0, y1, { noXTicks: true, yLabel: opts.yLabel });
  const bw = (w - m.l - m.r) / n;
  bars.forEach((v, i) => {
    const x = m.l + i * bw + bw * 0.1;
    g.push(s('rect', { x, y: sy(v), width: Math.max(1, bw * 0.8), height: Math.max(0, sy(0) - sy(v)), fill: 'var(--c1)', opacity: 0.75 },
      s('title', {}, `${labels[i]}: ${num(v)}`)));
    if (n <= 30) {
      const tx = m.l + (i + 0.5) * bw, ty = hgt - m.b + 14;
      const label = String(labels[i]).length > 14 ? String(labels[i]).slice(0, 13) + '…' : String(labels[i]);
      g.push(opts.rotate ? s('text', { x: tx, y: ty, transform: `rotate(-40 ${tx} ${ty})`, 'text-anchor': 'end' }, label)
        : s('text', { x: tx, y: ty, 'text-anchor': 'middle' }, label));
    }
  });
  if (opts.line) {
    const lv = opts.line.filter(Number.isFinite);
    const r0 = 0, r1 = Math.max(1e-9, ...lv) * 1.1;
    const ry = (v) => hgt - m.b - ((v - r0) / (r1 - r0)) * (hgt - m.t - m.b);
    const pts = opts.line.map((v, i) => [m.l + (i + 0.5) * bw, ry(v)]).filter((p) => Number.isFinite(p[1]));
    g.push(s('polyline', { fill: 'none', stroke: 'var(--c2)', 'stroke-width': 2.5, points: pts.map((p) => p.join(',')).join(' ') }));
    pts.forEach((p, i) => g.push(s('circle', { cx: p[0], cy: p[1], r: 3.5, fill: 'var(--c2)' }, s('title', {}, `${labels[i]}: ${num(opts.line[i])}`))));
    for (const t of ticks(r0, r1)) g.push(s('text', { x: w - m.r + 6, y: ry(t) + 4 }, num(t, 3)));
    g.push(s('line', { class: 'axis', x1: w - m.r, x2: w - m.r, y1: m.t, y2: hgt - m.b }));
  }
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${w} ${hgt}`, width: w, height: hgt, role: 'img', 'aria-label': opts.label || 'bar chart' }, g);
  const items = [{ name: opts.barName || 'count', color: 'var(--c1)' }];
  if (opts.line) items.push({ name: opts.lineName || 'rate', color: 'var(--c2)' });
  return h('figure', { class: 'figure' }, svg, legend(items));
}

// ---------------------------------------------------------------- the router
const routes = [
  [/^\/$/, overview],
  [/^\/tables$/, tablesView],
  [/^\/tables\/([^/]+)$/, tableView],
  [/^\/sql$/, sqlView],
  [/^\/runs$/, runsView],
  [/^\/runs\/(\d+)$/, runView],
  [/^\/compare\/([\d,]+)$/, compareView],
  [/^\/plans\/(\d+)$/, planView],
  [/^\/plans\/(\d+)\/(.+)$/, featureView],
  [/^\/models$/, modelsView],
  [/^\/models\/([^/]+)$/, modelView],
  [/^\/studies$/, studiesView],
  [/^\/studies\/([^/]+)$/, studyView],
  [/^\/jobs$/, jobsView],
  [/^\/jobs\/new$/, newJobView],
  [/^\/jobs\/(\d+)$/, jobView],
];

function stopLive() {
  app.timers.forEach(clearInterval);
  app.sources.forEach((x) => x.close());
  app.timers = [];
  app.sources = [];
}
async function render() {
  stopLive();
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, qs] = raw.split('?');
  const query = new URLSearchParams(qs || '');
  const main = $('#main');
  for (const a of document.querySelectorAll('nav.side a')) {
    const target = a.getAttribute('href').slice(1);
    const section = (p) => ({ plans: 'runs', compare: 'runs' }[p.split('/')[1]] || p.split('/')[1]);
    a.toggleAttribute('aria-current', false);
    if ((target === '/' && path === '/') || (target !== '/' && section(path) === section(target))) a.setAttribute('aria-current', 'page');
  }
  for (const [re, view] of routes) {
    const m = path.match(re);
    if (!m) continue;
    main.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
    try {
      const out = await view(...m.slice(1).map(decodeURIComponent), query);
      main.replaceChildren(...[out].flat(Infinity).filter((x) => x !== null && x !== undefined && x !== false));
    } catch (e) {
      main.replaceChildren(h('h1', {}, 'Something went wrong'), errorBox(e));
    }
    document.title = `${($('h1', main) || {}).textContent || 'risklake'} - risklake`;
    return;
  }
  main.replaceChildren(h('h1', {}, 'Not found'), h('p', {}, 'No page at ', h('code', {}, path), '.'));
}

async function start() {
  try {
    app.me = await (await fetch('/api/v1/me', { credentials: 'same-origin' })).json();
  } catch (e) {
    $('#main').replaceChildren(errorBox(e));
    return;
  }
  if (app.me.error) { location.href = '/ui/login'; return; }
  const sel = $('#project');
  if (app.me.project) {
    app.project = app.me.project;
    sel.replaceChildren(h('option', { value: app.project }, app.project));
    sel.disabled = true;
  } else {
    app.project = localStorage.getItem('risklake.project') || 'default';
    const { projects } = await api('/projects');
    const names = [...new Set(['default', app.project, ...projects.map((p) => p.name)])];
    sel.replaceChildren(...names.map((n) => h('option', { value: n, selected: n === app.project }, n)));
    sel.addEventListener('change', () => { app.project = sel.value; localStorage.setItem('risklake.project', sel.value); render(); });
  }
  $('#who').textContent = `${app.me.user} · ${app.me.role}`;
  if (app.me.auth === 'token') {
    $('#signout').hidden = false;
    $('#signout-csrf').value = csrf();
  }
  window.addEventListener('hashchange', render);
  render();
}
document.addEventListener('DOMContentLoaded', start);

// ---------------------------------------------------------------- overview
async function overview() {
  const [tables, runs, models, jobs] = await Promise.all([
    api('/tables'), api('/runs?limit=10'), api('/models'), api('/jobs?limit=50'),
  ]);
  const active = jobs.jobs.filter((j) => j.status === 'running' || j.status === 'queued');
  return [
    h('h1', {}, `Project ${app.project}`),
    h('div', { class: 'grid' },
      h('section', { class: 'card' }, h('h2', {}, 'Tables'), tables.tables.length
        ? dataTable([{ key: 'name', render: (t) => h('a', { href: `#/tables/${enc(t.name)}` }, t.name) }, { key: 'kind' }, { key: 'snapshot', num: true }], tables.tables)
        : h('p', { class: 'muted' }, 'No tables yet: ingest a file or run risklake quickstart.')),
      h('section', { class: 'card' }, h('h2', {}, 'Registered models'), models.models.length
        ? dataTable([{ key: 'name', render: (m) => h('a', { href: `#/models/${enc(m.name)}` }, m.name) },
          { key: 'champion', render: (m) => (m.aliases.champion ? `version ${m.aliases.champion}` : '—') },
          { key: 'versions', num: true }, { key: 'latest', num: true }], models.models)
        : h('p', { class: 'muted' }, 'No registered models.')),
      h('section', { class: 'card' }, h('h2', {}, 'Recent runs'), runsTable(runs.runs)),
      h('section', { class: 'card' }, h('h2', {}, 'Running and queued jobs'), active.length ? jobsTable(active) : h('p', { class: 'muted' }, 'Nothing running.'),
        h('p', {}, h('a', { href: '#/jobs' }, 'All jobs'), canRun() ? [' · ', h('a', { href: '#/jobs/new' }, 'Start a job')] : null))),
  ];
}
function runsTable(runs, selectable) {
  const cols = [
    { key: 'id', label: 'run', num: true, render: (r) => h('a', { href: `#/runs/${r.id}` }, String(r.id)) },
    { key: 'kind' }, { key: 'status', render: (r) => badge(r.status) },
    { key: 'started_at', label: 'started', render: (r) => when(r.started_at) },
    { key: 'duration_s', label: 'took', num: true, render: (r) => secs(r.duration_s) },
    { key: 'headline', label: 'headline metric', sort: (r) => (r.headline ? r.headline[1] : null), render: (r) => (r.headline ? `${r.headline[0]} ${num(r.headline[1])}` : '') },
  ];
  if (selectable) cols.unshift({ key: 'pick', label: 'compare', nosort: true, render: (r) => h('input', { type: 'checkbox', class: 'pick', value: r.id, 'aria-label': `compare run ${r.id}`, onchange: selectable }) });
  return dataTable(cols, runs, { sortable: true, label: 'runs' });
}

// ---------------------------------------------------------------- data
async function tablesView() {
  const { tables } = await api('/tables');
  return [h('h1', {}, 'Tables'), dataTable([
    { key: 'name', render: (t) => h('a', { href: `#/tables/${enc(t.name)}` }, t.name) },
    { key: 'kind' }, { key: 'columns', num: true }, { key: 'snapshot', label: 'latest snapshot', num: true },
  ], tables, { sortable: true, label: 'tables' })];
}

async function tableView(name, query) {
  const t = await api(`/tables/${enc(name)}`);
  const snapshot = query.get('snapshot') || '';
  const preview = h('div'), profile = h('div', { id: 'profile' });
  const pageSize = 50;
  let page = 0;
  async function showPreview() {
    preview.replaceChildren(h('p', { class: 'muted' }, 'Loading rows…'));
    try {
      const at = snapshot ? `&snapshot=${enc(snapshot)}` : '';
      const r = await api(`/tables/${enc(name)}/preview?limit=${pageSize}&offset=${page * pageSize}${at}`);
      const total = snapshot ? (t.snapshots.find((x) => String(x.id) === snapshot) || {}).total_records : t.rows;
      const pages = Math.max(1, Math.ceil((total ?? r.rows) / pageSize));
      preview.replaceChildren(resultTable(r.columns, r.data, 'rows'), pager(page, pages, total ?? null, (p) => { page = p; showPreview(); }));
    } catch (e) { preview.replaceChildren(errorBox(e)); }
  }
  async function showProfile(column) {
    profile.replaceChildren(h('h2', {}, `Column ${column}`), h('p', { class: 'muted' }, 'Profiling…'));
    try {
      const at = snapshot ? `&snapshot=${enc(snapshot)}` : '';
      const p = await api(`/tables/${enc(name)}/profile?column=${enc(column)}${at}`);
      const chart = p.histogram.length
        ? barChart(p.histogram.map((b) => num(b.lo, 3)), p.histogram.map((b) => b.count), { label: `histogram of ${column}`, rotate: true, height: 240 })
        : p.top.length ? barChart(p.top.map((x) => x[0] ?? 'null'), p.top.map((x) => x[1]), { label: `most frequent values of ${column}`, rotate: true, height: 240 }) : null;
      profile.replaceChildren(h('h2', {}, `Column ${column}`), h('div', { class: 'grid' },
        h('div', {}, kv([
          ['type', p.type], ['rows', num(p.rows)], ['missing', `${num(p.missing)} (${((100 * p.missing) / Math.max(1, p.rows)).toFixed(2)}%)`],
          ['distinct (approx.)', num(p.distinct)], ['min', num(p.min)], ['max', num(p.max)], ['mean', p.mean === undefined || p.mean === null ? undefined : num(p.mean)],
          ...p.quantiles.map(([q, v]) => [`p${Math.round(q * 100)}`, num(v)]),
        ])), chart));
    } catch (e) { profile.replaceChildren(errorBox(e)); }
  }
  const snapSelect = h('select', { id: 'snapshot', onchange: (e) => { location.hash = `#/tables/${enc(name)}${e.target.value ? `?snapshot=${e.target.value}` : ''}`; } },
    h('option', { value: '' }, `latest (${t.snapshot ?? 'none'})`),
    t.snapshots.slice().reverse().map((x) => h('option', { value: x.id, selected: String(x.id) === snapshot }, `${x.id} · ${x.kind} · ${when(x.committed_at)}`)));
  showPreview();
  return [
    h('h1', {}, `Table ${t.name}`),
    h('div', { class: 'row' }, h('label', { for: 'snapshot' }, 'Snapshot (time travel)'), snapSelect,
      h('span', { class: 'muted' }, `${num(t.rows)} rows · primary key ${t.primary_key.join(', ') || 'none'} · partitioned by ${t.partition_by.join(', ') || 'nothing'}`)),
    h('div', { class: 'grid' },
      h('section', { class: 'card' }, h('h2', {}, 'Columns'), dataTable([
        { key: 'name', render: (c) => h('button', { type: 'button', class: 'link', onclick: () => showProfile(c.name) }, c.name) },
        { key: 'type' }, { key: 'nullable', render: (c) => (c.nullable ? 'yes' : 'no') },
      ], t.columns, { label: 'columns' }), h('p', { class: 'hint' }, 'Choose a column to profile it.')),
      h('section', { class: 'card' }, h('h2', {}, 'Snapshots'), dataTable([
        { key: 'id', num: true }, { key: 'kind' }, { key: 'committed_at', label: 'committed', render: (x) => when(x.committed_at) },
        { key: 'delta_records', label: 'rows added', num: true }, { key: 'total_records', label: 'rows', num: true },
      ], t.snapshots.slice().reverse(), { label: 'snapshots' }),
      h('h3', {}, 'Tags'), t.tags.length ? dataTable([{ key: 'name' }, { key: 'snapshot', num: true }], t.tags) : h('p', { class: 'muted' }, 'No tags.'))),
    profile,
    h('h2', {}, 'Rows'), preview,
    h('p', {}, h('a', { href: `#/sql?q=${enc(`SELECT * FROM ${t.name} LIMIT 100`)}` }, 'Query this table in SQL')),
  ];
}

// ---------------------------------------------------------------- SQL
const KEYWORDS = new Set(('select from where group by order having limit offset join left right inner outer full cross on as and or not in is null ' +
  'case when then else end with union all distinct insert into values create table view drop delete update set describe show explain ' +
  'asc desc between like ilike cast true false over partition version of count sum avg min max').split(' '));
function highlight(text) {
  const out = [];
  const re = /(--[^\n]*)|('(?:[^']|'')*'?)|(\b\d+(?:\.\d+)?\b)|([A-Za-z_][A-Za-z0-9_]*)|([\s\S])/g;
  let m;
  while ((m = re.exec(text))) {
    if (m[1]) out.push(h('span', { class: 'tok-com' }, m[1]));
    else if (m[2]) out.push(h('span', { class: 'tok-str' }, m[2]));
    else if (m[3]) out.push(h('span', { class: 'tok-num' }, m[3]));
    else if (m[4]) out.push(KEYWORDS.has(m[4].toLowerCase()) ? h('span', { class: 'tok-kw' }, m[4]) : m[4]);
    else out.push(m[5]);
  }
  out.push('\n');
  return out;
}
// The caller's last queries in the project, kept by the server (every browser sees them).
async function sqlHistory() { return (await api('/sql/history')).queries; }

async function sqlView(query) {
  const pre = h('pre', { 'aria-hidden': 'true' });
  const area = h('textarea', { id: 'sql', spellcheck: 'false', 'aria-label': 'SQL query', autocomplete: 'off' });
  const history = await sqlHistory();
  area.value = query.get('q') || history[0] || 'SELECT 1';
  const sync = () => { pre.replaceChildren(...highlight(area.value)); pre.scrollTop = area.scrollTop; };
  area.addEventListener('input', sync);
  area.addEventListener('scroll', () => { pre.scrollTop = area.scrollTop; });
  area.addEventListener('keydown', (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') { e.preventDefault(); run(); }
  });
  sync();
  const results = h('div', { id: 'results', 'aria-live': 'polite' });
  const hist = h('ol', { class: 'history' });
  function showHistory(list) {
    hist.replaceChildren(...list.map((q) => h('li', {}, h('button', { type: 'button', class: 'link mono', title: q, onclick: () => { area.value = q; sync(); area.focus(); } }, q.replace(/\s+/g, ' ')))));
  }
  showHistory(history);
  const refreshHistory = () => sqlHistory().then(showHistory).catch(() => {});
  async function run() {
    const sql = area.value.trim();
    if (!sql) return;
    results.replaceChildren(h('p', { class: 'muted' }, 'Running…'));
    const t0 = performance.now();
    try {
      const r = await api('/sql', { method: 'POST', body: { sql } });
      const took = ((performance.now() - t0) / 1000).toFixed(2);
      results.replaceChildren(...r.results.map((res) => h('section', {},
        h('p', { class: 'muted' }, `${res.rows.toLocaleString('en-US')} rows${res.truncated ? ' (truncated at the server\'s limit)' : ''} · ${took} s`),
        rowsTable(res.columns, res.data))));
    } catch (e) { results.replaceChildren(errorBox(e)); }
    refreshHistory();
  }
  async function download(format) {
    try {
      const r = await api('/sql', { method: 'POST', body: { sql: area.value, format }, raw: true });
      const url = URL.createObjectURL(await r.blob());
      const a = h('a', { href: url, download: `query.${format}` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (e) { results.replaceChildren(errorBox(e)); }
  }
  setTimeout(() => area.focus(), 0);
  return [
    h('h1', {}, 'SQL'),
    h('div', { class: 'editor' }, pre, area),
    h('div', { class: 'row' },
      h('button', { type: 'button', id: 'run-sql', onclick: run }, 'Run (Ctrl+Enter)'),
      h('button', { type: 'button', class: 'secondary', onclick: () => download('csv') }, 'Download CSV'),
      h('button', { type: 'button', class: 'secondary', onclick: () => download('parquet') }, 'Download Parquet'),
      h('span', { class: 'hint' }, 'Read-only queries; writes run as jobs. Time travel: FROM t VERSION AS OF 3.')),
    results,
    h('h2', {}, 'Your last queries'), hist,
  ];
}

// ---------------------------------------------------------------- runs
async function runsView(query) {
  const params = new URLSearchParams();
  for (const k of ['kind', 'status']) if (query.get(k)) params.set(k, query.get(k));
  // A page of 100 runs at a time, the page in the address (#/runs?page=3) so Back works.
  const size = 100, page = Math.max(0, (Number(query.get('page')) || 1) - 1);
  params.set('limit', String(size));
  params.set('offset', String(page * size));
  const { runs, total } = await api(`/runs?${params}`);
  const goPage = (n) => {
    const q = new URLSearchParams(query);
    if (n > 0) q.set('page', String(n + 1)); else q.delete('page');
    location.hash = `#/runs${q.toString() ? `?${q}` : ''}`;
  };
  const kinds = [...new Set(runs.map((r) => r.kind).concat(query.get('kind') || []))].sort();
  const go = () => {
    const q = new URLSearchParams();
    if (kindSel.value) q.set('kind', kindSel.value);
    if (statusSel.value) q.set('status', statusSel.value);
    location.hash = `#/runs${q.toString() ? `?${q}` : ''}`;
  };
  const kindSel = h('select', { id: 'kind', onchange: go }, h('option', { value: '' }, 'any'), kinds.map((k) => h('option', { value: k, selected: k === query.get('kind') }, k)));
  const statusSel = h('select', { id: 'status', onchange: go }, h('option', { value: '' }, 'any'),
    ['running', 'finished', 'failed', 'interrupted', 'cancelled'].map((k) => h('option', { value: k, selected: k === query.get('status') }, k)));
  const compare = h('button', { type: 'button', id: 'compare', disabled: true, onclick: () => {
    const ids = [...document.querySelectorAll('input.pick:checked')].map((x) => x.value);
    location.hash = `#/compare/${ids.join(',')}`;
  } }, 'Compare selected');
  const picked = () => {
    const n = document.querySelectorAll('input.pick:checked').length;
    compare.disabled = n < 2 || n > 4;
    compare.textContent = n ? `Compare ${n} runs` : 'Compare selected';
  };
  return [
    h('h1', {}, 'Runs'),
    h('div', { class: 'row' }, h('label', { for: 'kind' }, 'Kind'), kindSel, h('label', { for: 'status' }, 'Status'), statusSel, compare,
      h('span', { class: 'hint' }, 'Pick 2 to 4 runs to compare them.')),
    runsTable(runs, picked),
    total > size ? pager(page, Math.ceil(total / size), total, goPage, 'runs') : h('p', { class: 'muted' }, `${total.toLocaleString('en-US')} runs`),
  ];
}

function metricSeries(history) {
  const by = {};
  for (const m of history) if (m.step !== null && m.step !== undefined) (by[m.key] ||= []).push([m.step, m.value]);
  return Object.entries(by).filter(([, pts]) => pts.length > 1);
}
function parseParam(v) { try { return JSON.parse(v); } catch { return v; } }
// Parameters recorded as JSON objects spread into dotted names (params.tree.num_leaves).
function flatParams(params) {
  const out = [];
  const walk = (name, v) => {
    if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length) {
      for (const [k, x] of Object.entries(v)) walk(`${name}.${k}`, x);
    } else out.push({ name, value: typeof v === 'string' ? v : JSON.stringify(v) });
  };
  for (const [k, v] of Object.entries(params)) walk(k, typeof v === 'string' && /^[[{]/.test(v) ? parseParam(v) : v);
  return out;
}

async function runView(id) {
  const [r, lineage] = await Promise.all([api(`/runs/${id}`), api(`/runs/${id}/lineage`).catch(() => null)]);
  const curves = metricSeries(r.metric_history);
  const report = r.artifacts.find((a) => a.name.endsWith('.html'));
  const out = [
    h('h1', {}, `Run ${r.id} · ${r.kind}`),
    h('div', { class: 'grid' },
      h('section', { class: 'card' }, h('h2', {}, 'Summary'), kv([
        ['status', badge(r.status)], ['started', when(r.started_at)], ['took', secs(r.duration_s)], ['command', h('code', {}, r.command || '')],
        ['error', r.error ? h('span', { class: 'error' }, r.error) : undefined],
      ]), r.artifacts.some((a) => a.name === 'binning_plan.json') ? h('p', {}, h('a', { class: 'button', href: `#/plans/${r.id}` }, 'Open the binning plan')) : null),
      h('section', { class: 'card' }, h('h2', {}, 'Metrics'), Object.keys(r.metrics).length
        ? dataTable([{ key: 'key', label: 'metric' }, { key: 'value', num: true }], Object.entries(r.metrics).map(([key, value]) => ({ key, value })), { sortable: true, label: 'metrics' })
        : h('p', { class: 'muted' }, 'No metrics.'))),
    curves.length ? [h('h2', {}, 'Metrics per iteration'), h('div', { class: 'grid' }, curves.map(([k, pts]) => h('div', {}, h('h3', {}, k), lineChart([{ name: k, points: pts }], { label: `${k} per iteration`, xLabel: 'iteration', height: 220 }))))] : null,
    h('div', { class: 'grid' },
      h('section', { class: 'card' }, h('h2', {}, 'Datasets'), r.datasets.length ? dataTable([
        { key: 'name', render: (d) => h('a', { href: `#/tables/${enc(d.name)}${d.snapshot ? `?snapshot=${d.snapshot}` : ''}` }, d.name) },
        { key: 'role' }, { key: 'snapshot', num: true }, { key: 'rows', num: true }], r.datasets) : h('p', { class: 'muted' }, 'None.')),
      h('section', { class: 'card' }, h('h2', {}, 'Artifacts'), r.artifacts.length ? dataTable([
        { key: 'name', render: (a) => h('a', { href: withProject(a.url), target: '_blank', rel: 'noopener' }, a.name) }, { key: 'size', num: true }], r.artifacts) : h('p', { class: 'muted' }, 'None.'))),
    lineage ? [h('h2', {}, 'Lineage'), lineageGraph(lineage)] : null,
    h('h2', {}, 'Parameters'),
    dataTable([{ key: 'name' }, { key: 'value', render: (p) => h('code', {}, p.value) }], flatParams(r.params), { sortable: true, label: 'parameters' }),
    report ? [h('h2', {}, 'Report'), h('iframe', { class: 'report', title: `report of run ${r.id}`, src: withProject(report.url) })] : null,
  ];
  return out;
}

// Lineage as a graph: tables and runs in columns by distance from this run, read from
// right (this run) to left (where its data came from).
function lineageGraph(root) {
  const nodes = new Map(), edges = [];
  function runNode(r, depth) {
    const key = `run:${r.run}`;
    const n = nodes.get(key);
    if (!n || n.depth < depth) nodes.set(key, { key, depth, label: `run ${r.run}`, sub: r.kind, href: `#/runs/${r.run}` });
    for (const t of r.reads || []) {
      const tk = `table:${t.table}@${t.snapshot}`;
      const tn = nodes.get(tk);
      if (!tn || tn.depth < depth + 1) nodes.set(tk, { key: tk, depth: depth + 1, label: t.table, sub: `snapshot ${t.snapshot}`, href: `#/tables/${enc(t.table)}?snapshot=${t.snapshot}` });
      edges.push([tk, key]);
      if (t.written_by) { runNode(t.written_by, depth + 2); edges.push([`run:${t.written_by.run}`, tk]); }
    }
    for (const u of r.used || []) { runNode(u, depth + 1); edges.push([`run:${u.run}`, key]); }
  }
  runNode(root, 0);
  const maxDepth = Math.max(...[...nodes.values()].map((n) => n.depth));
  const cols = [];
  for (const n of nodes.values()) (cols[maxDepth - n.depth] ||= []).push(n);
  const bw = 170, bh = 44, gx = 60, gy = 16;
  const width = cols.length * (bw + gx), height = Math.max(...cols.map((c) => (c ? c.length : 0))) * (bh + gy) + gy;
  const pos = new Map();
  cols.forEach((col, i) => (col || []).forEach((n, j) => pos.set(n.key, { x: 10 + i * (bw + gx), y: gy + j * (bh + gy) })));
  const g = [];
  for (const [a, b] of edges) {
    const p = pos.get(a), q = pos.get(b);
    if (!p || !q) continue;
    g.push(s('path', { d: `M${p.x + bw},${p.y + bh / 2} C${p.x + bw + gx / 2},${p.y + bh / 2} ${q.x - gx / 2},${q.y + bh / 2} ${q.x},${q.y + bh / 2}`, fill: 'none', stroke: '#8c959f', 'stroke-width': 1.5, 'marker-end': 'url(#arrow)' }));
  }
  for (const n of nodes.values()) {
    const p = pos.get(n.key), isRun = n.key.startsWith('run:');
    g.push(s('a', { href: n.href }, s('rect', { x: p.x, y: p.y, width: bw, height: bh, rx: 6, fill: isRun ? '#e7f0fb' : '#eefbf1', stroke: isRun ? '#0b5cad' : '#1a7f37' }),
      s('text', { x: p.x + 8, y: p.y + 18, style: 'fill:#1b1f24;font-weight:600' }, n.label.length > 24 ? n.label.slice(0, 23) + '…' : n.label),
      s('text', { x: p.x + 8, y: p.y + 34 }, n.sub)));
  }
  const defs = s('defs', {}, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto' }, s('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#8c959f' })));
  return h('div', { class: 'scroll' }, s('svg', { class: 'chart lineage', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': 'lineage graph' }, defs, g));
}

async function compareView(ids) {
  const c = await api(`/runs/compare?ids=${ids}`);
  const heads = () => c.runs.map((r) => h('th', { scope: 'col', class: 'num' }, h('a', { href: `#/runs/${r.id}` }, `run ${r.id}`), h('div', { class: 'muted' }, r.kind)));
  const row = (name, vals, isNum) => h('tr', {}, h('th', { scope: 'row' }, name), vals.map((v) => (isNum ? h('td', { class: 'num' }, num(v)) : h('td', { class: 'mono' }, v ?? ''))));
  const differing = new Set(c.differing_params);
  const paramRows = (names) => names.map((n) => row(n, c.params[n], false));
  const same = Object.keys(c.params).filter((n) => !differing.has(n));
  const table = (rows) => h('div', { class: 'scroll' }, h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, ''), heads())), h('tbody', {}, rows)));
  // Curves of the metrics recorded per iteration, one chart per metric, one line per run.
  const details = await Promise.all(c.runs.map((r) => api(`/runs/${r.id}`)));
  const curves = details.map((d) => ({ id: d.id, series: new Map(metricSeries(d.metric_history)) }));
  const keys = [...new Set(curves.flatMap((d) => [...d.series.keys()]))];
  return [
    h('h1', {}, `Compare runs ${c.runs.map((r) => r.id).join(', ')}`),
    h('h2', {}, 'Metrics'), table(Object.entries(c.metrics).map(([k, v]) => row(k, v, true))),
    keys.length ? h('div', { class: 'grid' }, keys.map((k) => h('div', {}, h('h3', {}, k), lineChart(curves.map((d) => ({ name: `run ${d.id}`, points: d.series.get(k) || [] })), { label: `${k} by run`, xLabel: 'iteration', height: 220 })))) : null,
    h('h2', {}, 'Inputs'), table([row('tables', c.inputs.map((x) => x.join(', ')), false)]),
    h('h2', {}, `Parameters that differ (${differing.size})`), differing.size ? table(paramRows([...differing])) : h('p', { class: 'muted' }, 'None: the runs share every parameter.'),
    h('details', {}, h('summary', {}, `Parameters they share (${same.length})`), table(paramRows(same))),
  ];
}

// ---------------------------------------------------------------- binning plans
async function planView(run) {
  const [p, detail] = await Promise.all([api(`/plans/${run}`), api(`/runs/${run}`)]);
  const rows = p.features.map((f) => ({ name: f.name, kind: f.kind, dtype: f.dtype, bins: f.bin_count, ...f.metrics }));
  const has = (name) => detail.artifacts.find((a) => a.name === name);
  const [psi, selection] = await Promise.all([
    has('psi.json') ? artifactJson(run, 'psi.json') : null,
    has('selection.csv') ? artifactText(run, 'selection.csv').then(parseCsv) : null,
  ]);
  const withPsi = psi && psi.length;
  return [
    h('h1', {}, `Binning plan of run ${run}`),
    h('p', { class: 'muted' }, `${detail.kind} · ${p.features.length} features · ${num(p.bad)} bads`, p.good !== undefined ? ` · ${num(p.good)} goods` : ''),
    dataTable([
      { key: 'name', label: 'feature', render: (f) => h('a', { href: `#/plans/${run}/${enc(f.name)}` }, f.name) },
      { key: 'kind' }, { key: 'bins', num: true }, { key: 'iv', label: 'IV', num: true }, { key: 'ks', label: 'KS', num: true },
      { key: 'auc', label: 'AUC', num: true }, { key: 'trend' }, { key: 'missing_rate', label: 'missing', num: true, render: (f) => `${(100 * (f.missing_rate || 0)).toFixed(2)}%` },
      { key: 'distinct', num: true }, withPsi ? { key: 'psi', label: 'max PSI', num: true } : null,
    ].filter(Boolean), rows, { sortable: true, sortKey: 'iv', label: 'features' }),
    withPsi ? [h('h2', {}, `PSI by period (against ${psi[0].baseline})`), psiHeatmap(psi),
      h('p', { class: 'hint' }, 'Below 0.1: stable; 0.1 to 0.25: a shift to look at; above 0.25: a significant shift.')] : null,
    selection ? [h('h2', {}, 'Selection'), selectionTable(selection)] : null,
  ];
}
async function artifactText(run, name) {
  const r = await api(`/runs/${run}/artifacts/${enc(name)}`, { raw: true });
  return r.text();
}
async function artifactJson(run, name) { return JSON.parse(await artifactText(run, name)); }
// RFC 4180 CSV: quoted fields may hold commas, quotes ("") and line breaks.
function parseCsv(text) {
  const rows = [];
  let row = [], field = '', quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') quoted = false; else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\n') { row.push(field); rows.push(row); row = []; field = ''; }
    else if (c !== '\r') field += c;
  }
  if (field !== '' || row.length) { row.push(field); rows.push(row); }
  const [head, ...body] = rows;
  return body.map((r) => Object.fromEntries(head.map((k, i) => [k, r[i]])));
}
function psiColor(v) {
  // Green below 0.1, amber to 0.25, red above; lightness keeps dark text readable.
  if (!Number.isFinite(v)) return '#f6f8fa';
  if (v < 0.1) return `hsl(140, 55%, ${92 - v * 150}%)`;
  if (v < 0.25) return `hsl(42, 90%, ${80 - (v - 0.1) * 80}%)`;
  return `hsl(4, 80%, ${Math.max(62, 75 - (v - 0.25) * 40)}%)`;
}
function psiHeatmap(psi) {
  const groups = [...new Set(psi.map((x) => x.group))].sort();
  const byFeature = new Map();
  for (const x of psi) {
    if (!byFeature.has(x.feature)) byFeature.set(x.feature, {});
    byFeature.get(x.feature)[x.group] = x.psi;
  }
  const features = [...byFeature.keys()].sort((a, b) => Math.max(...Object.values(byFeature.get(b))) - Math.max(...Object.values(byFeature.get(a))));
  return h('div', { class: 'scroll' }, h('table', { class: 'heat', 'aria-label': 'PSI by period' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'feature'), groups.map((g) => h('th', { scope: 'col' }, g)))),
    h('tbody', {}, features.map((f) => h('tr', {}, h('th', { scope: 'row' }, f), groups.map((g) => {
      const v = byFeature.get(f)[g];
      return h('td', { style: `background:${psiColor(v)}`, title: `${f} ${g}: PSI ${num(v)}` }, v === undefined ? '' : v.toFixed(3));
    }))))));
}
function selectionTable(rows) {
  const dropped = rows.filter((r) => r.kept !== 'true');
  return [
    h('p', { class: 'muted' }, `${rows.length - dropped.length} kept, ${dropped.length} dropped`),
    dataTable([{ key: 'feature' }, { key: 'reason' }, { key: 'iv', label: 'IV', num: true, sort: (r) => Number(r.iv), render: (r) => num(Number(r.iv)) },
      { key: 'missing_rate', label: 'missing', num: true, render: (r) => num(Number(r.missing_rate)) },
      { key: 'psi', label: 'PSI', num: true, render: (r) => (r.psi ? num(Number(r.psi)) : '') },
      { key: 'vif', label: 'VIF', num: true, render: (r) => (r.vif ? num(Number(r.vif)) : '') }], dropped, { sortable: true, label: 'dropped features' }),
  ];
}
async function featureView(run, feature) {
  const f = await api(`/plans/${run}/features/${enc(feature)}`);
  const bins = f.bins.filter((b) => b.count > 0 || b.kind === 'regular');
  return [
    h('p', {}, h('a', { href: `#/plans/${run}` }, `‹ plan of run ${run}`)),
    h('h1', {}, `Feature ${feature}`),
    h('p', { class: 'muted' }, `${f.kind} · IV ${num(f.metrics.iv)} · KS ${num(f.metrics.ks)} · trend ${f.metrics.trend}`),
    barChart(bins.map((b) => b.label), bins.map((b) => b.count), { line: bins.map((b) => b.event_rate), barName: 'rows', lineName: 'event rate', label: `bins of ${feature}`, rotate: true, width: 760, height: 300 }),
    dataTable([{ key: 'label', label: 'bin' }, { key: 'kind' }, { key: 'count', num: true }, { key: 'bad', num: true }, { key: 'good', num: true },
      { key: 'share', num: true, render: (b) => `${(100 * b.share).toFixed(2)}%` }, { key: 'event_rate', label: 'event rate', num: true },
      { key: 'woe', label: 'WoE', num: true }, { key: 'iv', label: 'IV', num: true }], f.bins, { label: 'bins' }),
  ];
}

// ---------------------------------------------------------------- models
async function modelsView() {
  const { models } = await api('/models');
  return [h('h1', {}, 'Registered models'), models.length ? dataTable([
    { key: 'name', render: (m) => h('a', { href: `#/models/${enc(m.name)}` }, m.name) },
    { key: 'aliases', render: (m) => Object.entries(m.aliases).map(([a, v]) => `${a} → ${v}`).join(', ') },
    { key: 'versions', num: true }, { key: 'latest', num: true }, { key: 'updated_at', label: 'updated', render: (m) => when(m.updated_at) },
  ], models, { sortable: true, label: 'models' }) : h('p', { class: 'muted' }, 'No models are registered: risklake model register --run N --name NAME.')];
}

async function modelView(name) {
  const [m, reports] = await Promise.all([api(`/models/${enc(name)}`), api(`/models/${enc(name)}/reports`)]);
  const admin = app.me.role === 'admin';
  const latest = Math.max(...m.versions.map((v) => v.version));
  const msg = h('p', { id: 'alias-result', role: 'status' });
  const aliasForm = h('form', { class: 'fields', id: 'alias-form', onsubmit: async (e) => {
    e.preventDefault();
    const alias = $('#alias-name').value.trim(), version = Number($('#alias-version').value);
    try {
      await api(`/models/${enc(name)}/aliases/${enc(alias)}`, { method: 'PUT', body: { version } });
      msg.replaceChildren(h('span', { class: 'ok' }, `${alias} now points at version ${version}.`));
      setTimeout(render, 600);
    } catch (err) { msg.replaceChildren(errorBox(err)); }
  } },
  h('label', { class: 'stack' }, 'Alias', h('input', { id: 'alias-name', value: 'champion', required: true })),
  h('label', { class: 'stack' }, 'Version', h('select', { id: 'alias-version' }, m.versions.map((v) => h('option', { value: v.version }, `version ${v.version}`)))),
  h('button', { type: 'submit', id: 'move-alias' }, 'Move alias'));
  // Scoring: rows as JSON, prefilled with a row of the table the model was trained on.
  const scoreArea = h('textarea', { id: 'score-rows', rows: 6, style: 'width:100%', 'aria-label': 'rows to score (JSON)' });
  const scoreOut = h('div', { id: 'score-result' });
  const champion = m.versions.find((v) => v.aliases.includes('champion')) || m.versions.find((v) => v.version === latest);
  api(`/runs/${champion.run}`).then(async (run) => {
    const input = run.datasets.find((d) => d.role === 'input');
    if (!input) return;
    const r = await api(`/tables/${enc(input.name)}/preview?limit=1`);
    scoreArea.value = JSON.stringify(r.data, null, 1);
  }).catch(() => { scoreArea.value = '[{}]'; });
  async function score(e) {
    e.preventDefault();
    try {
      const rows = JSON.parse(scoreArea.value);
      const r = await api(`/models/${enc(name)}/versions/${champion.version}/predict`, { method: 'POST', body: { rows: Array.isArray(rows) ? rows : [rows], reasons: 3 } });
      const preds = r.predictions || r.rows || [];
      scoreOut.replaceChildren(dataTable([
        { key: 'row', num: true }, { key: 'probability', num: true }, { key: 'score', num: true },
        { key: 'reasons', render: (p) => (p.reasons || []).map((x) => (typeof x === 'object' ? `${x.feature} (${num(x.effect)})` : x)).join(', ') },
        { key: 'error', render: (p) => p.error || '' },
      ], preds.map((p, i) => ({ row: i + 1, ...p })), { label: 'scores' }));
    } catch (err) { scoreOut.replaceChildren(errorBox(err)); }
  }
  const shown = reports.reports[0];
  return [
    h('h1', {}, `Model ${m.name}`),
    h('h2', {}, 'Versions'),
    dataTable([{ key: 'version', num: true }, { key: 'aliases', render: (v) => v.aliases.join(', ') },
      { key: 'run', num: true, render: (v) => h('a', { href: `#/runs/${v.run}` }, String(v.run)) }, { key: 'artifact' },
      { key: 'tags', render: (v) => Object.entries(v.tags).map(([k, x]) => `${k}=${x}`).join(', ') },
      { key: 'created_by', label: 'by' }, { key: 'created_at', label: 'registered', render: (v) => when(v.created_at) }, { key: 'description' }], m.versions, { label: 'versions' }),
    admin ? [h('h2', {}, 'Move an alias'), aliasForm, msg] : h('p', { class: 'hint', id: 'alias-note' }, 'Moving an alias (such as champion) needs the admin role.'),
    h('h2', {}, `Score with version ${champion.version}${champion.aliases.length ? ` (${champion.aliases.join(', ')})` : ''}`),
    h('form', { onsubmit: score }, scoreArea, h('div', { class: 'row' }, h('button', { type: 'submit', id: 'score' }, 'Score'), h('span', { class: 'hint' }, 'Rows as JSON objects; the top 3 reasons come back with each score.'))),
    scoreOut,
    h('h2', {}, 'Reports'),
    reports.reports.length ? dataTable([{ key: 'run', num: true, render: (x) => h('a', { href: `#/runs/${x.run}` }, String(x.run)) }, { key: 'model' }, { key: 'table' },
      { key: 'auc', label: 'AUC', num: true, render: (x) => num(x.metrics.auc) }, { key: 'ks', label: 'KS', num: true, render: (x) => num(x.metrics.ks) },
      { key: 'psi', label: 'max PSI', num: true, render: (x) => num(x.metrics.max_psi) }, { key: 'started_at', label: 'when', render: (x) => when(x.started_at) }], reports.reports, { label: 'reports' })
      : h('p', { class: 'muted' }, 'No report yet: risklake model report --model NAME@champion --table T --label Y.'),
    shown ? h('iframe', { class: 'report', title: `report of ${m.name}`, src: withProject(shown.url) }) : null,
    h('h2', {}, 'History'),
    dataTable([{ key: 'at', render: (x) => when(x.at) }, { key: 'event' }, { key: 'version', num: true }, { key: 'detail' }, { key: 'user' }], m.history.slice().reverse(), { label: 'history' }),
  ];
}

// ---------------------------------------------------------------- studies
async function studiesView() {
  const { studies } = await api('/studies');
  return [h('h1', {}, 'Studies'), studies.length ? dataTable([
    { key: 'name', render: (x) => h('a', { href: `#/studies/${enc(x.name)}` }, x.name) },
    { key: 'direction' }, { key: 'trials', num: true },
    { key: 'states', label: 'by state', render: (x) => Object.entries(x.states || {}).map(([k, n]) => `${n} ${k}`).join(', ') },
    { key: 'table', render: (x) => (x.subject && x.subject.table) || '' },
    { key: 'best', label: 'best value', num: true, sort: (x) => (x.best ? x.best.value : null), render: (x) => (x.best ? num(x.best.value) : '') },
  ], studies, { sortable: true, label: 'studies' }) : h('p', { class: 'muted' }, 'No studies yet: risklake tune ... --study NAME.')];
}

async function studyView(name) {
  const st = await api(`/studies/${enc(name)}`);
  // Charts read up to 1,000 trials; the table pages through all of them.
  const first = await api(`/studies/${enc(name)}/trials?limit=1000`);
  const trials = first.trials;
  const done = trials.filter((t) => t.state === 'complete' && Number.isFinite(t.value));
  const maximize = String(st.direction || '').toLowerCase().startsWith('max');
  let best = null;
  const bestLine = done.map((t) => { best = best === null ? t.value : maximize ? Math.max(best, t.value) : Math.min(best, t.value); return [t.number, best]; });
  const params = [...new Set(done.flatMap((t) => Object.keys(t.params)))].sort();
  const slices = params.map((p) => {
    const pts = done.filter((t) => typeof t.params[p] === 'number').map((t) => [t.params[p], t.value]);
    return pts.length ? h('div', {}, h('h3', {}, p), lineChart([{ name: p, points: pts, dots: true, dotsOnly: true }], { label: `objective by ${p}`, xLabel: p, height: 200, width: 360 })) : null;
  });
  // fANOVA runs on the server (a forest over every completed trial); the page does not wait.
  const importanceBox = h('div', { id: 'importance' }, h('p', { class: 'muted' }, 'Computing fANOVA importances…'));
  if (params.length && done.length >= 2) {
    api(`/studies/${enc(name)}/importance`).then((imp) => {
      const alone = imp.params.reduce((a, p) => a + p.fraction, 0);
      importanceBox.replaceChildren(importanceChart(imp.params),
        h('p', { class: 'hint' }, `fANOVA over ${num(imp.trials)} completed trials (a forest of 64 trees), as Optuna's get_param_importances: `,
          `each parameter's share of the objective's variance it explains alone, scaled to sum to 1. Alone they explain ${Math.round(100 * Math.min(1, alone))}% of it; interactions the rest.`));
    }).catch((e) => importanceBox.replaceChildren(h('p', { class: 'muted' }, `No importances: ${e.message}`)));
  }
  const table = h('div', { id: 'trials' });
  const size = 50;
  async function showPage(page) {
    const r = page === 0 ? first : await api(`/studies/${enc(name)}/trials?offset=${page * size}&limit=${size}`);
    const rows = r.trials.slice(0, size);
    table.replaceChildren(dataTable([{ key: 'number', num: true }, { key: 'state', render: (t) => badge(t.state) }, { key: 'value', num: true },
      ...params.map((p) => ({ key: p, num: true, render: (t) => num(t.params[p]) })),
      { key: 'started', render: (t) => when(t.started) }], rows, { label: 'trials' }),
    pager(page, Math.max(1, Math.ceil(r.total / size)), r.total, showPage, 'trials'));
  }
  showPage(0);
  return [
    h('h1', {}, `Study ${name}`),
    kv([['direction', st.direction], ['trials', String(first.total)], ['best value', st.best ? num(st.best.value) : ''],
      ['best trial', st.best ? String(st.best.number) : ''], ['best parameters', st.best ? h('code', {}, JSON.stringify(st.best.params)) : '']]),
    h('h2', {}, 'Optimization history'),
    lineChart([{ name: 'objective', points: done.map((t) => [t.number, t.value]), dots: true, dotsOnly: true }, { name: 'best so far', points: bestLine }],
      { label: 'optimization history', xLabel: 'trial', yLabel: 'objective', width: 760 }),
    params.length && done.length >= 2 ? [h('h2', {}, 'Parameter importance'), importanceBox] : null,
    params.length && done.length >= 2 ? [h('h2', {}, 'Parallel coordinates'), parallelCoordinates(done, params, maximize)] : null,
    params.length ? [h('h2', {}, 'Slices: the objective by each parameter'), h('div', { class: 'grid' }, slices)] : null,
    h('h2', {}, 'Trials'), table,
  ];
}

// Bars of the server's importances (largest first), each with its share and spread over trees.
function importanceChart(list) {
  const w = 640, row = 24, m = { l: 150, r: 60 }, hgt = list.length * row + 10;
  const g = list.map((p, i) => s('g', {},
    s('text', { x: m.l - 8, y: i * row + 17, 'text-anchor': 'end' }, p.param),
    s('rect', { x: m.l, y: i * row + 5, width: Math.max(1, p.importance * (w - m.l - m.r)), height: row - 8, fill: 'var(--c1)', opacity: 0.8 },
      s('title', {}, `${p.param}: ${p.importance.toFixed(3)} (alone ${p.fraction.toFixed(3)} ± ${p.std.toFixed(3)} of the variance over trees)`)),
    s('text', { x: m.l + p.importance * (w - m.l - m.r) + 6, y: i * row + 17 }, p.importance.toFixed(3))));
  return s('svg', { class: 'chart', viewBox: `0 0 ${w} ${hgt}`, width: w, height: hgt, role: 'img', 'aria-label': 'parameter importance' }, g);
}
// One axis per parameter and one for the objective; a line per trial, darker the better.
function parallelCoordinates(trials, params, maximize) {
  const axes = [...params, 'objective'];
  const value = (t, a) => (a === 'objective' ? t.value : t.params[a]);
  const w = Math.max(640, axes.length * 120), hgt = 300, m = { l: 64, r: 64, t: 24, b: 40 };
  const scales = axes.map((a) => {
    const vals = trials.map((t) => value(t, a));
    if (!vals.every((v) => typeof v === 'number')) {
      const cats = [...new Set(vals.map(String))].sort();
      return { f: (v) => (cats.length < 2 ? 0.5 : cats.indexOf(String(v)) / (cats.length - 1)), lo: cats[0], hi: cats[cats.length - 1] };
    }
    const lo = Math.min(...vals), hi = Math.max(...vals);
    const log = lo > 0 && hi / lo > 100;
    const t = (v) => (log ? Math.log(v) : v);
    return { f: (v) => (hi === lo ? 0.5 : (t(v) - t(lo)) / (t(hi) - t(lo))), lo: num(lo, 3), hi: num(hi, 3) };
  });
  const x = (i) => m.l + (i * (w - m.l - m.r)) / (axes.length - 1);
  const y = (f) => hgt - m.b - f * (hgt - m.t - m.b);
  const objective = scales[scales.length - 1];
  const g = [];
  const sorted = trials.slice().sort((a, b) => (maximize ? a.value - b.value : b.value - a.value));
  for (const t of sorted) {
    const q = objective.f(t.value), good = maximize ? q : 1 - q;
    g.push(s('polyline', { fill: 'none', stroke: `hsl(212, 80%, ${78 - good * 50}%)`, 'stroke-width': 1.5, opacity: 0.85,
      points: axes.map((a, i) => `${x(i)},${y(scales[i].f(value(t, a)))}`).join(' ') }, s('title', {}, `trial ${t.number}: ${num(t.value)}`)));
  }
  axes.forEach((a, i) => {
    g.push(s('line', { class: 'axis', x1: x(i), x2: x(i), y1: m.t, y2: hgt - m.b }));
    g.push(s('text', { x: x(i), y: hgt - m.b + 16, 'text-anchor': 'middle', style: 'fill:#1b1f24' }, a));
    g.push(s('text', { x: x(i) + 4, y: m.t - 6 }, String(scales[i].hi)));
    g.push(s('text', { x: x(i) + 4, y: hgt - m.b + 30 }, String(scales[i].lo)));
  });
  return h('div', { class: 'scroll' }, s('svg', { class: 'chart', viewBox: `0 0 ${w} ${hgt}`, width: w, height: hgt, role: 'img', 'aria-label': 'parallel coordinates' }, g));
}

// ---------------------------------------------------------------- jobs
function progressBar(p) {
  if (!p || !p.total) return p && p.position ? `${p.position} ${p.unit || ''}` : '';
  const pct = Math.min(100, (100 * p.position) / p.total);
  return h('div', { class: 'progress', role: 'progressbar', 'aria-valuenow': Math.round(pct), 'aria-valuemin': 0, 'aria-valuemax': 100, title: `${p.stage || ''} ${p.position}/${p.total}` }, h('div', { style: `width:${pct}%` }));
}
function jobsTable(jobs) {
  return dataTable([
    { key: 'id', label: 'job', num: true, render: (j) => h('a', { href: `#/jobs/${j.id}` }, String(j.id)) },
    { key: 'kind' }, { key: 'status', render: (j) => badge(j.status) }, { key: 'user' },
    { key: 'progress', nosort: true, render: (j) => progressBar(j.progress) },
    { key: 'created_at', label: 'queued', render: (j) => when(j.created_at) },
    { key: 'runs', render: (j) => h('span', {}, (j.runs || []).map((r, i) => [i ? ', ' : '', h('a', { href: `#/runs/${r}` }, String(r))])) },
  ], jobs, { sortable: true, label: 'jobs' });
}
async function jobsView() {
  const box = h('div');
  async function refresh() {
    const { jobs } = await api('/jobs?limit=200');
    box.replaceChildren(jobsTable(jobs));
    return jobs.some((j) => j.status === 'running' || j.status === 'queued');
  }
  await refresh();
  app.timers.push(setInterval(() => refresh().catch(() => {}), 2000));
  return [h('h1', {}, 'Jobs'), canRun() ? h('p', {}, h('a', { class: 'button', href: '#/jobs/new' }, 'Start a job')) : null, box];
}
async function jobView(id) {
  const j = await api(`/jobs/${id}`);
  const log = h('pre', { class: 'log', id: 'log', 'aria-live': 'polite' });
  const state = h('div', { id: 'job-state' });
  const cancel = h('button', { type: 'button', class: 'danger', id: 'cancel', onclick: async () => { try { await api(`/jobs/${id}`, { method: 'DELETE' }); msg.textContent = 'Cancel requested.'; } catch (e) { msg.replaceChildren(errorBox(e)); } } }, 'Cancel');
  const editor = canRun();
  const showState = (job) => {
    cancel.hidden = !editor || !(job.status === 'queued' || job.status === 'running');
    state.replaceChildren(kv([
    ['status', badge(job.status)], ['kind', job.kind], ['user', job.user], ['queued', when(job.created_at)], ['started', when(job.started_at)], ['ended', when(job.ended_at)],
    ['progress', progressBar(job.progress)], ['runs', h('span', {}, (job.runs || []).map((r, i) => [i ? ', ' : '', h('a', { href: `#/runs/${r}` }, `run ${r}`)]))],
    ['error', job.error ? h('span', { class: 'error' }, job.error) : undefined],
  ]));
  };
  const msg = h('p', { role: 'status' });
  showState(j);
  const es = new EventSource(withProject(`/api/v1/jobs/${id}/events`));
  app.sources.push(es);
  es.addEventListener('log', (e) => { log.append(e.data + '\n'); log.scrollTop = log.scrollHeight; });
  const finish = async () => { es.close(); try { showState(await api(`/jobs/${id}`)); } catch (e) { /* shown on reload */ } };
  es.addEventListener('end', finish);
  es.addEventListener('error', (e) => { if (e.data) log.append(`error: ${e.data}\n`); finish(); });
  app.timers.push(setInterval(async () => { try { const x = await api(`/jobs/${id}`); showState(x); } catch (e) { /* keep the last state */ } }, 1500));
  return [
    h('h1', {}, `Job ${id} · ${j.kind}`), state,
    h('div', { class: 'row' }, cancel,
      !editor ? null : h('button', { type: 'button', class: 'secondary', id: 'resubmit', onclick: async () => { try { const r = await api('/jobs', { method: 'POST', body: { kind: j.kind, request: j.request } }); location.hash = `#/jobs/${r.id}`; } catch (e) { msg.replaceChildren(errorBox(e)); } } }, 'Submit again')),
    msg,
    h('h2', {}, 'Log'), log,
    h('h2', {}, 'Request'), h('pre', { class: 'mono' }, JSON.stringify(j.request, null, 2)),
    j.result ? [h('h2', {}, 'Result'), h('pre', { class: 'mono' }, JSON.stringify(j.result, null, 2).slice(0, 20000))] : null,
  ];
}

// Forms for the common jobs: each builds the request the CLI builds for the same command.
const JOB_FORMS = {
  'features.bin': { title: 'Bin a table (features bin)', fields: ['table', 'label', 'exclude'], build: (v) => ({ table: v.table, target: { label: v.label }, fine: { exclude: list(v.exclude) } }) },
  'features.evaluate': { title: 'Evaluate with PSI (features evaluate)', fields: ['table', 'label', 'exclude', 'psi_by'],
    build: (v) => ({ bin: { table: v.table, target: { label: v.label }, fine: { exclude: list(v.exclude) } }, ...(v.psi_by ? { psi_by: v.psi_by } : {}) }) },
  'features.select': { title: 'Select features (features select)', fields: ['plan', 'min_iv', 'max_missing'],
    build: (v) => ({ plan: v.plan.trim(), rules: { ...(v.min_iv ? { min_iv: Number(v.min_iv) } : {}), ...(v.max_missing ? { max_missing: Number(v.max_missing) } : {}) } }) },
  train: { title: 'Train a model (train gbdt / rf / lr)', fields: ['model', 'table', 'label', 'exclude', 'valid_fraction'],
    kind: (v) => `train.${v.model}`, build: (v) => ({ table: v.table, label: v.label, exclude: list(v.exclude), valid_fraction: Number(v.valid_fraction) }) },
  tune: { title: 'Tune hyper-parameters (tune)', fields: ['model', 'table', 'label', 'exclude', 'trials', 'study'],
    build: (v) => ({ model: v.model, table: v.table, label: v.label, exclude: list(v.exclude), trials: Number(v.trials), ...(v.study ? { study: v.study } : {}) }) },
};
function list(v) { return String(v || '').split(',').map((x) => x.trim()).filter(Boolean); }
// Editors and admins run jobs; a viewer's page does not offer what the server would refuse.
function canRun() { return app.me.role !== 'viewer'; }
async function newJobView(query) {
  if (!canRun()) return [h('h1', {}, 'Start a job'), h('p', { id: 'jobs-note' }, 'Starting jobs needs the editor or admin role; this token is a viewer.')];
  const { tables } = await api('/tables');
  const which = query.get('form') || 'train';
  const spec = JOB_FORMS[which];
  const msg = h('div', { role: 'status' });
  const field = (name) => {
    const id = `f-${name}`;
    if (name === 'table') return h('label', { class: 'stack' }, 'Table', h('select', { id, name }, tables.map((t) => h('option', { value: t.name }, t.name))));
    if (name === 'model') return h('label', { class: 'stack' }, 'Model', h('select', { id, name }, ['gbdt', 'rf', 'lr'].map((m) => h('option', { value: m }, m))));
    const defaults = { label: 'bad', exclude: 'id, month', valid_fraction: '0.2', trials: '20', study: '', psi_by: 'month', plan: '', min_iv: '0.02', max_missing: '' };
    const labels = { label: 'Label column', exclude: 'Columns to leave out (comma separated)', valid_fraction: 'Validation fraction', trials: 'Trials', study: 'Study name (optional)', psi_by: 'PSI by period column', plan: 'Plan (the binning run, or a registered name)', min_iv: 'Least IV kept', max_missing: 'Most missing share kept (optional)' };
    return h('label', { class: 'stack' }, labels[name], h('input', { id, name, value: defaults[name] }));
  };
  const form = h('form', { class: 'fields', id: 'job-form', onsubmit: async (e) => {
    e.preventDefault();
    const values = Object.fromEntries(new FormData(form).entries());
    const kind = spec.kind ? spec.kind(values) : which;
    try {
      const r = await api('/jobs', { method: 'POST', body: { kind, request: spec.build(values) } });
      location.hash = `#/jobs/${r.id}`;
    } catch (err) { msg.replaceChildren(errorBox(err)); }
  } }, spec.fields.map(field), h('button', { type: 'submit', id: 'submit-job' }, 'Submit'));
  return [
    h('h1', {}, 'Start a job'),
    h('div', { class: 'row', role: 'tablist' }, Object.entries(JOB_FORMS).map(([k, f]) => h('a', { href: `#/jobs/new?form=${k}`, class: `button ${k === which ? '' : 'secondary'}`, 'aria-current': k === which ? 'page' : null }, f.title))),
    h('h2', {}, spec.title), form, msg,
  ];
}
