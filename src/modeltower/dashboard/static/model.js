/* modeltower model page: state, controls, fetching /v1 JSON and drawing every chart. */
"use strict";

(function () {
  const root = document.getElementById("model-page");
  const MODEL = root.dataset.model;
  const BASE = MT.modelPath(MODEL);
  const state = JSON.parse(root.dataset.state);
  const $ = (id) => document.getElementById(id);
  const card = (id) => $("chart-" + id);
  const NO_DATA = "No events in this window. Pick a longer time range or clear the filters.";
  const NO_BIZ = "No business outcomes (group, converted, revenue) in this window.";
  const BUCKETS = [["10s", 10], ["30s", 30], ["1m", 60], ["5m", 300], ["15m", 900], ["30m", 1800],
    ["1h", 3600], ["2h", 7200], ["6h", 21600], ["12h", 43200], ["1d", 86400], ["7d", 604800]];
  let info = null;

  const spanSeconds = () => MT.spanSeconds(state);

  /** The smallest round bucket that gives at most ~150 points. */
  function bucket() {
    const span = spanSeconds();
    return BUCKETS.find(([, s]) => span / s <= 150) || BUCKETS[BUCKETS.length - 1];
  }

  /** Query parameters every request shares: window and filters. */
  const baseParams = (withVersion) => MT.filterParams(state, withVersion);

  function syncUrl() {
    const q = new URLSearchParams();
    if (state.window) q.set("window", state.window);
    if (state.start) q.set("start", state.start);
    if (state.end) q.set("end", state.end);
    if (state.version) q.set("version", state.version);
    if (state.compare) q.set("compare", "1");
    if (state.group) q.set("group", state.group);
    if (state.rolling !== "0") q.set("rolling", state.rolling);
    state.tags.forEach(([k, v]) => q.append("tag." + k, v));
    history.replaceState(null, "", "/models/" + encodeURIComponent(MODEL) + "?" + q.toString());
  }

  function setOptions(select, values, current, allLabel) {
    const want = [""].concat(values);
    if (current && !want.includes(current)) want.push(current);
    const have = [...select.options].map((o) => o.value);
    if (have.join("\u0000") !== want.join("\u0000")) {
      select.replaceChildren(...want.map((v) => {
        const o = document.createElement("option");
        o.value = v;
        o.textContent = v === "" ? allLabel : v;
        return o;
      }));
    }
    select.value = current || "";
  }

  function renderControls() {
    document.querySelectorAll("#ranges button").forEach((b) => {
      const on = b.dataset.window === (state.window || "custom");
      b.classList.toggle("active", on);
      b.setAttribute("aria-pressed", String(on));
    });
    $("custom-range").hidden = Boolean(state.window);
    $("compare").checked = state.compare;
    $("version").disabled = state.compare;
    $("rolling").value = state.rolling;
    const chips = $("tag-chips");
    chips.replaceChildren(...state.tags.map(([k, v], i) => {
      const chip = document.createElement("span");
      chip.className = "chip";
      chip.textContent = k + " = " + v; // text, never HTML
      const x = document.createElement("button");
      x.type = "button";
      x.textContent = "×";
      x.setAttribute("aria-label", "remove tag filter " + k);
      x.addEventListener("click", () => { state.tags.splice(i, 1); changed(); });
      chip.appendChild(x);
      return chip;
    }));
  }

  function kpi(key, label, value, sub) {
    const el = root.querySelector('[data-kpi="' + key + '"]');
    if (label) el.querySelector(".kpi-label").textContent = label;
    el.querySelector(".kpi-value").textContent = value;
    el.querySelector(".kpi-sub").textContent = sub || "";
  }

  function renderKpis(m) {
    kpi("count", null, MT.fmtNum(m.count, 0), MT.fmtNum(m.throughput_per_min) + " / min");
    kpi("error_rate", null, MT.fmtPct(m.error_rate, 2), MT.fmtNum(m.errors, 0) + " errors");
    const lat = m.latency_ms;
    kpi("p95", null, MT.fmtMs(lat && lat.p95), lat ? "p50 " + MT.fmtMs(lat.p50) + " · p99 " + MT.fmtMs(lat.p99) : "");
    if (m.regression) {
      kpi("quality", "MAE", MT.fmtNum(m.regression.mae), "RMSE " + MT.fmtNum(m.regression.rmse));
    } else {
      const c = m.classification;
      kpi("quality", "Accuracy", MT.fmtPct(c && c.accuracy), c ? "F1 " + MT.fmtPct(c.f1) : "");
    }
    kpi("coverage", null, MT.fmtPct(m.label_coverage), MT.fmtNum(m.labeled_count, 0) + " labeled");
    const u = m.business && m.business.uplift;
    kpi("uplift", null, u ? (u.absolute >= 0 ? "+" : "") + MT.fmtPct(u.absolute, 2) : "–",
      u ? "95 % CI " + MT.fmtPct(u.ci95_low, 2) + " … " + MT.fmtPct(u.ci95_high, 2) + " · p " + u.p_value.toFixed(3) : "");
  }

  /** Everything the page shows, fetched in parallel. */
  async function load() {
    const [bname, bsec] = bucket();
    const roll = Number(state.rolling) > 1 ? bsec * Number(state.rolling) + "s" : null;
    const task = (info && info.task) || "classification";
    const qkeys = MTCharts.qualityMetrics(task).keys.map(([k]) => k);
    const ops = ["count", "error_rate", "latency_p50", "latency_p95", "latency_p99", "label_coverage", "revenue"];
    const ts = (metrics, extra) => MT.api(BASE + "/timeseries", Object.assign(baseParams(true),
      { metrics: metrics.join(","), bucket: bname }, extra || {}));
    const versions = state.compare && info
      ? info.versions.map((v) => v.version).filter((v) => v !== null) : [];
    const [model, metrics, main, rolled, perVersion, control, treatment] = await Promise.all([
      MT.api(BASE),
      MT.api(BASE + "/metrics", baseParams(true)),
      ts(ops.concat(qkeys)),
      roll ? ts(qkeys, { rolling: roll }) : null,
      Promise.all(versions.map(async (v) => ({ name: v,
        ts: await ts(["count", "error_rate", "latency_p95", "label_coverage", "revenue"].concat(qkeys),
          { version: v }) }))),
      state.group ? null : ts(["count", "conversion_rate"], { group: "control", rolling: roll }),
      state.group ? null : ts(["count", "conversion_rate"], { group: "treatment", rolling: roll }),
    ]);
    let perVersionRolled = [];
    if (roll && versions.length) {
      perVersionRolled = await Promise.all(versions.map(async (v) => ({
        name: v, ts: await ts(qkeys, { version: v, rolling: roll }) })));
    }
    return { model, metrics, main, rolled, perVersion, perVersionRolled, control, treatment, roll };
  }

  async function refresh() {
    if (!info) info = await MT.api(BASE);
    const d = await load();
    info = d.model;
    const versions = info.versions.map((v) => v.version).filter((v) => v !== null);
    setOptions($("version"), versions, state.version, "all versions");
    const groups = d.metrics.business ? Object.keys(d.metrics.business.groups).sort() : [];
    setOptions($("group"), groups, state.group, "all groups");
    renderKpis(d.metrics);
    const cmp = state.compare ? d.perVersion : null;
    const empty = d.metrics.count ? "No values in this window." : NO_DATA;
    const isReg = info.task === "regression";
    const qTitle = isReg ? "MAE / RMSE" : "Accuracy / F1";
    card("quality").querySelector("h3").textContent = qTitle + (d.roll ? " (rolling " + state.rolling + " buckets)" : "");
    const qMain = d.rolled || d.main;
    const qCmp = state.compare ? (d.roll ? d.perVersionRolled : d.perVersion) : null;
    const figs = [
      ["volume", MTCharts.volume(d.main, cmp), NO_DATA],
      ["latency", MTCharts.latency(d.main, cmp), d.metrics.count ? "No latency reported in this window." : NO_DATA],
      ["errors", MTCharts.ratio(d.main, cmp, "error_rate", "error rate", ".1%"), NO_DATA],
      ["coverage", MTCharts.ratio(d.main, cmp, "label_coverage", "label coverage"), empty],
      ["quality", MTCharts.quality(info.task, qMain, qCmp),
        d.metrics.count ? "No ground truth yet in this window: quality needs labels (feedback)." : NO_DATA],
      ["confusion", MTCharts.confusion(d.metrics.classification),
        isReg ? "Not applicable: this is a regression model." : "No labeled events in this window."],
      ["conversion", MTCharts.conversion(d.metrics.business), NO_BIZ],
      ["uplift", MTCharts.uplift(d.control, d.treatment),
        state.group ? "Uplift compares groups: clear the group filter to see it." : "Uplift needs events in both the control and the treatment group."],
      ["revenue", MTCharts.revenue(d.main, cmp), NO_BIZ],
    ];
    // Zero events: say so instead of drawing a flat line of zeros.
    const none = d.metrics.count === 0;
    await Promise.all(figs.map(([id, fig, msg]) =>
      MT.draw(card(id), none ? [] : fig.traces, fig.layout, none ? NO_DATA : msg)));
    root.dataset.rendered = String(Number(root.dataset.rendered || 0) + 1);
    if (!window.performance.getEntriesByName("mt-first-render").length) performance.mark("mt-first-render");
  }

  let refreshNow = null;
  function changed() {
    renderControls();
    syncUrl();
    if (refreshNow) refreshNow();
    // The drift and data-quality panels (drift.js, quality.js) refresh on their own schedule.
    root.dispatchEvent(new CustomEvent("mt:filters", { detail: JSON.parse(JSON.stringify(state)) }));
  }

  function toLocalInput(date) {
    const off = date.getTimezoneOffset() * 60000;
    return new Date(date.getTime() - off).toISOString().slice(0, 16);
  }

  function bind() {
    document.querySelectorAll("#ranges button").forEach((b) => b.addEventListener("click", () => {
      if (b.dataset.window === "custom") {
        const now = new Date();
        $("custom-start").value = toLocalInput(new Date(now.getTime() - spanSeconds() * 1000));
        $("custom-end").value = toLocalInput(now);
        $("custom-range").hidden = false;
        return;
      }
      Object.assign(state, { window: b.dataset.window, start: null, end: null });
      changed();
    }));
    $("custom-apply").addEventListener("click", () => {
      const s = Date.parse($("custom-start").value), e = Date.parse($("custom-end").value);
      if (Number.isNaN(s) || Number.isNaN(e) || s >= e) {
        MT.setBanner("Custom range: the start must be before the end.");
        return;
      }
      Object.assign(state, { window: null, start: new Date(s).toISOString(), end: new Date(e).toISOString() });
      changed();
    });
    $("version").addEventListener("change", (e) => { state.version = e.target.value || null; changed(); });
    $("compare").addEventListener("change", (e) => { state.compare = e.target.checked; changed(); });
    $("group").addEventListener("change", (e) => { state.group = e.target.value || null; changed(); });
    $("rolling").addEventListener("change", (e) => { state.rolling = e.target.value; changed(); });
    const addTag = () => {
      const raw = $("tag-input").value;
      const at = raw.indexOf("=");
      if (at < 1) { MT.setBanner("Tag filter: write key=value."); return; }
      state.tags.push([raw.slice(0, at).trim(), raw.slice(at + 1).trim()]);
      $("tag-input").value = "";
      changed();
    };
    $("tag-add").addEventListener("click", addTag);
    $("tag-input").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); addTag(); } });
    $("controls").addEventListener("submit", (e) => e.preventDefault());
  }

  bind();
  renderControls();
  refreshNow = MT.poll(refresh, 5000);
})();
