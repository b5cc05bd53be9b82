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

/* modeltower model page: the alerts panel (GET /v1/alerts, /v1/alerts/history, /v1/alerts/rules). */
(function () {
  const root = document.getElementById("model-page");
  const panel = document.getElementById("panel-alerts");
  if (!root || !panel) return;
  const MODEL = root.dataset.model;
  const REFRESH_MS = 10000;
  const CHANGES = 12; // state changes listed
  const $ = (id) => document.getElementById(id);
  const timeline = $("alert-timeline");
  const button = $("alerts-presets");
  const result = $("alerts-presets-result");
  let interval = null; // seconds between evaluations, from the last answer

  /** [start, end] of the page's time range in ms. */
  function windowMs(state) {
    const now = Date.now();
    if (state.window) return [now - MT.spanSeconds(state) * 1000, now];
    return [Date.parse(state.start), state.end ? Date.parse(state.end) : now];
  }

  /** A measured value or threshold: four significant digits, no unit prefixes. */
  const fmtValue = (x) => (x === null || x === undefined || !Number.isFinite(x) ? "–"
    : Number(x.toPrecision(4)).toLocaleString(undefined, { maximumFractionDigits: 8 }));
  const label = (a) => a.rule + (a.version ? " (" + a.version + ")" : "");

  function timeEl(iso, cls) {
    const t = MT.el("time", cls, MT.fmtAgo(iso));
    if (iso) {
      t.dateTime = iso;
      t.title = new Date(iso).toLocaleString();
    }
    return t;
  }

  /** What the value is compared with: "< 0.8", or "absolute change < -0.05" with a baseline. */
  function condition(a, rule) {
    if (!rule) return fmtValue(a.threshold);
    return (rule.baseline ? rule.change + " change " : "") + rule.op + " " + fmtValue(a.threshold);
  }

  function alertRow(a, rule) {
    const tr = MT.el("tr", a.state === "firing" || a.state === "pending" ? "active" : "quiet");
    tr.dataset.fingerprint = a.fingerprint;
    tr.dataset.rule = a.rule;
    tr.dataset.state = a.state;
    const td = (cls) => { const x = MT.el("td", cls); tr.appendChild(x); return x; };
    const state = td("state");
    state.append(MT.el("span", "badge " + a.state, a.state));
    if (a.silenced) state.append(MT.el("span", "badge silenced flag", "silenced"));
    const name = td("name");
    name.append(MT.el("span", "col-name", a.rule));
    if (a.severity) name.append(MT.el("span", "badge sev " + a.severity, a.severity));
    td("version").textContent = a.version || "all versions";
    const summary = td("summary");
    summary.textContent = a.summary || "";
    if (a.message && a.message !== a.summary) summary.title = a.message;
    const value = td("num value");
    value.append(MT.el("span", null, fmtValue(a.value)));
    if (a.baseline !== null && a.baseline !== undefined) {
      value.append(MT.el("span", "sub", "baseline " + fmtValue(a.baseline)));
    }
    if (a.samples !== null && a.samples !== undefined) value.title = MT.fmtNum(a.samples, 0) + " samples";
    td("threshold").textContent = condition(a, rule);
    td("since").append(timeEl(a.since));
    return tr;
  }

  function changeItem(t) {
    const li = MT.el("li", "change");
    li.dataset.from = t.from;
    li.dataset.to = t.to;
    li.dataset.rule = t.rule;
    const move = MT.el("span", "move");
    move.append(MT.el("span", "badge " + t.from, t.from), MT.el("span", "arrow", "→"),
      MT.el("span", "badge " + t.to, t.to));
    const what = MT.el("span", "what");
    what.append(MT.el("span", "col-name", label(t)));
    if (t.silenced) what.append(MT.el("span", "badge silenced flag", "silenced"));
    li.append(timeEl(t.at, "when"), move, what, MT.el("span", "message", t.message || ""));
    return li;
  }

  /** Why there is nothing to list: no rule covers the model, or none has been evaluated yet. */
  function explain(rules) {
    const mine = rules.filter((r) => r.model === MODEL || r.model === "*");
    const box = $("alerts-message");
    if (mine.length) {
      box.replaceChildren(MT.el("p", null, mine.length + " rule" + (mine.length === 1 ? "" : "s") +
        " cover this model but have not been evaluated yet" +
        (interval ? " (every " + MT.fmtNum(interval, 0) + " s)." : ".")));
    } else {
      const p = MT.el("p", "muted");
      p.append("No alert rule covers this model yet. Press “Enable recommended alerts”, create one with ",
        MT.el("code", null, "POST /v1/alerts/rules"), " or start the server with ",
        MT.el("code", null, "modeltower serve --rules FILE"), ".");
      box.replaceChildren(MT.el("p", null, "No alerts for this model."), p);
    }
    box.hidden = false;
  }

  async function tick(state, stale) {
    const [startMs, endMs] = windowMs(state);
    let drawn = true;
    try {
      const [cur, hist, rulesBody] = await Promise.all([
        MT.api("/v1/alerts", { model: MODEL }),
        MT.api("/v1/alerts/history", { model: MODEL, limit: 1000,
          until: state.window ? null : new Date(endMs).toISOString() }),
        MT.api("/v1/alerts/rules"),
      ]);
      if (stale()) { drawn = false; return; }
      interval = cur.interval_s;
      const rules = new Map(rulesBody.rules.map((r) => [r.name, r]));
      const alerts = cur.alerts;
      $("alerts-hint").textContent = "all versions · " + (cur.evaluated_at ? "last evaluated " +
        MT.fmtAgo(cur.evaluated_at) : "not evaluated yet") + " · every " + MT.fmtNum(cur.interval_s, 0) +
        " s · refreshes every " + REFRESH_MS / 1000 + " s";
      panel.dataset.firing = String(alerts.filter((a) => a.state === "firing").length);
      panel.dataset.pending = String(alerts.filter((a) => a.state === "pending").length);
      $("alerts-current").replaceChildren(...alerts.map((a) => alertRow(a, rules.get(a.rule))));
      $("alerts-current-wrap").hidden = !alerts.length;
      if (alerts.length) $("alerts-message").hidden = true;
      else explain(rulesBody.rules);

      const changes = hist.history.slice(0, CHANGES);
      $("alerts-changes").replaceChildren(...changes.map(changeItem));
      $("alerts-changes-empty").hidden = changes.length > 0;

      const rows = MTCharts.alertPeriods(hist.history, state.window ? alerts : [], startMs, endMs);
      const fig = MTCharts.alertTimeline(rows, startMs, endMs);
      await MT.draw(timeline, fig.traces, fig.layout, "No alert was pending or firing in this time range.");
      timeline.dataset.rows = String(rows.length);
      panel.dataset.state = "ok";
    } catch (err) {
      panel.dataset.state = "error";
      const box = $("alerts-message");
      box.replaceChildren(MT.el("p", null, "Could not load the alerts: " + err.message));
      box.hidden = false;
    } finally {
      if (drawn) panel.dataset.rendered = String(Number(panel.dataset.rendered || 0) + 1);
    }
  }

  const refresh = MT.panelPoll(root, tick, REFRESH_MS);

  button.addEventListener("click", async () => {
    button.disabled = true;
    result.className = "small";
    result.textContent = "Enabling the recommended alerts…";
    delete result.dataset.created;
    try {
      const body = await MT.post(MT.modelPath(MODEL) + "/alerts/presets", {});
      const n = body.rules.length;
      const names = body.rules.map((r) => (r.labels && r.labels.preset) || r.name);
      result.classList.add("done");
      result.textContent = n
        ? "Enabled " + n + " recommended rule" + (n === 1 ? "" : "s") + ": " + names.join(", ") +
          (interval ? ". They are evaluated every " + MT.fmtNum(interval, 0) + " s." : ".")
        : "No recommended rule applies to this model.";
      result.dataset.created = String(n);
      refresh();
    } catch (err) {
      result.classList.add("failed");
      result.textContent = "Could not enable the recommended alerts: " + err.message;
      result.dataset.created = "error";
    } finally {
      button.disabled = false;
    }
  });
})();
