// The descend playground: controls, URL state and SVG drawing. Every number drawn comes from the server
// (descend.minimize, descend.sweep, descend.schedules); this file only asks and draws.
"use strict";

const COLORS = ["#d1495b", "#2e86ab", "#e09f3e", "#5b8e3e"];
const MAX_OPTIMIZERS = 4;
const DEBOUNCE_MS = 30;
const SVG = "http://www.w3.org/2000/svg";

const state = { fn: "quadratic", steps: 100, start: null, opts: [], schedule: null };
let catalogue = null;
let landscape = null;
const cache = new Map(); // url -> {data} | {error} | {pending: true}
let timer = null;

// ---------------------------------------------------------------------------------------------------------
// spec text: NAME[:KEY=VALUE,...], the command line's syntax

function splitTop(text) {
  const parts = [];
  let depth = 0, start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "(" || ch === "[") depth++;
    else if (ch === ")" || ch === "]") depth--;
    else if (ch === "," && depth === 0) { parts.push(text.slice(start, i)); start = i + 1; }
  }
  parts.push(text.slice(start));
  return parts.filter((p) => p.trim() !== "");
}

function parseValue(text) {
  const raw = text.trim();
  const low = raw.toLowerCase();
  if (low === "true") return true;
  if (low === "false") return false;
  if (low === "none") return null;
  if (low === "inf" || low === "1e999") return Infinity;
  if ((raw.startsWith("(") && raw.endsWith(")")) || (raw.startsWith("[") && raw.endsWith("]"))) {
    return splitTop(raw.slice(1, -1)).map(parseValue);
  }
  const n = Number(raw);
  return Number.isNaN(n) ? raw.replace(/^['"]|['"]$/g, "") : n;
}

function parseSpec(text) {
  const colon = text.indexOf(":");
  const name = (colon < 0 ? text : text.slice(0, colon)).trim();
  const values = {};
  if (colon >= 0) {
    for (const piece of splitTop(text.slice(colon + 1))) {
      const eq = piece.indexOf("=");
      if (eq > 0) values[piece.slice(0, eq).trim()] = parseValue(piece.slice(eq + 1));
    }
  }
  return { name, values };
}

function showValue(v, inTuple) {
  if (v === null) return "None";
  if (v === Infinity) return inTuple ? "1e999" : "inf";
  if (typeof v === "boolean") return v ? "true" : "false";
  if (Array.isArray(v)) return "(" + v.map((x) => showValue(x, true)).join(",") + (v.length === 1 ? ",)" : ")");
  if (typeof v === "number") return String(v);
  return String(v);
}

function same(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

function formatSpec(name, values, defaults, always) {
  const parts = [];
  for (const [key, value] of Object.entries(values)) {
    if (always.includes(key) || !same(value, defaults[key])) parts.push(`${key}=${showValue(value, false)}`);
  }
  return parts.length ? `${name}:${parts.join(",")}` : name;
}

// ---------------------------------------------------------------------------------------------------------
// controls: made from the server's description of each argument

function round(v) { return v === 0 || !Number.isFinite(v) ? v : Number(v.toPrecision(3)); }

function scaleOf(c) {
  // slider position <-> value
  if (c.kind === "log") {
    const P = c.positions, z = c.zero ? 1 : 0, i = c.inf ? 1 : 0;
    const lo = Math.log10(c.min), hi = Math.log10(c.max), span = P - z - i;
    return {
      max: P,
      value: (p) => (z && p === 0 ? 0 : i && p === P ? Infinity : round(10 ** (lo + ((p - z) / span) * (hi - lo)))),
      position: (v) => {
        if (v === 0 && z) return 0;
        if (v === Infinity) return P;
        const p = Math.round(z + ((Math.log10(Math.max(v, 1e-300)) - lo) / (hi - lo)) * span);
        return Math.min(P - i, Math.max(z, p));
      },
    };
  }
  if (c.kind === "linear") {
    return {
      max: 1000,
      value: (p) => Number((c.min + (p / 1000) * (c.max - c.min)).toPrecision(4)),
      position: (v) => Math.min(1000, Math.max(0, Math.round(((v - c.min) / (c.max - c.min)) * 1000))),
    };
  }
  return { max: c.max, value: (p) => p, position: (v) => Math.min(c.max, Math.max(c.min, Math.round(v))), min: c.min };
}

function shown(v) {
  if (v === null) return "auto";
  if (v === Infinity) return "∞";
  if (typeof v === "number") return Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2) : String(v);
  return String(v);
}

// A control element for `c`; `get()` reads the value, `set(v)` writes it; `onChange` fires on each move.
function makeControl(c, label, value, onChange) {
  const row = document.createElement("div");
  row.className = "control";
  const name = document.createElement("span");
  name.className = "key";
  name.textContent = label;
  row.append(name);
  if (c.kind === "bool") {
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = !!value;
    box.setAttribute("aria-label", label);
    box.addEventListener("change", () => onChange(box.checked));
    row.append(box);
    return row;
  }
  if (c.kind === "choice") {
    const sel = document.createElement("select");
    sel.setAttribute("aria-label", label);
    for (const option of c.options) {
      const o = document.createElement("option");
      o.value = option === null ? "" : option;
      o.textContent = option === null ? "default" : option;
      sel.append(o);
    }
    sel.value = value === null ? "" : value;
    sel.addEventListener("change", () => onChange(sel.value === "" ? null : sel.value));
    row.append(sel);
    return row;
  }
  if (c.kind === "tuple") {
    row.classList.add("tuple");
    const values = [...value];
    c.items.forEach((item, k) => {
      row.append(makeControl(item, `${label}[${k}]`, values[k], (v) => { values[k] = v; onChange([...values]); }));
    });
    return row;
  }
  const scale = scaleOf(c);
  const slider = document.createElement("input");
  slider.type = "range";
  slider.min = String(scale.min ?? 0);
  slider.max = String(scale.max);
  slider.step = "1";
  slider.setAttribute("aria-label", label);
  slider.dataset.key = label;
  const out = document.createElement("output");
  let auto = null;
  if (c.optional) {
    auto = document.createElement("input");
    auto.type = "checkbox";
    auto.title = "auto: the optimizer's own choice";
    auto.setAttribute("aria-label", `${label} auto`);
  }
  const show = (v) => {
    slider.disabled = v === null;
    if (auto) auto.checked = v === null;
    if (v !== null) slider.value = String(scale.position(v));
    out.textContent = shown(v);
  };
  show(value);
  slider.addEventListener("input", () => {
    const v = scale.value(Number(slider.value));
    out.textContent = shown(v);
    onChange(v);
  });
  row.append(slider, out);
  if (auto) {
    auto.addEventListener("change", () => {
      const v = auto.checked ? null : scale.value(Number(slider.value) || scale.position(c.start));
      show(v);
      onChange(v);
    });
    const wrap = document.createElement("label");
    wrap.className = "auto";
    wrap.append(auto, "auto");
    row.append(wrap);
  }
  return row;
}

// ---------------------------------------------------------------------------------------------------------
// state <-> URL

function entryOf(name) { return catalogue.optimizers.find((o) => o.name === name); }
function defaultsOf(entry) { return Object.fromEntries(entry.controls.map((c) => [c.key, c.default])); }
function scheduleEntry(name) { return catalogue.schedules.find((s) => s.name === name); }

function optimizerSpec(o) {
  const entry = entryOf(o.name);
  return formatSpec(o.name, o.values, defaultsOf(entry), ["lr"]);
}

function scheduleSpec() {
  if (!state.schedule) return null;
  const entry = scheduleEntry(state.schedule.name);
  const defaults = Object.fromEntries(entry.controls.map((c) => [c.key, c.default]));
  return formatSpec(entry.name, state.schedule.values, defaults, []);
}

function startText() { return (state.start || landscape.start).map((v) => round(v)).join(","); }

function writeURL() {
  const q = new URLSearchParams();
  q.set("f", state.fn);
  q.set("steps", String(state.steps));
  if (state.start) q.set("start", startText());
  for (const o of state.opts) q.append("o", optimizerSpec(o));
  const s = scheduleSpec();
  if (s) q.set("s", s);
  history.replaceState(null, "", `${location.pathname}?${q.toString()}`);
}

function withValues(name, given) {
  const entry = entryOf(name);
  const values = {};
  for (const c of entry.controls) values[c.key] = c.key in given ? given[c.key] : c.default;
  values.lr = values.lr ?? entry.controls.find((c) => c.key === "lr")?.start;
  return { name, values };
}

function readURL() {
  const q = new URLSearchParams(location.search);
  const fn = q.get("f");
  if (fn && catalogue.functions.some((f) => f.name === fn && f.dim <= 2)) state.fn = fn;
  const steps = Number(q.get("steps"));
  if (Number.isInteger(steps) && steps >= 1 && steps <= 1000) state.steps = steps;
  const start = q.get("start");
  if (start) {
    const xs = start.split(",").map(Number);
    if (xs.every(Number.isFinite)) state.start = xs;
  }
  const opts = q.getAll("o").map(parseSpec).filter((o) => entryOf(o.name)?.available);
  if (opts.length) state.opts = opts.slice(0, MAX_OPTIMIZERS).map((o) => withValues(o.name, o.values));
  else if (!q.has("f")) {
    state.opts = [withValues("sgd", { lr: 0.1 }), withValues("momentum", { lr: 0.05 }),
      withValues("adam", { lr: 0.5 }), withValues("rmsprop", { lr: 0.3 })];
  }
  const s = q.get("s");
  if (s) {
    const parsed = parseSpec(s);
    const entry = scheduleEntry(parsed.name);
    if (entry) state.schedule = { name: entry.name, values: scheduleValues(entry, parsed.values) };
  }
}

function scheduleValues(entry, given) {
  const values = {};
  for (const c of entry.controls) {
    if (c.key in given) values[c.key] = given[c.key];
    else if (c.key in entry.defaults) values[c.key] = entry.defaults[c.key];
    else values[c.key] = c.default;
  }
  return values;
}

// ---------------------------------------------------------------------------------------------------------
// asking the server

function traceURL(o) {
  const q = new URLSearchParams({ function: state.fn, optimizer: optimizerSpec(o), steps: String(state.steps) });
  q.set("start", startText());
  const s = scheduleSpec();
  if (s) q.set("schedule", s);
  return `/api/trace?${q.toString()}`;
}

function stabilityURL() {
  return `/api/stability?${new URLSearchParams({ function: state.fn, steps: String(state.steps), start: startText() })}`;
}

function scheduleURL() {
  const s = scheduleSpec();
  return s ? `/api/schedule?${new URLSearchParams({ schedule: s, steps: String(state.steps) })}` : null;
}

async function getJSON(url) {
  const response = await fetch(url);
  const body = JSON.parse(await response.text(), (k, v) => (v === "inf" ? Infinity : v));
  if (!response.ok) throw new Error(body.error || `${response.status}`);
  return body;
}

function ask(url) {
  if (cache.has(url)) return;
  cache.set(url, { pending: true });
  document.body.dataset.pending = String(Number(document.body.dataset.pending || 0) + 1);
  getJSON(url)
    .then((data) => cache.set(url, { data }), (e) => cache.set(url, { error: e.message }))
    .finally(() => {
      document.body.dataset.pending = String(Number(document.body.dataset.pending) - 1);
      draw();
    });
}

function update() {
  clearTimeout(timer);
  timer = setTimeout(() => {
    writeURL();
    for (const o of state.opts) ask(traceURL(o));
    ask(stabilityURL());
    const s = scheduleURL();
    if (s) ask(s);
    draw();
  }, DEBOUNCE_MS);
}

function result(url) { return cache.get(url) || { pending: true }; }

// ---------------------------------------------------------------------------------------------------------
// SVG drawing

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (parent) parent.append(node);
  return node;
}

function linear(d0, d1, r0, r1) {
  const f = (v) => r0 + ((v - d0) / (d1 - d0 || 1)) * (r1 - r0);
  f.invert = (p) => d0 + ((p - r0) / (r1 - r0)) * (d1 - d0);
  return f;
}

function logScale(d0, d1, r0, r1) {
  const l = linear(Math.log10(d0), Math.log10(d1), r0, r1);
  const f = (v) => l(Math.log10(v));
  f.invert = (p) => 10 ** l.invert(p);
  return f;
}

function ticks(lo, hi, n) {
  const step0 = (hi - lo) / n, mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) out.push(Number(v.toPrecision(6)));
  return out;
}

function axes(svg, x, y, box, xt, yt, labels) {
  const [x0, x1, y0, y1] = box;
  const g = el("g", { class: "axes" }, svg);
  el("rect", { x: x0, y: y1, width: x1 - x0, height: y0 - y1, class: "frame" }, g);
  for (const t of xt) {
    el("line", { x1: x(t.v), x2: x(t.v), y1: y0, y2: y0 + 4 }, g);
    el("text", { x: x(t.v), y: y0 + 16, "text-anchor": "middle" }, g).textContent = t.label;
  }
  for (const t of yt) {
    el("line", { x1: x0 - 4, x2: x0, y1: y(t.v), y2: y(t.v) }, g);
    el("text", { x: x0 - 6, y: y(t.v) + 4, "text-anchor": "end" }, g).textContent = t.label;
  }
  if (labels) {
    el("text", { x: (x0 + x1) / 2, y: y0 + 32, "text-anchor": "middle", class: "label" }, g).textContent = labels[0];
    el("text", { x: 12, y: (y0 + y1) / 2, "text-anchor": "middle", class: "label",
      transform: `rotate(-90 12 ${(y0 + y1) / 2})` }, g).textContent = labels[1];
  }
}

function plain(vs) { return vs.map((v) => ({ v, label: String(v) })); }
function decades(lo, hi) {
  const out = [];
  for (let k = Math.ceil(Math.log10(lo)); k <= Math.floor(Math.log10(hi)); k++) out.push({ v: 10 ** k, label: `1e${k}` });
  return out;
}

const PALETTE = ["#440154", "#3b528b", "#21918c", "#5ec962", "#b5de2b", "#fde725"];
function palette(t) {
  const s = Math.min(1, Math.max(0, t)) * (PALETTE.length - 1), i = Math.min(PALETTE.length - 2, Math.floor(s));
  const a = PALETTE[i], b = PALETTE[i + 1], u = s - i;
  const mix = (k) => Math.round(parseInt(a.slice(k, k + 2), 16) * (1 - u) + parseInt(b.slice(k, k + 2), 16) * u);
  return `rgb(${mix(1)},${mix(3)},${mix(5)})`;
}

function polyline(points, x, y) {
  let d = "", pen = false;
  for (const p of points) {
    if (p.some((v) => v === null || !Number.isFinite(v))) { pen = false; continue; }
    d += `${pen ? "L" : "M"}${x(p[0]).toFixed(2)},${y(p[1]).toFixed(2)}`;
    pen = true;
  }
  return d;
}

function drawLandscape() {
  const svg = document.getElementById("landscape");
  svg.replaceChildren();
  const box = [50, 585, 420, 12];
  const one = landscape.dim === 1;
  const [bx0, bx1] = landscape.box[0];
  const x = linear(bx0, bx1, box[0], box[1]);
  let y;
  if (one) {
    const ys = landscape.curve.y.filter((v) => v !== null);
    const lo = Math.min(...ys), hi = Math.max(...ys), pad = 0.06 * (hi - lo || 1);
    y = linear(lo - pad, hi + pad, box[2], box[3]);
    axes(svg, x, y, box, plain(ticks(bx0, bx1, 8)), plain(ticks(lo - pad, hi + pad, 6)), ["x", "f(x)"]);
  } else {
    const [by0, by1] = landscape.box[1];
    y = linear(by0, by1, box[2], box[3]);
    axes(svg, x, y, box, plain(ticks(bx0, bx1, 8)), plain(ticks(by0, by1, 6)), ["x₁", "x₂"]);
  }
  const clip = el("clipPath", { id: "plot-area" }, el("defs", {}, svg));
  el("rect", { x: box[0], y: box[3], width: box[1] - box[0], height: box[2] - box[3] }, clip);
  const g = el("g", { "clip-path": "url(#plot-area)" }, svg);
  if (one) {
    const pts = landscape.curve.x.map((v, i) => [v, landscape.curve.y[i]]);
    el("path", { d: polyline(pts, x, y), class: "curve" }, g);
  } else {
    const levels = landscape.contours.levels;
    levels.forEach((level, k) => {
      const d = level.segments.map((seg) => polyline(seg, x, y)).join("");
      if (d) el("path", { d, class: "contour", stroke: palette(k / Math.max(1, levels.length - 1)) }, g);
    });
  }
  for (const m of landscape.minima) {
    const px = x(m[0]), py = one ? y(landscape.fmin) : y(m[1]);
    el("path", { d: `M${px - 5},${py - 5}L${px + 5},${py + 5}M${px - 5},${py + 5}L${px + 5},${py - 5}`, class: "minimum" }, g);
  }
  const start = state.start || landscape.start;
  state.opts.forEach((o, i) => {
    const r = result(traceURL(o));
    if (!r.data) return;
    const pts = one ? r.data.path.map((p, k) => [p[0], r.data.values[k]]) : r.data.path;
    const path = el("path", { d: polyline(pts, x, y), class: "path", stroke: COLORS[i], "data-optimizer": i }, g);
    path.dataset.points = String(pts.length);
    const last = pts.filter((p) => p.every((v) => v !== null && Number.isFinite(v))).pop();
    if (last) el("circle", { cx: x(last[0]), cy: y(last[1]), r: 4.5, fill: COLORS[i], class: "end" }, g);
  });
  const sy = one ? y(landscape.curve.y[Math.round(((start[0] - bx0) / (bx1 - bx0)) * 399)] ?? 0) : y(start[1]);
  el("circle", { cx: x(start[0]), cy: sy, r: 6, class: "start" }, g);
  svg.onclick = (event) => {
    const pt = svg.createSVGPoint();
    pt.x = event.clientX;
    pt.y = event.clientY;
    const p = pt.matrixTransform(svg.getScreenCTM().inverse());
    if (p.x < box[0] || p.x > box[1] || p.y < box[3] || p.y > box[2]) return;
    state.start = one ? [round(x.invert(p.x))] : [round(x.invert(p.x)), round(y.invert(p.y))];
    update();
  };
}

function drawLoss() {
  const svg = document.getElementById("loss");
  svg.replaceChildren();
  const box = [60, 470, 220, 10];
  const fmin = landscape.fmin;
  const series = state.opts.map((o) => result(traceURL(o)).data?.values || []);
  const gaps = series.map((vs) => vs.map((v) => (v === null ? null : fmin === null ? v : Math.max(v - fmin, 1e-16))));
  const all = gaps.flat().filter((v) => v !== null && Number.isFinite(v));
  if (!all.length) return;
  const useLog = all.every((v) => v > 0);
  let lo = Math.min(...all), hi = Math.max(...all);
  if (useLog) { lo = Math.max(lo, hi * 1e-16); }
  if (hi === lo) { hi = lo + 1; }
  const x = linear(0, state.steps, box[0], box[1]);
  const y = useLog ? logScale(lo, hi, box[2], box[3]) : linear(lo, hi, box[2], box[3]);
  const yt = useLog ? decades(lo, hi).filter((_, k, a) => k % Math.ceil(a.length / 6) === 0) : plain(ticks(lo, hi, 5));
  axes(svg, x, y, box, plain(ticks(0, state.steps, 6)), yt, ["step", fmin === null ? "f(x)" : "f(x) − f*"]);
  gaps.forEach((vs, i) => {
    const pts = vs.map((v, k) => [k, v === null ? null : useLog ? Math.max(v, lo) : v]);
    el("path", { d: polyline(pts, x, y), class: "loss", stroke: COLORS[i] }, svg);
  });
}

function heavyBall(o) {
  const v = o.values;
  if (!["sgd", "momentum", "gd"].includes(o.name)) return null;
  if (v.nesterov || v.dampening || v.weight_decay || v.maximize) return null;
  return { lr: v.lr, momentum: v.momentum ?? 0 };
}

function drawStability() {
  const svg = document.getElementById("stability");
  const note = document.getElementById("stability-note");
  svg.replaceChildren();
  const r = result(stabilityURL());
  if (!r.data) { note.textContent = r.error || ""; return; }
  const s = r.data;
  if (!s.applies) { note.textContent = s.reason; svg.classList.add("empty"); return; }
  svg.classList.remove("empty");
  const box = [60, 470, 250, 10];
  const lr0 = s.lr[0], lr1 = s.lr[s.lr.length - 1], m1 = s.momentum[s.momentum.length - 1];
  const x = logScale(lr0, lr1, box[0], box[1]);
  const y = linear(0, 1, box[2], box[3]);
  const finite = s.gap.flat().filter((v) => v !== null && v > 0);
  const lo = Math.max(Math.min(...finite, s.start_gap), s.start_gap * 1e-16), hi = s.start_gap;
  const ratio = Math.sqrt(s.lr[1] / s.lr[0]), dm = (s.momentum[1] - s.momentum[0]) / 2;
  s.lr.forEach((lr, i) => s.momentum.forEach((m, j) => {
    const v = s.gap[i][j];
    const fill = v === null ? "#c9c9c9" : v >= hi ? "#efe3e3" : palette(1 - Math.log10(Math.max(v, lo) / lo) / Math.log10(hi / lo || 10));
    el("rect", { x: x(lr / ratio), y: y(m + dm), width: x(lr * ratio) - x(lr / ratio) + 0.5,
      height: y(m - dm) - y(m + dm) + 0.5, fill }, svg);
  }));
  axes(svg, x, y, box, decades(lr0, lr1), plain([0, 0.2, 0.4, 0.6, 0.8, 1]), ["lr η", "momentum β"]);
  // theory: stable iff ηλmax < 2 + 2β, i.e. above the line β = ηλmax/2 − 1
  const pts = [];
  for (let k = 0; k <= 60; k++) {
    const beta = (k / 60) * m1;
    pts.push([(2 + 2 * beta) / s.lmax, beta]);
  }
  el("path", { d: polyline(pts.filter((p) => p[0] >= lr0 && p[0] <= lr1), x, y), class: "boundary" }, svg);
  el("text", { x: box[0] + 8, y: box[3] + 16, class: "legend" }, svg).textContent =
    `theory: ηλmax = 2 + 2β (λmax = ${round(s.lmax)}); grey: diverged; ${s.steps} steps`;
  state.opts.forEach((o, i) => {
    const hb = heavyBall(o);
    if (!hb || hb.lr < lr0 || hb.lr > lr1) return;
    el("circle", { cx: x(hb.lr), cy: y(hb.momentum), r: 6, fill: COLORS[i], class: "setting" }, svg);
  });
  const marked = state.opts.filter(heavyBall).length;
  note.textContent = `Final f − f* of SGD with momentum from the start, over (lr, momentum). ` +
    (marked ? "Dots: the heavy-ball optimizers' current settings." : "Add sgd or momentum to see its setting.");
}

function drawSchedule() {
  const svg = document.getElementById("schedule");
  svg.replaceChildren();
  const url = scheduleURL();
  const values = url ? result(url).data?.values : Array(state.steps).fill(1);
  if (!values) return;
  const box = [60, 455, 170, 10];  // room for the last step's label
  const hi = Math.max(...values, 1e-12);
  const x = linear(0, Math.max(1, values.length - 1), box[0], box[1]);
  const y = linear(0, hi * 1.05, box[2], box[3]);
  axes(svg, x, y, box, plain(ticks(0, values.length, 6)), plain(ticks(0, hi * 1.05, 4)), ["step", "lr multiplier"]);
  el("path", { d: polyline(values.map((v, k) => [k, v]), x, y), class: "schedule-line" }, svg);
}

function drawCards() {
  state.opts.forEach((o, i) => {
    const card = document.querySelectorAll(".optimizer")[i];
    if (!card) return;
    const r = result(traceURL(o));
    const status = card.querySelector(".status");
    status.classList.toggle("error", !!r.error);
    if (r.error) status.textContent = r.error;
    else if (r.data) {
      const last = r.data.values[r.data.values.length - 1];
      status.textContent = `${r.data.status}: f = ${last === null ? "not finite" : last.toPrecision(4)} after ${r.data.nit} steps`;
    } else status.textContent = "…";
    card.querySelector(".spec").textContent = optimizerSpec(o);
  });
}

function draw() {
  if (!landscape) return;
  drawLandscape();
  drawLoss();
  drawStability();
  drawSchedule();
  drawCards();
  const o = state.opts[0];
  document.getElementById("api-example").textContent = o ? `GET ${decodeURIComponent(traceURL(o))}` : "";
}

// ---------------------------------------------------------------------------------------------------------
// building the page

function buildCards() {
  const holder = document.getElementById("optimizers");
  holder.replaceChildren();
  state.opts.forEach((o, i) => {
    const entry = entryOf(o.name);
    const card = document.createElement("div");
    card.className = "optimizer";
    card.style.borderColor = COLORS[i];
    const head = document.createElement("div");
    head.className = "head";
    const title = document.createElement("strong");
    title.textContent = `${o.name}`;
    title.style.color = COLORS[i];
    title.title = entry.doc;
    const reset = document.createElement("button");
    reset.type = "button";
    reset.textContent = "reset";
    reset.addEventListener("click", () => { state.opts[i] = withValues(o.name, { lr: o.values.lr }); buildCards(); update(); });
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "×";
    remove.title = "remove";
    remove.setAttribute("aria-label", `remove ${o.name}`);
    remove.addEventListener("click", () => { state.opts.splice(i, 1); buildCards(); update(); });
    head.append(title, document.createTextNode(` ${entry.title} `), reset, remove);
    const spec = document.createElement("code");
    spec.className = "spec";
    const status = document.createElement("div");
    status.className = "status";
    const controls = document.createElement("div");
    controls.className = "controls";
    for (const c of entry.controls) {
      controls.append(makeControl(c, c.key, o.values[c.key], (v) => { o.values[c.key] = v; update(); }));
    }
    card.append(head, spec, controls, status);
    holder.append(card);
  });
  document.getElementById("add").disabled = state.opts.length >= MAX_OPTIMIZERS;
}

function buildSchedule() {
  const holder = document.getElementById("schedule-controls");
  holder.replaceChildren();
  document.getElementById("schedule-choice").value = state.schedule ? state.schedule.name : "";
  if (!state.schedule) return;
  const entry = scheduleEntry(state.schedule.name);
  for (const c of entry.controls) {
    holder.append(makeControl(c, c.key, state.schedule.values[c.key], (v) => { state.schedule.values[c.key] = v; update(); }));
  }
}

async function loadFunction() {
  landscape = await getJSON(`/api/function?name=${encodeURIComponent(state.fn)}`);
  document.getElementById("formula").textContent = `f(x) = ${landscape.formula}`;
  document.getElementById("description").textContent = landscape.description;
  document.getElementById("landscape-hint").textContent =
    landscape.dim === 1 ? "click to set the start x" : "click on the contours to set the start";
}

async function main() {
  catalogue = await getJSON("/api/catalogue");
  const fnSelect = document.getElementById("function");
  for (const f of catalogue.functions.filter((f) => f.dim <= 2)) {
    const o = document.createElement("option");
    o.value = f.name;
    o.textContent = `${f.name} (${f.dim}-D)`;
    o.title = f.description;
    fnSelect.append(o);
  }
  const add = document.getElementById("add-choice");
  const reasons = [];
  for (const entry of catalogue.optimizers) {
    const o = document.createElement("option");
    o.value = entry.name;
    o.textContent = entry.available ? `${entry.name} (${entry.title})` : `${entry.name}: unavailable`;
    o.disabled = !entry.available;
    o.title = entry.available ? entry.doc : entry.reason;
    add.append(o);
    if (!entry.available) reasons.push(`${entry.name}: ${entry.reason}`);
  }
  document.getElementById("unavailable").textContent = reasons.length ? `Not available on a point: ${reasons.join("; ")}.` : "";
  const sched = document.getElementById("schedule-choice");
  sched.append(new Option("none (constant lr)", ""));
  for (const s of catalogue.schedules) sched.append(new Option(s.name, s.name));

  readURL();
  fnSelect.value = state.fn;
  await loadFunction();
  const steps = document.getElementById("steps");
  steps.value = String(state.steps);
  document.getElementById("steps-value").textContent = String(state.steps);

  fnSelect.addEventListener("change", async () => {
    state.fn = fnSelect.value;
    state.start = null;
    await loadFunction();
    update();
  });
  steps.addEventListener("input", () => {
    state.steps = Number(steps.value);
    document.getElementById("steps-value").textContent = steps.value;
    update();
  });
  document.getElementById("add").addEventListener("click", () => {
    if (state.opts.length >= MAX_OPTIMIZERS) return;
    state.opts.push(withValues(add.value, {}));
    buildCards();
    update();
  });
  sched.addEventListener("change", () => {
    const entry = scheduleEntry(sched.value);
    state.schedule = entry ? { name: entry.name, values: scheduleValues(entry, {}) } : null;
    buildSchedule();
    update();
  });
  document.getElementById("share").addEventListener("click", async () => {
    writeURL();
    const button = document.getElementById("share");
    try {
      await navigator.clipboard.writeText(location.href);
      button.textContent = "link copied";
    } catch {
      button.textContent = "copy the address bar";
    }
    setTimeout(() => { button.textContent = "copy link"; }, 1500);
  });
  buildCards();
  buildSchedule();
  update();
  document.body.dataset.ready = "true";
}

main().catch((e) => {
  document.body.dataset.failed = e.message;
  document.getElementById("description").textContent = `The page could not start: ${e.message}`;
});
