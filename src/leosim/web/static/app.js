// leosim web app: the globe (globe.gl), satellites at time t, stations, gateways, the policy map,
// the route between two stations with its RTT chart, and the what-if difference of two policies.
// Everything comes from this server's /api (see /openapi.json); nothing is loaded from anywhere
// else.  A request superseded by a newer one of its kind (another route, policy or coverage
// window) is aborted, and the server stops its work.
"use strict";

const EARTH_KM = 6371.0088;           // the globe is a sphere of the mean Earth radius
const GLOBE_R = 100;                  // globe.gl's globe radius in scene units
const MAX_FRAMES = 300;               // position samples fetched for the page's window
const STATE_COLOURS = {               // land, drawn into the globe's texture
  active: "#2f7a3f",
  not_activated: "#b3302f",
  sanctioned_but_active: "#c98a12",
};
const SEA_COLOUR = "#0d2238";
const ZONE_COLOUR = "rgba(190, 70, 255, 0.75)";
// Equirectangular texture of the policy map (?map=2048 for a smaller one).
const MAP_W = Math.min(8192, Math.max(512, Number(new URLSearchParams(location.search).get("map")) || 4096));
const MAP_H = MAP_W / 2;
const SHELL_COLOURS = ["#7fd3ff", "#ffd27f", "#c6ff7f", "#ff9fd8", "#a9a2ff", "#7fffe0",
  "#ffb37f", "#e0e0e0", "#ff7f7f", "#9fffa9", "#fff07f", "#7fa8ff"];

const S = {                           // the page state (read by the end-to-end tests too)
  ready: false, info: null, stations: [], policy: null, countries: null,
  t0: 0, step: 1, n: 0, pos: null, nSats: 0, t: 0, playing: false, speed: 60,
  shells: [], cloud: null, layer: "policy", coverage: null, lasersOn: false, laserCount: 0, route: null, routeStep: -1, picked: [], frames: [], errors: [],
  compare: null, aborted: 0,
};
window.leosim = S;

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"']/g,
  (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

async function getJSON(path, signal) {
  const r = await fetch(path, { signal });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

const pending = {};                   // kind -> the AbortController of its request in flight
/** The answer of the newest request of a kind: a request still in flight for the same kind
 * is aborted first (its connection closes, and the server stops its work).  A superseded
 * request rejects with an AbortError, which callers drop silently (isAbort). */
async function getLatest(kind, path) {
  if (pending[kind]) { pending[kind].abort(); S.aborted++; }
  const ctl = new AbortController();
  pending[kind] = ctl;
  try {
    return await getJSON(path, ctl.signal);
  } finally {
    if (pending[kind] === ctl) delete pending[kind];
  }
}
const isAbort = (e) => e && e.name === "AbortError";

function status(text, isError) {
  const el = $("status");
  el.textContent = text;
  el.className = isError ? "note error" : "note";
  if (isError) S.errors.push(text);
}

// ---------------------------------------------------------------- positions
async function loadPositions() {
  const w = S.info.window;
  const span = w.t1_s - w.t0_s;
  const maxFrames = Math.max(2, Math.min(MAX_FRAMES,
    Math.floor(S.info.limits.max_position_values / (3 * Math.max(S.info.num_sats, 1)))));
  // A multiple of the scenario's step, so route samples fall on the scenario's times.
  const k = Math.max(1, Math.ceil(span / (w.step_s * (maxFrames - 1)) - 1e-9));
  const step = span > 0 ? Number((w.step_s * k).toPrecision(12)) : 1;
  const q = `t0_s=${w.t0_s}&t1_s=${w.t1_s}&step_s=${step}`;
  const r = await fetch(`/api/positions?${q}`);
  if (!r.ok) throw new Error(`positions: ${r.status} ${await r.text()}`);
  const shape = r.headers.get("X-Leosim-Shape").split(",").map(Number);
  S.pos = new Float32Array(await r.arrayBuffer());
  S.n = shape[0]; S.nSats = shape[1];
  S.t0 = Number(r.headers.get("X-Leosim-T0-S")); S.step = step;
}

function updateSatellites() {
  // Every satellite at time t (interpolated between the samples) into S.cur, scene units;
  // a satellite without a position at either sample is hidden inside the globe (0, 0, 0).
  // S.cur is the position buffer of the one THREE.Points object of every satellite (one
  // draw call; written in place, uploaded once a frame).
  if (!S.pos) return;
  const obj = S.cloud && S.cloud.__threeObjParticles;
  const attr = obj && obj.geometry.attributes.position;
  if (attr && attr.array.length === 3 * S.nSats && S.cur !== attr.array) {
    S.cur = attr.array;
    shellColours(obj);
  }
  const x = S.n > 1 ? (S.t - S.t0) / S.step : 0;
  const k = Math.max(0, Math.min(S.n - 1, Math.floor(x)));
  const k2 = Math.min(S.n - 1, k + 1), f = Math.max(0, Math.min(1, x - k));
  const p = S.pos, n3 = 3 * S.nSats, s = GLOBE_R / EARTH_KM;
  const cur = S.cur && S.cur.length === n3 ? S.cur : (S.cur = new Float32Array(n3));
  const b1 = k * n3, b2 = k2 * n3;
  for (let o = 0; o < n3; o += 3) {
    const x1 = p[b1 + o], x2 = p[b2 + o];
    if (x1 === x1 && x2 === x2) {  // not NaN
      // Earth-fixed km -> globe.gl scene: x = Y, y = Z (north), z = X, scaled to the globe.
      cur[o] = (p[b1 + o + 1] + f * (p[b2 + o + 1] - p[b1 + o + 1])) * s;
      cur[o + 1] = (p[b1 + o + 2] + f * (p[b2 + o + 2] - p[b1 + o + 2])) * s;
      cur[o + 2] = (x1 + f * (x2 - x1)) * s;
    } else { cur[o] = 0; cur[o + 1] = 0; cur[o + 2] = 0; }
  }
  if (attr && S.cur === attr.array) {
    attr.needsUpdate = true;
    if (!S.cloud.bounded) { obj.geometry.computeBoundingSphere(); S.cloud.bounded = true; }
  }
  if (S.lasersOn) updateLasers(k, k2);
}

function shellColours(obj) {
  // Each satellite its shell's colour, as a vertex colour (three.js takes them linear).
  const lin = (v) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
  const col = new Float32Array(3 * S.nSats);
  for (const sh of S.shells) {
    const h = SHELL_COLOURS[sh.shell % SHELL_COLOURS.length];
    const rgb = [1, 3, 5].map((i) => lin(parseInt(h.slice(i, i + 2), 16) / 255));
    for (const i of sh.sats) col.set(rgb, 3 * i);
  }
  const Attribute = obj.geometry.attributes.position.constructor;
  obj.geometry.setAttribute("color", new Attribute(col, 3));
  obj.material.vertexColors = true;
  obj.material.needsUpdate = true;
}

// ---------------------------------------------------------------- lasers
function threeClasses() {
  // globe.gl bundles three.js without exporting it: its graticule (a LineSegments that
  // globe.gl always makes, hidden by default) gives the classes the laser layer needs.
  let grat = null;
  S.globe.scene().traverse((o) => { if (!grat && o.isLineSegments) grat = o; });
  if (!grat) return null;
  // The graticule's geometry is a subclass of BufferGeometry: up to the plain one.
  let Geometry = grat.geometry.constructor;
  for (let C = Geometry; C && C !== Object; C = Object.getPrototypeOf(C)) {
    try { if (new C().type === "BufferGeometry") { Geometry = C; break; } } catch (e) { /* needs args */ }
  }
  return { LineSegments: grat.constructor, Material: grat.material.constructor, Geometry,
    Attribute: grat.geometry.attributes.position.constructor };
}

async function makeLasers() {
  // One LineSegments buffer for every laser; only the usable ones are drawn (drawRange).
  let T = threeClasses();
  for (let i = 0; !T && i < 120; i++) {  // globe.gl adds its layers on its first frames
    await new Promise((ok) => requestAnimationFrame(ok));
    T = threeClasses();
  }
  if (!T) throw new Error("lasers: no LineSegments class in the globe.gl bundle");
  const geom = new T.Geometry();
  const attr = new T.Attribute(new Float32Array(S.isls.a.length * 6), 3);
  attr.setUsage?.(35048);  // DYNAMIC_DRAW
  geom.setAttribute("position", attr);
  geom.setDrawRange(0, 0);
  const obj = new T.LineSegments(geom, new T.Material({ color: 0xff66cc, transparent: true, opacity: 0.45 }));
  obj.frustumCulled = false;
  obj.raycast = () => {};  // never picked by the pointer
  // Next to the satellites, so both are in the same frame.
  const parent = S.cloud.__threeObjParticles?.parent || S.globe.scene();
  parent.add(obj);
  S.laserObj = obj;
}

function usableLasers(k, k2) {
  // A laser is usable when both its satellites have positions and it is within its length
  // limit at sample k (the router's rule, leosim.links.usable_isls).
  const { a, b, maxKm } = S.isls, p = S.pos, n3 = 3 * S.nSats;
  const out = new Int32Array(a.length);
  let m = 0;
  for (let j = 0; j < a.length; j++) {
    const i1 = k * n3 + 3 * a[j], i2 = k * n3 + 3 * b[j];
    const dx = p[i1] - p[i2], dy = p[i1 + 1] - p[i2 + 1], dz = p[i1 + 2] - p[i2 + 2];
    const d = Math.sqrt(dx * dx + dy * dy + dz * dz);
    if (!(d <= maxKm[j])) continue;  // NaN ends fail too
    if (k2 !== k && !(p[k2 * n3 + 3 * a[j]] === p[k2 * n3 + 3 * a[j]] &&
      p[k2 * n3 + 3 * b[j]] === p[k2 * n3 + 3 * b[j]])) continue;
    out[m++] = j;
  }
  return out.subarray(0, m);
}

function updateLasers(k, k2) {
  if (!S.laserObj) return;
  if (S.laserSample !== k) { S.laserUse = usableLasers(k, k2); S.laserSample = k; }
  const use = S.laserUse, { a, b } = S.isls, cur = S.cur;
  const attr = S.laserObj.geometry.attributes.position, arr = attr.array;
  for (let j = 0; j < use.length; j++) {
    const o = 6 * j, qa = 3 * a[use[j]], qb = 3 * b[use[j]];
    arr[o] = cur[qa]; arr[o + 1] = cur[qa + 1]; arr[o + 2] = cur[qa + 2];
    arr[o + 3] = cur[qb]; arr[o + 4] = cur[qb + 1]; arr[o + 5] = cur[qb + 2];
  }
  S.laserObj.geometry.setDrawRange(0, 2 * use.length);
  if (attr.updateRanges !== undefined && attr.addUpdateRange) {
    attr.clearUpdateRanges(); attr.addUpdateRange(0, 6 * use.length);
  }
  attr.needsUpdate = true;
  S.laserCount = use.length;
}

async function setLasers(on) {
  if (on && !S.isls) {
    const r = await getJSON("/api/isls");
    S.isls = { a: Int32Array.from(r.pairs, (p) => p[0]), b: Int32Array.from(r.pairs, (p) => p[1]),
      maxKm: Float32Array.from(r.max_length_km) };
  }
  if (on && !S.laserObj) await makeLasers();
  S.lasersOn = on;
  if (S.laserObj) S.laserObj.visible = on;
  S.laserSample = -1;
  if (!on) S.laserCount = 0;
  updateSatellites();
}

// ---------------------------------------------------------------- globe
function changed(code) {
  return Boolean(S.policyB) && (S.policyB.states[code] || "active") !== (S.policy.states[code] || "active");
}

const MIN_SHARE_CHANGE = 0.0005, MIN_RTT_CHANGE_MS = 0.05;  // smaller changes are not listed

/** The compare row of a country when its service differs between A and B, else null. */
function serviceChange(code) {
  const c = S.compare && S.compare.byCode[code];
  if (!c) return null;
  const dShare = Math.abs(c.served_share_change);
  const ra = c.median_rtt_pop_ms_a, rb = c.median_rtt_pop_ms_b;
  const dRtt = ra === null || rb === null ? (ra === rb ? 0 : Infinity) : Math.abs(rb - ra);
  return dShare >= MIN_SHARE_CHANGE || dRtt >= MIN_RTT_CHANGE_MS ? c : null;
}

function whatIf() {
  // The countries whose activation or service differs between the two policies, A -> B:
  // activation from the policies, served share and median RTT to the PoP from /api/compare.
  const t = $("whatif");
  t.textContent = "";
  if (!S.policyB) return;
  const names = Object.fromEntries(S.countries.features.map((f) => [f.properties.code, f.properties.name]));
  const codes = new Set(Object.keys(S.policy.states).filter(changed));
  if (S.compare) for (const c of S.compare.countries) if (serviceChange(c.country)) codes.add(c.country);
  const size = (code) => { const c = serviceChange(code); return c ? Math.abs(c.served_share_change) : 0; };
  const rows = [...codes].sort((x, y) => (changed(y) - changed(x)) || (size(y) - size(x)) || (x < y ? -1 : 1));
  const head = t.insertRow();
  for (const h of ["country", "activation A → B", "served % A → B", "RTT to PoP ms A → B"]) {
    const th = document.createElement("th"); th.textContent = h; head.appendChild(th);
  }
  const pct = (v) => (v === null || v === undefined ? "–" : (100 * v).toFixed(1));
  const ms = (v) => (v === null || v === undefined ? "–" : v.toFixed(1));
  for (const code of rows) {
    const r = t.insertRow();
    r.dataset.code = code;
    const c = S.compare && S.compare.byCode[code];
    const st = (p) => String(p.states[code] || "active").replaceAll("_", " ");
    for (const v of [`${names[code] || code} (${code})`, `${st(S.policy)} → ${st(S.policyB)}`,
      c ? `${pct(c.served_share_a)} → ${pct(c.served_share_b)}` : "no terminals",
      c ? `${ms(c.median_rtt_pop_ms_a)} → ${ms(c.median_rtt_pop_ms_b)}` : ""]) {
      r.insertCell().textContent = v;
    }
  }
  if (!rows.length) t.insertRow().insertCell().textContent = "same activation and service everywhere";
}

// The difference map (B − A per country): RdBu classes, red worse, blue better, grey no data.
const DIFF_RAMP = ["#b2182b", "#d6604d", "#f4a582", "#fddbc7", "#e6e6e6", "#d1e5f0", "#92c5de",
  "#4393c3", "#2166ac"];
const NO_DATA_COLOUR = "#4a4f5a";

/** The texture colour of a country in a what-if layer: "whatif-served" by the change of its
 * served share (B − A, 1/4 a class), "whatif-rtt" by the change of its median RTT to the PoP
 * (B − A, faster is blue, S.compare.rttScale ms a class); null: no value. */
function diffColour(layer, v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return NO_DATA_COLOUR;
  const mid = (DIFF_RAMP.length - 1) / 2;
  const x = layer === "whatif-served" ? v * mid : -v / S.compare.rttScale;
  const k = Math.abs(x) < 1e-9 ? 0 : Math.sign(x) * Math.max(1, Math.min(mid, Math.ceil(Math.abs(x) - 1e-9)));
  return DIFF_RAMP[mid + k];
}
S.diffColour = diffColour;
S.diffRamp = DIFF_RAMP; S.noDataColour = NO_DATA_COLOUR;

function diffValue(layer, code) {
  const c = S.compare && S.compare.byCode[code];
  if (!c) return null;
  if (layer === "whatif-served") return c.served_share_change;
  const a = c.median_rtt_pop_ms_a, b = c.median_rtt_pop_ms_b;
  return a === null || b === null ? null : b - a;
}

function compareQuery() {
  // Both policies over the page's window, at most 20 times (a multiple of the position step).
  const span = S.step * Math.max(S.n - 1, 0);
  const k = Math.max(1, Math.ceil((S.n - 1) / 19 - 1e-9));
  return `a=${S.policy.index}&b=${S.policyB.index}&t0_s=${S.t0}&t1_s=${S.t0 + span}` +
    `&step_s=${Number((S.step * k).toPrecision(12))}`;
}

async function loadCompare() {
  // The service of both policies for the scenario's terminals (two evaluations: seconds).
  if (!S.policyB || S.policy.index < 0 || S.policyB.index < 0) {
    if (pending.compare) { pending.compare.abort(); S.aborted++; }
    S.compare = null;
    return;
  }
  const q = compareQuery();
  if (S.compare && S.compare.query === q) return;
  S.compare = null;
  $("whatif-status").textContent = "evaluating both policies…";
  const c = await getLatest("compare", `/api/compare?${q}`);
  c.query = q;
  c.byCode = Object.fromEntries(c.countries.map((r) => [r.country, r]));
  const d = c.countries.map((r) => (r.median_rtt_pop_ms_a === null || r.median_rtt_pop_ms_b === null
    ? 0 : Math.abs(r.median_rtt_pop_ms_b - r.median_rtt_pop_ms_a)));
  c.rttScale = Math.max(1, Math.ceil(Math.max(0, ...d) / 4));  // ms a class, 4 classes a side
  S.compare = c;
  $("whatif-status").textContent = `${c.a} → ${c.b}: ${c.num_terminals} terminals, ${c.num_times} times`;
}

async function refreshWhatIf() {
  // After a change of policy A or B: the table at once (activation), then the service.
  whatIf(); coverageLegend(); drawMap();
  try {
    await loadCompare();
  } catch (e) {
    if (isAbort(e)) return;
    $("whatif-status").textContent = String(e.message || e);
    throw e;
  }
  whatIf(); coverageLegend(); drawMap();
}

function countryColour(code) {
  return STATE_COLOURS[(S.policy && S.policy.states[code]) || "active"];
}

function rings(geom) {
  if (!geom) return [];
  if (geom.type === "Polygon") return geom.coordinates;
  if (geom.type === "MultiPolygon") return geom.coordinates.flat();
  if (geom.type === "GeometryCollection") return geom.geometries.flatMap(rings);
  return [];
}

function tracePath(g, geom) {
  const X = (lon) => (lon + 180) / 360 * MAP_W, Y = (lat) => (90 - lat) / 180 * MAP_H;
  g.beginPath();
  for (const r of rings(geom)) {
    r.forEach(([lon, lat], i) => (i ? g.lineTo(X(lon), Y(lat)) : g.moveTo(X(lon), Y(lat))));
    g.closePath();
  }
}

function drawMap() {
  // The countries coloured by the policy, and its exclusion zones, as the globe's texture:
  // one image instead of hundreds of meshes keeps the frame rate up with software rendering.
  const cv = S.map || (S.map = document.createElement("canvas"));
  cv.width = MAP_W; cv.height = MAP_H;
  const g = cv.getContext("2d", { willReadFrequently: true });
  g.fillStyle = SEA_COLOUR; g.fillRect(0, 0, MAP_W, MAP_H);
  const diff = S.layer.startsWith("whatif");
  const cov = !diff && S.layer !== "policy" && S.coverage;
  if (cov) drawCoverage(g, cov, S.layer);
  g.lineWidth = cov ? 0.8 : 1.2; g.strokeStyle = cov ? "#ffffff99" : "#0b0b0b";
  for (const f of S.countries.features) {
    tracePath(g, f.geometry);
    const code = f.properties.code;
    if (!cov) {
      g.fillStyle = diff ? diffColour(S.layer, diffValue(S.layer, code)) : countryColour(code);
      g.fill("evenodd");
    }
    g.stroke();
  }
  g.lineWidth = 6; g.strokeStyle = "#ffff00";  // what-if: countries whose state differs
  for (const f of diff ? [] : S.countries.features) {  // (the difference map shows it filled)
    if (changed(f.properties.code)) { tracePath(g, f.geometry); g.stroke(); }
  }
  g.lineWidth = 3; g.strokeStyle = "#e7c4ff";
  for (const z of (S.policy ? S.policy.zones : [])) {
    tracePath(g, z.geometry);
    g.fillStyle = ZONE_COLOUR; g.fill("evenodd"); g.stroke();
  }
  S.mapVersion = (S.mapVersion || 0) + 1;
  if (S.globe) S.globe.globeImageUrl(cv.toDataURL("image/png"));
}

// ---------------------------------------------------------------- coverage
const COVERAGE_RAMP = ["#1a0f2e", "#3b1f6b", "#5a35a8", "#2f6fd0", "#1f9fc4", "#2fbf8a",
  "#8fd14f", "#e5e337"];  // dark (none) to bright (most): 8 classes

/** The texture colour of a coverage cell: "served" by share of time (0..1, 8 classes of
 * 1/8), "visible" by mean satellites in view (0, then up to S.coverageMax in 7 classes). */
function coverageColour(layer, v) {
  const n = COVERAGE_RAMP.length;
  if (layer === "served") return COVERAGE_RAMP[Math.max(0, Math.min(n - 1, Math.floor(v * n)))];
  if (!(v > 0)) return COVERAGE_RAMP[0];
  const top = Math.max(S.coverageMax || 1, 1e-9);
  return COVERAGE_RAMP[Math.max(1, Math.min(n - 1, 1 + Math.floor(v / top * (n - 1))))];
}
S.coverageColour = coverageColour;

function drawCoverage(g, cov, layer) {
  // Each equal-area cell as its lon/lat rectangle, edges on whole pixels (no seams).
  const vals = layer === "served" ? cov.served_fraction : cov.mean_visible;
  const h = cov.cell_height_deg;
  const X = (lon) => Math.round((lon + 180) / 360 * MAP_W), Y = (lat) => Math.round((90 - lat) / 180 * MAP_H);
  for (let i = 0; i < vals.length; i++) {
    const lat = cov.latitude_deg[i], lon = cov.longitude_deg[i], w = cov.cell_width_deg[i];
    const x0 = X(lon - w / 2), x1 = X(lon + w / 2), y0 = Y(lat + h / 2), y1 = Y(lat - h / 2);
    g.fillStyle = coverageColour(layer, vals[i]);
    g.fillRect(x0, y0, x1 - x0, y1 - y0);
  }
}

function diffLegend(el) {
  if (!S.compare) {
    el.textContent = S.policyB ? "choose policies A and B (not \"no policy\") and wait for both"
      : "choose a policy B to compare with (what-if)";
    return;
  }
  const mid = (DIFF_RAMP.length - 1) / 2, served = S.layer === "whatif-served";
  const unit = served ? 25 : S.compare.rttScale;
  const label = (i) => {
    const k = i - mid;
    if (k === 0) return "no change";
    const lo = (Math.abs(k) - 1) * unit, hi = Math.abs(k) * unit, sign = (k > 0) === served ? "+" : "−";
    return `${sign}${lo}–${hi}${served ? " %" : " ms"}`;
  };
  el.innerHTML = `<div>${served ? "served share" : "median RTT to the PoP"}, ${esc(S.compare.b)}` +
    ` − ${esc(S.compare.a)} (blue: better under B)</div>` +
    DIFF_RAMP.map((col, i) => `<span class="swatch" style="background:${col}"></span>${esc(label(i))} `).join("") +
    `<span class="swatch" style="background:${NO_DATA_COLOUR}"></span>no terminals or no RTT`;
}

function coverageLegend() {
  const el = $("coverage-legend");
  if (S.layer.startsWith("whatif")) { diffLegend(el); return; }
  if (S.layer === "policy" || !S.coverage) { el.textContent = ""; return; }
  const c = S.coverage, n = COVERAGE_RAMP.length;
  const label = (i) => (S.layer === "served" ? `${Math.round(100 * i / n)}–${Math.round(100 * (i + 1) / n)} %`
    : i === 0 ? "0" : `${(S.coverageMax * (i - 1) / (n - 1)).toFixed(1)}–${(S.coverageMax * i / (n - 1)).toFixed(1)}`);
  el.innerHTML = `<div>${S.layer === "served" ? "share of time served" : "mean satellites in view"}` +
    ` above ${esc(c.min_elevation_deg)}°, ${esc(c.num_times)} times ${esc(c.t0_s)}–${esc(c.t1_s)} s,` +
    ` ${esc(c.resolution_deg)}° cells${c.policy ? `, policy ${esc(c.policy)}` : ""}</div>` +
    COVERAGE_RAMP.map((col, i) => `<span class="swatch" style="background:${col}"></span>${esc(label(i))} `).join("");
}

async function loadCoverage() {
  // The page's window, at most 120 times (a multiple of the position step), 5° cells.
  const span = S.step * Math.max(S.n - 1, 0);
  const maxTimes = Math.max(1, Math.min(120, Math.floor(S.info.limits.max_coverage_point_steps / 1700)));
  const k = Math.max(1, Math.ceil((S.n - 1) / Math.max(maxTimes - 1, 1) - 1e-9));
  const q = `t0_s=${S.t0}&t1_s=${S.t0 + span}&step_s=${Number((S.step * k).toPrecision(12))}` +
    `&resolution_deg=5&policy=${S.policy ? S.policy.index : -1}`;
  if (S.coverageQuery === q) return;
  $("coverage-legend").textContent = "computing coverage…";
  S.coverage = await getLatest("coverage", `/api/coverage?${q}`);
  S.coverageQuery = q;
  S.coverageMax = Math.max(...S.coverage.mean_visible, 1e-9);
}

async function setLayer(layer) {
  S.layer = layer;
  try {
    if (layer === "visible" || layer === "served") await loadCoverage();
  } catch (e) {
    if (isAbort(e)) return;
    throw e;
  }
  if (S.layer !== layer) return;  // another layer was chosen meanwhile
  coverageLegend();
  drawMap();
}

/** The colour of the policy map's texture at a place (for the tests): "#rrggbb". */
S.mapColourAt = (lat, lng) => {
  const x = Math.floor((lng + 180) / 360 * MAP_W), y = Math.floor((90 - lat) / 180 * MAP_H);
  const d = S.map.getContext("2d", { willReadFrequently: true }).getImageData(x, y, 1, 1).data;
  return "#" + [d[0], d[1], d[2]].map((v) => v.toString(16).padStart(2, "0")).join("");
};
S.colours = STATE_COLOURS;

function pointData() {
  const st = S.stations.map((s) => ({ ...s, kind: "station" }));
  const kind = (g) => (g.hypothetical ? "hypothetical gateway"
    : g.status === "assumed" ? "assumed gateway (at a PoP)" : "gateway");
  const gw = (S.policy ? S.policy.gateways : []).map((g) => ({ ...g, kind: kind(g) }));
  const pops = (S.policy ? S.policy.pops || [] : []).map((p) => ({ ...p, name: `${p.code} (${p.city})`,
    kind: p.hypothetical ? "hypothetical PoP" : "PoP" }));
  return st.concat(gw, pops);
}

const POINT_COLOURS = { gateway: "#ff4040", "hypothetical gateway": "#ff9a00",
  "assumed gateway (at a PoP)": "#ffb0b0", PoP: "#30d5ff", "hypothetical PoP": "#b388ff" };
S.pointColours = POINT_COLOURS;

function pointColour(d) {
  if (d.kind === "station") return S.picked.includes(d.gid) ? "#ffff00" : "#ffffff";
  return POINT_COLOURS[d.kind] || "#ffb0b0";
}

function softwareRendering() {
  // SwiftShader or llvmpipe: WebGL on the CPU, where multisampling costs most of a frame.
  const c = document.createElement("canvas").getContext("webgl");
  if (!c) return true;
  const e = c.getExtension("WEBGL_debug_renderer_info");
  const name = String(e ? c.getParameter(e.UNMASKED_RENDERER_WEBGL) : c.getParameter(c.RENDERER));
  c.getExtension("WEBGL_lose_context")?.loseContext();
  return /swiftshader|llvmpipe|software/i.test(name);
}

function rendererConfig() {
  const aa = new URLSearchParams(location.search).get("antialias");
  S.software = softwareRendering();
  S.antialias = aa === null ? !S.software : aa === "1";
  const cfg = { antialias: S.antialias, alpha: false, powerPreference: "high-performance" };
  // three.js always asks for an alpha channel, so the browser blends the globe's canvas over
  // the page every frame (with software compositing about a third of a frame's time);
  // an opaque context of our own is composited as a plain copy.
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("webgl2", { ...cfg, depth: true, stencil: false });
  return context ? { ...cfg, canvas, context } : cfg;
}

function setPixelRatio(globe, playing) {
  // Software WebGL (SwiftShader, llvmpipe) spends its frame per pixel: while playing it
  // renders at half the device pixels each way (measured: about twice the frame rate with
  // 10,000 satellites), sharp again when paused.  ?scale=F fixes the share at F instead.
  const q = new URLSearchParams(location.search).get("scale");
  const share = q !== null && Number(q) > 0 ? Math.max(0.25, Math.min(2, Number(q)))
    : S.software && playing ? 0.5 : 1;
  const ratio = share * (window.devicePixelRatio || 1);
  if (ratio !== S.pixelRatio) { globe.renderer().setPixelRatio(ratio); S.pixelRatio = ratio; }
  // A canvas shown larger than it is drawn is scaled up by the compositor: with bilinear
  // filtering that costs SwiftShader about as much as the whole scene (measured 17-19 ms of
  // GPU-process CPU a frame at 1280 x 720), with nearest-neighbour almost nothing (0.3 ms).
  globe.renderer().domElement.style.imageRendering = share < 1 ? "pixelated" : "";
}

function makeGlobe() {
  const sats = S.info.sat_shell;
  S.shells = S.info.shells.map((sh, i) => ({ shell: i, name: sh.name, sats: [] }));
  if (!S.shells.length) S.shells.push({ shell: 0, name: "satellites", sats: [] });
  sats.forEach((s, i) => S.shells[Math.max(0, Math.min(S.shells.length - 1, s))].sats.push(i));
  S.shells = S.shells.filter((sh) => sh.sats.length);
  for (const sh of S.shells) sh.sats = Int32Array.from(sh.sats);
  S.cloud = { sats: Int32Array.from(sats, (_, i) => i), bounded: false };  // in index order
  const size = S.info.num_sats > 3000 ? 1.2 : 1.8;
  const globe = Globe({ animateIn: false, rendererConfig: rendererConfig() })($("globe"))
    .backgroundColor("#000010")
    .showAtmosphere(true)
    .atmosphereColor("#5a8fd8")
    .pointsData(pointData())
    .pointLat((d) => d.latitude_deg).pointLng((d) => d.longitude_deg)
    .pointAltitude((d) => (d.kind === "station" ? 0.012 : d.kind.endsWith("PoP") ? 0.03 : 0.02))
    .pointRadius((d) => (d.kind === "station" ? 0.35 : 0.45))
    .pointColor(pointColour)
    .pointLabel((d) => `${esc(d.kind)}: <b>${esc(d.name)}</b>`)
    .pointsMerge(true).pointResolution(6)
    .onGlobeClick(({ lat, lng }) => pickNear(lat, lng))
    .particlesData([S.cloud])
    .particlesList((sh) => Array.from(sh.sats, () => ({ lat: 0, lng: 0, alt: 0 })))
    .particleLat("lat").particleLng("lng").particleAltitude("alt")
    .particlesSize(size).particlesSizeAttenuation(false)
    .particlesColor(() => "#ffffff")  // times the vertex colours of the shells
    .pathsData([])
    .pathPoints("pts").pathPointLat((p) => p[0]).pathPointLng((p) => p[1])
    .pathPointAlt((p) => Math.max(0, p[2]) / EARTH_KM + 0.002)
    .pathColor(() => "#ffff00").pathStroke(2.5).pathTransitionDuration(0);
  // ?off=map,points,particles,atmosphere turns layers off (for frame-rate measurements).
  const off = new URLSearchParams(location.search).get("off") || "";
  if (!off.includes("map")) { S.globe = globe; drawMap(); }
  if (off.includes("points")) globe.pointsData([]);
  if (off.includes("particles")) globe.particlesData([]);
  if (off.includes("atmosphere")) globe.showAtmosphere(false);
  if (off.includes("pointer")) globe.enablePointerInteraction(false);
  globe.globeMaterial().color.set(off.includes("map") ? SEA_COLOUR : "#ffffff");
  setPixelRatio(globe, false);
  globe.pointOfView({ lat: 25, lng: 15, altitude: 2.6 }, 0);
  const resize = () => globe.width($("globe").clientWidth).height($("globe").clientHeight);
  window.addEventListener("resize", resize);
  resize();
  return globe;
}

// ---------------------------------------------------------------- policy
function legend() {
  const rows = Object.entries(STATE_COLOURS).map(([k, c]) =>
    `<div><span class="swatch" style="background:${c}"></span>${esc(k.replaceAll("_", " "))}</div>`);
  rows.push(`<div><span class="swatch" style="background:${ZONE_COLOUR}"></span>exclusion zone</div>`);
  rows.push('<div><span class="swatch" style="background:#ff4040"></span>gateway</div>');
  rows.push('<div><span class="swatch" style="background:#ff9a00"></span>hypothetical gateway</div>');
  rows.push('<div><span class="swatch" style="background:#ffb0b0"></span>assumed gateway (at a PoP)</div>');
  rows.push('<div><span class="swatch" style="background:#30d5ff"></span>PoP (where traffic leaves the network)</div>');
  rows.push('<div><span class="swatch" style="background:#b388ff"></span>hypothetical PoP</div>');
  rows.push('<div><span class="swatch" style="background:#ffffff"></span>ground station</div>');
  S.shells.forEach((sh) => rows.push(
    `<div><span class="swatch" style="background:${SHELL_COLOURS[sh.shell % SHELL_COLOURS.length]}"></span>shell ${esc(sh.name)} (${sh.sats.length})</div>`));
  $("legend").innerHTML = rows.join("");
}

function policySummary() {
  const by = {};
  for (const [code, st] of Object.entries(S.policy.states)) {
    if (st !== S.policy.default_state) (by[st] = by[st] || []).push(code);
  }
  const el = $("policy-summary");
  el.textContent = "";
  const head = document.createElement("div");
  head.textContent = `${S.policy.name}: every other country ${S.policy.default_state.replaceAll("_", " ")}; ` +
    `${S.policy.gateways.length} gateways, ${S.policy.zones.length} exclusion zones`;
  el.appendChild(head);
  for (const [st, codes] of Object.entries(by)) {
    const d = document.createElement("div");
    d.dataset.state = st;
    d.textContent = `${st.replaceAll("_", " ")}: ${codes.sort().join(", ")}`;
    el.appendChild(d);
  }
}

async function setPolicy(index) {
  try {
    S.policy = await getLatest("policy", `/api/policy?index=${index}`);
  } catch (e) {
    if (isAbort(e)) return;
    throw e;
  }
  S.globe.pointsData(pointData());
  policySummary();
  drawMap();
  if (S.layer === "visible" || S.layer === "served") {  // served honours the policy
    try { await loadCoverage(); } catch (e) { if (isAbort(e)) return; throw e; }
    coverageLegend(); drawMap();
  }
  await refreshWhatIf();
}

// ---------------------------------------------------------------- route
function pickNear(lat, lng) {
  // The station nearest the clicked place (great-circle distance), if within 1,000 km.
  const r = Math.PI / 180;
  let best = null, bestD = Infinity;
  for (const s of S.stations) {
    const c = Math.sin(lat * r) * Math.sin(s.latitude_deg * r) +
      Math.cos(lat * r) * Math.cos(s.latitude_deg * r) * Math.cos((lng - s.longitude_deg) * r);
    const d = Math.acos(Math.max(-1, Math.min(1, c))) * EARTH_KM;
    if (d < bestD) { bestD = d; best = s; }
  }
  if (best && bestD < 1000) pick(best.gid);
}

function pick(gid) {
  S.picked = [...S.picked.filter((g) => g !== gid), gid].slice(-2);
  if (S.picked.length === 2) {
    $("src").value = String(S.picked[0]); $("dst").value = String(S.picked[1]);
    loadRoute();
  }
  S.globe.pointColor(pointColour);
}

async function loadRoute() {
  const src = $("src").value, dst = $("dst").value;
  if (src === "" || dst === "" || src === dst) return;
  S.picked = [Number(src), Number(dst)];
  S.globe.pointColor(pointColour);
  const maxSteps = Math.min(S.info.limits.max_route_steps, MAX_FRAMES);
  const span = S.step * (S.n - 1);
  const k = Math.max(1, Math.ceil((S.n - 1) / (maxSteps - 1) - 1e-9));
  const q = `src=${src}&dst=${dst}&t0_s=${S.t0}&t1_s=${S.t0 + span}&step_s=${Number((S.step * k).toPrecision(12))}`;
  $("route-status").textContent = "routing…";
  try {
    S.route = await getLatest("route", `/api/route?${q}`);
  } catch (e) {
    if (isAbort(e)) return;  // a newer route was asked for
    $("route-status").textContent = String(e.message || e);
    status(String(e.message || e), true);
    return;
  }
  S.routeStep = -1;
  updateRoute(true);
}

function routeIndex() {
  const st = S.route.steps;
  if (st.length < 2) return 0;
  const dt = st[1].t_s - st[0].t_s;
  return Math.max(0, Math.min(st.length - 1, Math.round((S.t - st[0].t_s) / dt)));
}

function updateRoute(force) {
  if (!S.route) return;
  const i = routeIndex();
  if (i !== S.routeStep || force) {
    S.routeStep = i;
    const s = S.route.steps[i];
    S.globe.pathsData(s.reachable ? [{ pts: s.path_deg_km }] : []);
    const name = `${S.route.src.name} → ${S.route.dst.name}`;
    $("route-status").textContent = s.reachable
      ? `${name}: RTT ${s.rtt_ms.toFixed(2)} ms at t = ${s.t_s.toFixed(1)} s (radio ${s.radio_ms.toFixed(2)}, lasers ${s.laser_ms.toFixed(2)} ms; ${s.num_isl_hops} laser hops)`
      : `${name}: unreachable at t = ${s.t_s.toFixed(1)} s`;
    force = true;
  }
  drawChart(force);
}

function drawChart(force) {
  const cv = $("rtt-chart"), g = cv.getContext("2d");
  const W = cv.width, H = cv.height, L = 38, R = 6, T = 16, B = 22;
  const st = S.route ? S.route.steps : [];
  // Redrawn only when its time cursor moves by a pixel (a canvas repaint costs a frame's
  // share with software rendering).
  const span = st.length ? Math.max(st[st.length - 1].t_s - st[0].t_s, 1e-9) : 1;
  const cursor = st.length ? Math.round((W - L - R) * (S.t - st[0].t_s) / span) : -1;
  if (!force && cursor === S.chartCursor) return;
  S.chartCursor = cursor;
  g.clearRect(0, 0, W, H);
  if (!S.route) return;
  const ok = st.filter((s) => s.reachable);
  cv.dataset.points = String(ok.length);
  if (!ok.length) { g.fillStyle = "#999"; g.fillText("unreachable over the window", L, H / 2); return; }
  const t0 = st[0].t_s, t1 = Math.max(st[st.length - 1].t_s, t0 + 1e-9);
  const ymax = Math.max(...ok.map((s) => s.rtt_ms)) * 1.08, ymin = 0;
  const X = (t) => L + (W - L - R) * (t - t0) / (t1 - t0);
  const Y = (v) => H - B - (H - T - B) * (v - ymin) / (ymax - ymin);
  g.strokeStyle = "#333"; g.fillStyle = "#9aa3b5"; g.font = "10px sans-serif";
  for (let j = 0; j <= 4; j++) {
    const v = ymin + (ymax - ymin) * j / 4;
    g.beginPath(); g.moveTo(L, Y(v)); g.lineTo(W - R, Y(v)); g.stroke();
    g.fillText(v.toFixed(0), 4, Y(v) + 3);
  }
  g.fillText(`${t0.toFixed(0)} s`, L, H - 6);
  g.fillText(`${t1.toFixed(0)} s`, W - R - 40, H - 6);
  g.fillText("RTT ms", 4, 10);
  const series = [["rtt_ms", "#ffff00", "RTT"], ["laser_ms", "#ff66cc", "lasers"], ["radio_ms", "#66ccff", "radio"]];
  series.forEach(([key, colour, label], j) => {
    g.strokeStyle = colour; g.lineWidth = key === "rtt_ms" ? 2 : 1; g.beginPath();
    let pen = false;
    for (const s of st) {
      if (!s.reachable) { pen = false; continue; }
      if (pen) g.lineTo(X(s.t_s), Y(s[key])); else g.moveTo(X(s.t_s), Y(s[key]));
      pen = true;
    }
    g.stroke();
    g.fillStyle = colour; g.fillText(label, L + 60 + 48 * j, 10);
  });
  g.lineWidth = 1; g.strokeStyle = "#ffffff88";
  g.beginPath(); g.moveTo(X(S.t), T); g.lineTo(X(S.t), H - B); g.stroke();
}

// ---------------------------------------------------------------- time
function setTime(t, playing) {
  const t1 = S.t0 + S.step * Math.max(S.n - 1, 0);
  S.t = Math.max(S.t0, Math.min(t1, t));
  // While playing, the slider and clock are repainted 5 times a second, not every frame.
  const now = performance.now();
  if (!playing || !(now - (S.domAt || 0) < 200)) {
    S.domAt = now;
    $("time").value = String(S.t);
    const when = new Date(Date.parse(S.info.start_utc) + S.t * 1000);
    $("clock").textContent = `t = ${S.t.toFixed(1)} s  (${when.toISOString().replace(".000Z", "Z")})`;
  }
  updateSatellites();
  updateRoute(false);
}

let last = null;
function frame(now) {
  if (!S.cloud.bounded) updateSatellites();  // the particles were just made
  if (last !== null) {
    const dt = (now - last) / 1000;
    S.frames.push(now - last);
    if (S.frames.length > 600) S.frames.shift();
    if (S.playing) {
      const t1 = S.t0 + S.step * Math.max(S.n - 1, 0);
      let t = S.t + dt * S.speed;
      if (t > t1) t = S.t0;
      setTime(t, true);
    }
  }
  last = now;
  requestAnimationFrame(frame);
}

// ---------------------------------------------------------------- start
function fillStations() {
  for (const id of ["src", "dst"]) {
    const sel = $(id);
    const none = document.createElement("option");
    none.value = ""; none.textContent = "(choose a station)";
    sel.appendChild(none);
    for (const s of S.stations) {
      const o = document.createElement("option");
      o.value = String(s.gid); o.textContent = `${s.name} (${s.gid})`;
      sel.appendChild(o);
    }
    sel.addEventListener("change", loadRoute);
  }
}

function fillPolicies() {
  const sel = $("policy");
  const names = S.info.policies.length ? S.info.policies : [];
  names.forEach((n, i) => {
    const o = document.createElement("option"); o.value = String(i); o.textContent = n; sel.appendChild(o);
  });
  const o = document.createElement("option"); o.value = "-1"; o.textContent = "no policy (every country active)";
  sel.appendChild(o);
  sel.value = names.length ? "0" : "-1";
  sel.addEventListener("change", () => setPolicy(Number(sel.value)).catch((e) => status(String(e.message || e), true)));
  const selB = $("policy-b");
  const none = document.createElement("option"); none.value = ""; none.textContent = "(none)";
  selB.appendChild(none);
  for (const o of sel.options) selB.appendChild(o.cloneNode(true));
  selB.value = "";
  selB.addEventListener("change", async () => {
    try {
      S.policyB = selB.value === "" ? null : await getLatest("policyB", `/api/policy?index=${selB.value}`);
      await refreshWhatIf();
    } catch (e) { if (!isAbort(e)) status(String(e.message || e), true); }
  });
}

async function main() {
  const [info, stations, countries] = await Promise.all(
    [getJSON("/api/info"), getJSON("/api/stations"), getJSON("/api/countries")]);
  S.info = info; S.stations = stations; S.countries = countries;
  S.policy = await getJSON(`/api/policy?index=${info.policies.length ? 0 : -1}`);
  $("title").textContent = info.name;
  $("subtitle").textContent = `${info.num_sats.toLocaleString("en")} satellites, ` +
    `${info.num_stations.toLocaleString("en")} stations; start ${info.start_utc}`;
  await loadPositions();
  S.globe = makeGlobe();
  legend(); policySummary(); fillStations(); fillPolicies();
  const t1 = S.t0 + S.step * Math.max(S.n - 1, 0);
  const slider = $("time");
  slider.min = String(S.t0); slider.max = String(t1); slider.step = "any";
  slider.addEventListener("input", () => setTime(Number(slider.value)));
  $("play").addEventListener("click", () => {
    S.playing = !S.playing; $("play").textContent = S.playing ? "Pause" : "Play";
    setPixelRatio(S.globe, S.playing);
  });
  $("speed").addEventListener("change", () => { S.speed = Number($("speed").value); });
  $("lasers").checked = false;
  $("lasers").addEventListener("change", () =>
    setLasers($("lasers").checked).catch((e) => status(String(e.message || e), true)));
  $("layer").value = "policy";
  $("layer").addEventListener("change", () =>
    setLayer($("layer").value).catch((e) => status(String(e.message || e), true)));
  setTime(S.t0);
  requestAnimationFrame(frame);
  S.ready = true;
  status(`ready: ${S.n} position samples every ${S.step} s`);
}

main().catch((e) => status(`error: ${e.message || e}`, true));
