/* modeltower model page: the drift panel (GET .../drift, .../drift/timeseries, .../drift/distribution). */
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const C = MT.COLORS;
  const DRIFT_COLOR = "#e5534b";

  // ------------------------------------------------------------ pure helpers (also used by tests)

  /** Score relative to the threshold, > 1 when drifted, comparable across kinds; null: no score. */
  function severity(c) {
    if (c.score === null || c.score === undefined) return null;
    if (c.kind === "p_value") return c.threshold / Math.max(c.score, 1e-300);
    return c.threshold > 0 ? c.score / c.threshold : c.score;
  }

  /**
   * Drifted columns first, then by severity: distances by score descending, p-values by score
   * ascending (relative to the threshold when thresholds differ); columns without a score last.
   * Stable: ties keep the API's order (features by name, then prediction, then score).
   */
  function sortColumns(cols) {
    return cols.slice().sort((a, b) => {
      if (Boolean(a.drift) !== Boolean(b.drift)) return a.drift ? -1 : 1;
      const sa = severity(a), sb = severity(b);
      if (sa === null || sb === null) return (sa === null) - (sb === null);
      return sb - sa;
    });
  }

  /** Bucket of the score time series: hourly up to seven days, daily beyond. */
  const bucketFor = (spanS) => (spanS <= 7 * 86400 ? "1h" : "1d");

  /** Verdict of one column: "drift", "ok" or "no data". */
  function verdict(c) {
    if (c.score === null || c.score === undefined) return "no data";
    return c.drift ? "drift" : "ok";
  }

  function fmtScore(x) {
    if (x === null || x === undefined || Number.isNaN(x)) return "–";
    if (x === 0) return "0";
    if (Math.abs(x) < 0.001) return x.toExponential(1);
    return String(Number(x.toPrecision(3)));
  }

  function svg(name, attrs) {
    const e = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    return e;
  }

  /**
   * A column's score over time as a small SVG: the line (broken where a bucket has no value),
   * the threshold dashed, drifted buckets as red dots. Built from elements, never markup.
   */
  function sparkline(col, timestamps, width, height) {
    const w = width || 112, h = height || 28, pad = 3;
    const scores = col.scores || [];
    const vals = scores.filter((v) => v !== null && v !== undefined);
    const box = svg("svg", { width: w, height: h, viewBox: "0 0 " + w + " " + h, class: "spark",
      role: "img" });
    box.dataset.points = String(vals.length);
    if (!vals.length) return box;
    const pValue = col.kind === "p_value";
    const top = pValue ? 1 : Math.max(col.threshold * 1.5, ...vals) || 1;
    const n = scores.length;
    const x = (i) => (n === 1 ? w / 2 : pad + (i * (w - 2 * pad)) / (n - 1));
    const y = (v) => h - pad - (Math.min(v, top) / top) * (h - 2 * pad);
    const ty = y(col.threshold);
    box.appendChild(svg("line", { x1: 0, x2: w, y1: ty, y2: ty, class: "spark-threshold" }));
    let seg = [];
    const flush = () => {
      if (seg.length > 1) box.appendChild(svg("polyline", { points: seg.join(" "), class: "spark-line" }));
      else if (seg.length === 1) {
        const [cx, cy] = seg[0].split(",");
        box.appendChild(svg("circle", { cx, cy, r: 1.6, class: "spark-dot" }));
      }
      seg = [];
    };
    scores.forEach((v, i) => {
      if (v === null || v === undefined) { flush(); return; }
      seg.push(x(i).toFixed(1) + "," + y(v).toFixed(1));
    });
    flush();
    (col.drift || []).forEach((d, i) => {
      if (d) box.appendChild(svg("circle", { cx: x(i), cy: y(scores[i]), r: 2.2, class: "spark-drift" }));
    });
    const title = svg("title", {});
    title.textContent = col.name + ": latest score " + fmtScore(vals[vals.length - 1]) +
      " (threshold " + fmtScore(col.threshold) + "); " + vals.length + " of " + n + " buckets" +
      (timestamps && timestamps.length ? " since " + new Date(timestamps[0]).toLocaleString() : "");
    box.appendChild(title);
    return box;
  }

  /** Reference and current proportions per bin or value, overlaid. */
  function distributionFigure(d) {
    const labels = (d.labels || []).map(MT.plotText);
    const bar = (name, y, color) => ({ type: "bar", name, x: labels, y, opacity: 0.62,
      marker: { color }, hovertemplate: "%{y:.2%}" });
    return {
      traces: [bar("reference", d.reference || [], C.muted), bar("current", d.current || [], C.series[0])],
      layout: { barmode: "overlay", bargap: d.edges ? 0.04 : 0.25, hovermode: "x unified",
        xaxis: { type: "category", tickangle: labels.length > 8 ? -35 : 0 },
        yaxis: { tickformat: ".0%", rangemode: "tozero" }, margin: { t: 28 },
        legend: { orientation: "h", x: 1, xanchor: "right", y: 1.02, yanchor: "bottom" } },
    };
  }

  window.MTDrift = { severity, sortColumns, bucketFor, verdict, fmtScore, sparkline, distributionFigure };

  // ------------------------------------------------------------ the panel

  const root = document.getElementById("model-page");
  const panel = document.getElementById("panel-drift");
  if (!root || !panel) return;
  const MODEL = root.dataset.model;
  const BASE = MT.modelPath(MODEL) + "/drift";
  const REFRESH_MS = 30000;
  const $ = (id) => document.getElementById(id);
  const dist = $("drift-distribution");
  const rows = new Map(); // column key -> {tr, cells}
  let selected = null; // key of the column whose distribution is shown
  let distToken = 0;
  let lastState = JSON.parse(root.dataset.state);
  const key = (c) => c.role + ":" + c.name;

  /** The message of a panel whose status is not "ok"; how to set a reference when it has none. */
  function showMessage(box, body) {
    const parts = [MT.el("p", null, body.message || "No drift for this window (" + body.status + ").")];
    // The server's message may already say how; otherwise say it here.
    if (!body.reference && !/\/reference\b/.test(body.message || "")) {
      const howto = MT.el("p", "muted");
      const quoted = /^[\w.:@/-]+$/.test(MODEL) ? MODEL : "'" + MODEL.replace(/'/g, "'\\''") + "'";
      howto.append("Set a reference with ", MT.el("code", null, "PUT " + MT.modelPath(MODEL) + "/reference"),
        " (a dataset, or a window of this model's events such as ", MT.el("code", null, '{"first": "7d"}'),
        ") or ", MT.el("code", null, "modeltower reference set --model " + quoted + " FILE"), ".");
      parts.push(howto);
    }
    box.replaceChildren(...parts);
    box.hidden = false;
  }

  function summary(body) {
    const ds = body.dataset;
    const badge = $("drift-verdict");
    badge.className = "badge " + (ds.drift ? "drift" : "ok");
    badge.textContent = ds.drift ? "dataset drift" : "no dataset drift";
    $("drift-counts").textContent = ds.drifted + " of " + ds.total + " features drifted · share " +
      MT.fmtPct(ds.share) + " (dataset drift at " + MT.fmtPct(ds.threshold) + ")" +
      (body.null_drifted ? " · null share changed in " + body.null_drifted + " column" +
        (body.null_drifted === 1 ? "" : "s") : "");
    const ref = body.reference || {};
    $("drift-rows").textContent = "reference: " + (ref.kind || "?") + ", " +
      MT.fmtNum(body.rows ? body.rows.reference : ref.rows, 0) + " rows · current: " +
      MT.fmtNum(body.rows ? body.rows.current : null, 0) + " rows";
  }

  function makeRow(c) {
    const tr = MT.el("tr");
    tr.tabIndex = 0;
    const k = key(c);
    tr.dataset.column = c.name;
    tr.dataset.role = c.role;
    const td = (cls) => { const x = MT.el("td", cls); tr.appendChild(x); return x; };
    const name = td("name");
    name.append(MT.el("span", "col-name", c.name));
    if (c.role !== "feature") name.append(MT.el("span", "role", c.role));
    const method = td("method");
    const r = { tr, type: MT.el("span", "type"), method: MT.el("span", null), score: td("num"), threshold: td("num"),
      verdict: td("verdict"), nulls: td("nulls"), spark: td("spark") };
    method.append(r.type, r.method);
    r.verdict.append(MT.el("span", "badge"));
    tr.addEventListener("click", () => select(k));
    tr.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(k); }
    });
    rows.set(k, r);
    return r;
  }

  function fillRow(r, c, series, timestamps) {
    const v = verdict(c);
    r.tr.dataset.verdict = v;
    r.type.textContent = c.type || "–";
    r.method.textContent = c.method || "–";
    r.method.title = c.kind === "p_value" ? "p-value: drift when below the threshold"
      : "distance: drift when at least the threshold";
    r.score.textContent = fmtScore(c.score);
    r.threshold.textContent = fmtScore(c.threshold);
    const badge = r.verdict.firstChild;
    badge.className = "badge " + (v === "no data" ? "nodata" : v);
    badge.textContent = v;
    r.verdict.title = c.message || "";
    const nc = c.null_change;
    r.nulls.replaceChildren(MT.el("span", null, nc
      ? MT.fmtPct(nc.reference_share) + " → " + MT.fmtPct(nc.current_share) : "–"));
    if (nc && nc.drift) r.nulls.append(MT.el("span", "badge warning flag", "changed"));
    r.nulls.title = nc && nc.p_value !== null && nc.p_value !== undefined
      ? "change " + MT.fmtPct(nc.change, 2) + ", p = " + fmtScore(nc.p_value) : "";
    r.spark.replaceChildren(series ? sparkline(series, timestamps) : MT.el("span", "muted", "–"));
    r.spark.dataset.state = series && (series.scores || []).some((s) => s !== null) ? "drawn" : "empty";
  }

  function renderTable(body, ts) {
    const cols = sortColumns(body.columns || []);
    const series = new Map(((ts && ts.status === "ok" && ts.columns) || []).map((c) => [key(c), c]));
    const stamps = ts && ts.timestamps;
    const seen = new Set();
    const tbody = $("drift-columns");
    cols.forEach((c) => {
      const k = key(c);
      seen.add(k);
      const r = rows.get(k) || makeRow(c);
      fillRow(r, c, series.get(k), stamps);
    });
    for (const [k, r] of rows) if (!seen.has(k)) { r.tr.remove(); rows.delete(k); }
    const want = cols.map((c) => rows.get(key(c)).tr);
    if (want.some((tr, i) => tbody.children[i] !== tr)) tbody.replaceChildren(...want);
    if (!selected || !rows.has(selected)) selected = cols.length ? key(cols[0]) : null;
    markSelected();
  }

  function markSelected() {
    for (const [k, r] of rows) {
      r.tr.classList.toggle("selected", k === selected);
      r.tr.setAttribute("aria-selected", String(k === selected));
    }
  }

  function select(k) {
    selected = k;
    markSelected();
    loadDistribution(lastState);
  }

  async function loadDistribution(state) {
    const token = ++distToken;
    if (!selected) { dist.hidden = true; return; }
    const at = selected.indexOf(":");
    const role = selected.slice(0, at), column = selected.slice(at + 1);
    dist.hidden = false;
    dist.dataset.column = column;
    $("drift-distribution-title").textContent = column + ": reference vs current";
    let d;
    try {
      d = await MT.api(BASE + "/distribution", Object.assign(MT.filterParams(state, true), { column, role }));
    } catch (err) {
      if (token === distToken) await MT.draw(dist, [], null, "Could not load the distribution: " + err.message);
      return;
    }
    if (token !== distToken) return; // another column was clicked meanwhile
    $("drift-distribution-hint").textContent = d.status === "ok"
      ? (d.type || "") + " · " + MT.fmtNum(d.reference_count, 0) + " reference / " +
        MT.fmtNum(d.current_count, 0) + " current values" : "";
    const fig = distributionFigure(d);
    await MT.draw(dist, d.status === "ok" ? fig.traces : [], fig.layout,
      d.message || "No values of this column in the window.");
    dist.dataset.rendered = String(Number(dist.dataset.rendered || 0) + 1);
  }

  async function tick(state, stale) {
    lastState = state;
    const params = MT.filterParams(state, true);
    let drawn = true;
    try {
      const [body, ts] = await Promise.all([
        MT.api(BASE, params),
        MT.api(BASE + "/timeseries", Object.assign({}, params, { bucket: bucketFor(MT.spanSeconds(state)) }))
          .catch((err) => { console.warn("modeltower drift timeseries failed:", err); return null; }),
      ]);
      if (stale()) { drawn = false; return; }
      panel.dataset.status = body.status;
      const ok = body.status === "ok" && body.dataset;
      const hasColumns = (body.columns || []).length > 0;
      if (body.status !== "ok") showMessage($("drift-message"), body);
      else $("drift-message").hidden = true;
      $("drift-summary").hidden = !ok;
      if (ok) summary(body);
      $("drift-body").hidden = !hasColumns;
      if (hasColumns) {
        renderTable(body, ts);
        await loadDistribution(state);
      }
      panel.dataset.state = ok ? "ok" : "message";
    } catch (err) {
      panel.dataset.state = "error";
      const box = $("drift-message");
      box.replaceChildren(MT.el("p", null, "Could not load drift: " + err.message));
      box.hidden = false;
    } finally {
      if (drawn) panel.dataset.rendered = String(Number(panel.dataset.rendered || 0) + 1);
    }
  }

  MT.panelPoll(root, tick, REFRESH_MS);
})();
