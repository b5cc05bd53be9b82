/* modeltower dashboard: helpers shared by every page (no inline script anywhere: see CSP). */
"use strict";

(function () {
  const css = getComputedStyle(document.documentElement);
  const cssVar = (name, fallback) => (css.getPropertyValue(name) || fallback).trim();

  const COLORS = {
    text: cssVar("--text", "#d8dee9"),
    muted: cssVar("--muted", "#8b95a7"),
    grid: cssVar("--grid", "#2a3140"),
    series: ["#5b9cf6", "#f2a94e", "#5fcf8e", "#e46f8a", "#b48ef0", "#4fd1d9", "#d6d65c"],
    band: "rgba(91, 156, 246, 0.22)",
  };

  /** Text for Plotly (which understands a few HTML tags): make user strings inert. */
  function plotText(s) {
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  /** The answer's JSON, or an Error carrying the API's message and the HTTP status. */
  async function answer(res) {
    if (!res.ok) {
      let detail = res.statusText;
      try {
        const body = await res.json();
        const d = body.detail;
        detail = (d && (d.message || (typeof d === "string" ? d : JSON.stringify(d)))) || detail;
        if (d && d.field) detail = d.field + ": " + detail;
      } catch (e) { /* not JSON */ }
      const err = new Error(detail);
      err.status = res.status;
      throw err;
    }
    return res.json();
  }

  /** GET a /v1 JSON endpoint; params may hold arrays of [key, value] pairs under "pairs". */
  async function api(path, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) {
      if (k === "pairs") v.forEach(([pk, pv]) => q.append(pk, pv));
      else if (v !== null && v !== undefined && v !== "") q.append(k, v);
    }
    const qs = q.toString();
    return answer(await fetch(path + (qs ? "?" + qs : ""), { headers: { Accept: "application/json" } }));
  }

  /** POST a JSON body to a /v1 endpoint; the answer's JSON (errors as for ``api``). */
  async function post(path, body) {
    return answer(await fetch(path, {
      method: "POST",
      headers: { Accept: "application/json", "Content-Type": "application/json" },
      body: JSON.stringify(body === undefined ? {} : body),
    }));
  }

  const modelPath = (name) => "/v1/models/" + encodeURIComponent(name);

  function fmtNum(x, digits) {
    if (x === null || x === undefined || Number.isNaN(x)) return "–";
    if (Math.abs(x) >= 1e6) return (x / 1e6).toFixed(1) + " M";
    if (Math.abs(x) >= 1e4) return (x / 1e3).toFixed(1) + " k";
    return Number(x).toLocaleString(undefined, { maximumFractionDigits: digits === undefined ? 2 : digits });
  }
  const fmtPct = (x, digits) =>
    x === null || x === undefined ? "–" : (100 * x).toFixed(digits === undefined ? 1 : digits) + " %";
  const fmtMs = (x) => (x === null || x === undefined ? "–" : fmtNum(x, x < 10 ? 1 : 0) + " ms");

  function fmtAgo(iso) {
    if (!iso) return "never";
    const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (s < 60) return Math.round(s) + " s ago";
    if (s < 3600) return Math.round(s / 60) + " min ago";
    if (s < 86400) return (s / 3600).toFixed(1) + " h ago";
    return (s / 86400).toFixed(1) + " d ago";
  }

  /** Base layout for every chart: transparent, readable on the dark theme. */
  function layout(extra) {
    const axis = { gridcolor: COLORS.grid, zerolinecolor: COLORS.grid, linecolor: COLORS.grid,
      automargin: true };
    const base = {
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      font: { color: COLORS.text, size: 12, family: "system-ui, sans-serif" },
      margin: { l: 48, r: 12, t: 8, b: 36 }, height: 260,
      xaxis: Object.assign({}, axis), yaxis: Object.assign({}, axis, { rangemode: "tozero" }),
      legend: { orientation: "h", y: -0.18, font: { color: COLORS.muted } },
      hovermode: "x unified", showlegend: true,
    };
    const out = Object.assign({}, base, extra || {});
    for (const k of ["xaxis", "yaxis", "legend", "margin"]) {
      if (extra && extra[k]) out[k] = Object.assign({}, base[k], extra[k]);
    }
    return out;
  }

  const CONFIG = { displaylogo: false, responsive: true, displayModeBar: false };

  function hasData(traces) {
    return traces.some((t) => {
      const vals = t.type === "heatmap" ? [].concat(...(t.z || [])) : t.y || t.values || [];
      return vals.some((v) => v !== null && v !== undefined && !Number.isNaN(v));
    });
  }

  /**
   * Draw a figure into a chart card (<section class="chart">) or show its empty message.
   * The card's data-state becomes "drawn" or "empty" so users and tests can tell them apart.
   */
  function draw(card, traces, lay, emptyMessage) {
    const plot = card.querySelector(".plot");
    const empty = card.querySelector(".chart-empty");
    if (!traces || !traces.length || !hasData(traces)) {
      if (plot.data) Plotly.purge(plot);
      plot.hidden = true;
      empty.textContent = emptyMessage || "No data in this window.";
      empty.hidden = false;
      card.dataset.state = "empty";
      return Promise.resolve();
    }
    empty.hidden = true;
    plot.hidden = false;
    return Plotly.react(plot, traces, layout(lay), CONFIG).then(() => {
      card.dataset.state = "drawn";
    });
  }

  function setLive(ok, text) {
    const el = document.getElementById("live");
    el.textContent = text;
    el.classList.toggle("stale", !ok);
  }

  function setBanner(text) {
    const el = document.getElementById("banner");
    el.textContent = text || "";
    el.hidden = !text;
  }

  /**
   * Call ``tick`` now and then every ``ms`` (never overlapping, paused while the tab is hidden).
   * Returns a function that refreshes at once.
   */
  function poll(tick, ms) {
    let timer = null;
    let running = false;
    let again = false;
    async function run() {
      clearTimeout(timer);
      if (running) { again = true; return; }
      running = true;
      try {
        await tick();
        setBanner("");
        setLive(true, "live · updated " + new Date().toLocaleTimeString());
      } catch (err) {
        console.warn("modeltower refresh failed:", err);
        setLive(false, "offline · retrying");
        setBanner("Could not load data: " + err.message + " — retrying.");
      } finally {
        running = false;
        if (again) { again = false; setTimeout(run, 0); } else { timer = setTimeout(run, ms); }
      }
    }
    document.addEventListener("visibilitychange", () => { if (!document.hidden) run(); });
    run();
    return run;
  }

  const UNIT_S = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

  /** Length in seconds of a model page's time range (a trailing window or start/end). */
  function spanSeconds(state) {
    if (state.window) {
      const m = /^(\d+(?:\.\d+)?)([smhdw])$/.exec(state.window);
      return m ? Number(m[1]) * UNIT_S[m[2]] : 86400;
    }
    const end = state.end ? Date.parse(state.end) : Date.now();
    return Math.max(60, (end - Date.parse(state.start)) / 1000);
  }

  /** Query parameters of a model page's window and filters (version unless comparing). */
  function filterParams(state, withVersion) {
    const p = { window: state.window, start: state.start, end: state.end, group: state.group,
      pairs: state.tags.map(([k, v]) => ["tag." + k, v]) };
    if (withVersion && !state.compare) p.version = state.version;
    return p;
  }

  /**
   * Refresh a model-page panel every ``ms`` and at once when the page's filters change (model.js
   * dispatches "mt:filters" on ``root`` with the new state). ``tick(state, stale)`` draws;
   * ``stale()`` turns true once the filters changed again, so a slow answer never replaces a
   * newer one. Runs never overlap; ``tick`` shows its own errors.
   */
  function panelPoll(root, tick, ms) {
    let state = JSON.parse(root.dataset.state);
    let gen = 0;
    let timer = null;
    let running = false;
    let again = false;
    async function run() {
      clearTimeout(timer);
      if (running) { again = true; return; }
      running = true;
      const mine = gen;
      try {
        await tick(state, () => mine !== gen);
      } catch (err) {
        console.warn("modeltower panel refresh failed:", err);
      } finally {
        running = false;
        if (again) { again = false; setTimeout(run, 0); } else { timer = setTimeout(run, ms); }
      }
    }
    root.addEventListener("mt:filters", (e) => { state = e.detail; gen += 1; run(); });
    run();
    return run;
  }

  /** An element with a class and text content (never HTML). */
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function installCopyButtons() {
    document.querySelectorAll("button.copy[data-copy]").forEach((btn) => {
      btn.addEventListener("click", async () => {
        const text = document.getElementById(btn.dataset.copy).textContent;
        try {
          await navigator.clipboard.writeText(text);
        } catch (e) {
          const range = document.createRange();
          range.selectNodeContents(document.getElementById(btn.dataset.copy));
          const sel = window.getSelection();
          sel.removeAllRanges();
          sel.addRange(range);
          document.execCommand("copy");
        }
        btn.textContent = "Copied";
        setTimeout(() => { btn.textContent = "Copy"; }, 1500);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", installCopyButtons);

  window.MT = { COLORS, api, post, modelPath, plotText, fmtNum, fmtPct, fmtMs, fmtAgo, layout, CONFIG,
    draw, poll, setLive, setBanner, spanSeconds, filterParams, panelPoll, el };
})();
