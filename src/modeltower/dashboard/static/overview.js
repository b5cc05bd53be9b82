/* modeltower overview: every model with a status, worst first (data from /v1, drawn by Plotly). */
"use strict";

(function () {
  const root = document.getElementById("overview");
  const TH = JSON.parse(root.dataset.thresholds);
  const RANK = { critical: 2, warning: 1, ok: 0 };
  const body = document.getElementById("models-body");
  const rows = new Map(); // model name -> {tr, cells}
  const DRIFT_MS = 30000; // drift is heavier than metrics: refreshed less often
  const driftAt = new Map(); // model name -> when its drift was last requested

  /** Level of one value against a [warning, critical] pair; lowerIsWorse flips the test. */
  function level(value, pair, lowerIsWorse) {
    if (value === null || value === undefined) return "ok";
    const worse = (x, limit) => (lowerIsWorse ? x < limit : x > limit);
    if (worse(value, pair[1])) return "critical";
    if (worse(value, pair[0])) return "warning";
    return "ok";
  }

  /** Status of a model from its 24 h metrics: the worst rule wins; reasons explain it. */
  function status(model, m) {
    const checks = [];
    const staleMin = model.last_seen ? (Date.now() - Date.parse(model.last_seen)) / 60000 : Infinity;
    checks.push([level(staleMin, TH.stale_minutes), "no events for " + MT.fmtAgo(model.last_seen).replace(" ago", "")]);
    checks.push([level(m.error_rate, TH.error_rate), "error rate " + MT.fmtPct(m.error_rate)]);
    const p95 = m.latency_ms ? m.latency_ms.p95 : null;
    checks.push([level(p95, TH.latency_p95_ms), "p95 latency " + MT.fmtMs(p95)]);
    if (m.classification) {
      checks.push([level(m.classification.accuracy, TH.accuracy, true),
        "accuracy " + MT.fmtPct(m.classification.accuracy)]);
    }
    if (m.regression) {
      checks.push([level(m.regression.mape, TH.mape), "MAPE " + MT.fmtPct(m.regression.mape)]);
    }
    let worst = "ok";
    for (const [lv] of checks) if (RANK[lv] > RANK[worst]) worst = lv;
    const reasons = checks.filter(([lv]) => lv !== "ok" && lv === worst).map(([, why]) => why);
    return { level: worst, reasons };
  }

  const SEVERITY_LEVEL = { critical: "critical", warning: "warning" };

  /**
   * Status of a model: its firing alerts decide when any is critical or warning (the worst
   * severity wins, the reasons name the alerts); otherwise the metric rules above. Info alerts
   * never change the level, they are only named.
   */
  function combine(metricStatus, firing) {
    const named = (a) => "alert " + a.rule + (a.version ? " (" + a.version + ")" : "") + " firing" +
      (a.silenced ? " (silenced)" : "");
    let worst = "ok";
    for (const a of firing) {
      const lv = SEVERITY_LEVEL[a.severity] || "ok";
      if (RANK[lv] > RANK[worst]) worst = lv;
    }
    if (worst !== "ok") {
      const reasons = firing.filter((a) => SEVERITY_LEVEL[a.severity] === worst).map(named);
      const title = firing.map((a) => a.rule + ": " + (a.summary || "")).join("\n") +
        (metricStatus.reasons.length ? "\nmetrics: " + metricStatus.reasons.join(", ") : "");
      return { level: worst, reasons, source: "alerts", title };
    }
    const info = firing.map(named);
    return { level: metricStatus.level, reasons: metricStatus.reasons.concat(info),
      source: "metrics", title: firing.map((a) => a.rule + ": " + (a.summary || "")).join("\n") };
  }

  function cell(tr, cls) {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function makeRow(name) {
    const tr = document.createElement("tr");
    tr.dataset.model = name;
    const nameCell = cell(tr, "name");
    const a = document.createElement("a");
    a.href = "/models/" + encodeURIComponent(name);
    a.textContent = name; // text, never HTML
    a.className = "model-link";
    const task = document.createElement("span");
    task.className = "task";
    nameCell.append(a, task);
    const statusCell = cell(tr, "status");
    const badge = document.createElement("span");
    const why = document.createElement("span");
    why.className = "why";
    statusCell.append(badge, why);
    const sparkCell = cell(tr, "spark");
    const card = document.createElement("div");
    card.className = "chart spark-card";
    card.innerHTML = '<div class="plot"></div><p class="chart-empty" hidden></p>'; // static markup
    sparkCell.appendChild(card);
    const r = { tr, a, task, badge, why, card, count: cell(tr, "num"), p95: cell(tr, "num"),
      quality: cell(tr, "num"), coverage: cell(tr, "num"), drift: cell(tr, "num drift"),
      seen: cell(tr, "seen") };
    r.driftLink = document.createElement("a");
    r.driftLink.href = "/models/" + encodeURIComponent(name) + "#panel-drift";
    r.driftLink.textContent = "…";
    r.drift.appendChild(r.driftLink);
    rows.set(name, r);
    body.appendChild(tr); // attached before Plotly measures it
    return r;
  }

  function sparkline(r, ts) {
    const xs = ts.points.map((p) => p.timestamp);
    const ys = ts.points.map((p) => p.count);
    const trace = { type: "bar", x: xs, y: ys, marker: { color: MT.COLORS.series[0] },
      hovertemplate: "%{y} events<extra></extra>" };
    return MT.draw(r.card, [trace], {
      width: 180, height: 44, autosize: false, margin: { l: 0, r: 0, t: 2, b: 2 }, showlegend: false, hovermode: "closest",
      bargap: 0.15, xaxis: { visible: false }, yaxis: { visible: false, rangemode: "tozero" },
    }, "no events");
  }

  function fill(r, model, m, ts, firing) {
    const st = combine(status(model, m), firing || []);
    r.level = st.level;
    r.tr.dataset.status = st.level;
    r.tr.dataset.statusSource = st.source;
    r.badge.className = "badge " + st.level;
    r.badge.textContent = st.level; // a word, not colour alone
    r.why.textContent = st.reasons.join(", ");
    r.why.title = st.title;
    r.task.textContent = model.task || "";
    r.count.textContent = MT.fmtNum(m.count, 0);
    r.p95.textContent = MT.fmtMs(m.latency_ms ? m.latency_ms.p95 : null);
    if (m.regression) {
      r.quality.textContent = "MAE " + MT.fmtNum(m.regression.mae);
    } else if (m.classification) {
      r.quality.textContent = "acc " + MT.fmtPct(m.classification.accuracy);
    } else {
      r.quality.textContent = "–";
    }
    r.coverage.textContent = MT.fmtPct(m.label_coverage);
    r.seen.textContent = MT.fmtAgo(model.last_seen);
    r.seen.title = model.last_seen || "";
    return sparkline(r, ts);
  }

  /** "drifted / total" features over 24 h; "—" (with the reason as a tooltip) without a verdict. */
  function fillDrift(r, d) {
    const ok = d.status === "ok" && d.dataset;
    const cols = ok ? (d.columns || []).filter((c) => c.drift) : [];
    const drifted = ok && (d.dataset.drift || cols.length > 0);
    r.drift.classList.toggle("drifted", Boolean(drifted));
    r.drift.dataset.status = d.status;
    r.drift.dataset.drifted = ok ? String(d.dataset.drifted) : "";
    r.driftLink.textContent = ok ? d.dataset.drifted + " / " + d.dataset.total : "—";
    r.drift.title = ok
      ? d.dataset.drifted + " of " + d.dataset.total + " features drifted (share " + MT.fmtPct(d.dataset.share) +
        ", dataset drift at " + MT.fmtPct(d.dataset.threshold) + ")" +
        (cols.length ? "; drifted: " + cols.map((c) => c.name).join(", ") : "")
      : d.message || d.status;
  }

  async function loadDrift(r, name) {
    driftAt.set(name, Date.now());
    try {
      fillDrift(r, await MT.api(MT.modelPath(name) + "/drift", { window: "24h" }));
    } catch (err) {
      r.drift.dataset.status = "error";
      r.driftLink.textContent = "?";
      r.drift.title = "Could not load drift: " + err.message;
    }
    r.drift.dataset.state = "loaded";
  }

  // ------------------------------------------------------------ the firing alerts panel

  const alertsPanel = document.getElementById("alerts-panel");
  const alertsList = document.getElementById("alerts-list");

  function alertRow(a) {
    const tr = MT.el("tr", a.state);
    tr.dataset.fingerprint = a.fingerprint;
    tr.dataset.model = a.model;
    tr.dataset.rule = a.rule;
    tr.dataset.state = a.state;
    tr.dataset.severity = a.severity || "";
    const td = (cls) => { const x = MT.el("td", cls); tr.appendChild(x); return x; };
    const sev = a.severity || "warning";
    td("severity").append(MT.el("span", "badge sev " + sev, sev));
    td("name").append(MT.el("span", "col-name", a.rule));
    const where = td("model");
    const link = MT.el("a", "model-link", a.model); // text, never HTML
    link.href = "/models/" + encodeURIComponent(a.model) + "#panel-alerts";
    where.append(link);
    if (a.version) where.append(MT.el("span", "version", a.version));
    const summary = td("summary");
    summary.textContent = a.summary || "";
    if (a.message && a.message !== a.summary) summary.title = a.message;
    const since = td("since");
    since.append(MT.el("span", "badge " + a.state, a.state));
    const t = MT.el("time", "when", MT.fmtAgo(a.since));
    if (a.since) { t.dateTime = a.since; t.title = new Date(a.since).toLocaleString(); }
    since.append(t);
    if (a.silenced) since.append(MT.el("span", "badge silenced flag", "silenced"));
    return tr;
  }

  /** Firing and pending alerts (firing first, as the API sorts them); the rest are counted. */
  async function renderAlerts(body, haveModels) {
    const active = body.alerts.filter((a) => a.state === "firing" || a.state === "pending");
    const firing = active.filter((a) => a.state === "firing").length;
    alertsPanel.hidden = !haveModels && !active.length;
    alertsPanel.dataset.firing = String(firing);
    alertsPanel.dataset.pending = String(active.length - firing);
    document.getElementById("alerts-error").hidden = true;
    alertsList.replaceChildren(...active.map(alertRow));
    document.getElementById("alerts-wrap").hidden = !active.length;
    document.getElementById("alerts-empty").hidden = active.length > 0;
    const c = body.counts || {};
    document.getElementById("alerts-counts").textContent = firing + " firing · " + (c.pending || 0) +
      " pending · " + (c.ok || 0) + " ok · " + (c.resolved || 0) + " resolved" +
      (body.evaluated_at ? " · evaluated " + MT.fmtAgo(body.evaluated_at) : " · not evaluated yet") +
      " · every " + MT.fmtNum(body.interval_s, 0) + " s";
    let noRules = false;
    if (!body.alerts.length) {
      try {
        noRules = (await MT.api("/v1/alerts/rules")).rules.length === 0;
      } catch (err) {
        console.warn("modeltower alert rules failed:", err);
      }
    }
    document.getElementById("alerts-no-rules").hidden = !noRules;
    alertsPanel.dataset.rules = noRules ? "none" : "some";
    alertsPanel.dataset.state = "ok";
  }

  function alertsFailed(err, haveModels) {
    alertsPanel.hidden = !haveModels;
    alertsPanel.dataset.state = "error";
    const box = document.getElementById("alerts-error");
    box.replaceChildren(MT.el("p", null, "Could not load the alerts: " + err.message));
    box.hidden = false;
    document.getElementById("alerts-wrap").hidden = true;
    document.getElementById("alerts-empty").hidden = true;
  }

  function describeRules() {
    document.getElementById("rules").textContent =
      "Status: a firing critical or warning alert sets it (the alert is named). Without one, " +
      "these rules apply (warning / critical): error rate > " + MT.fmtPct(TH.error_rate[0]) + " / " +
      MT.fmtPct(TH.error_rate[1]) + ", p95 latency > " + TH.latency_p95_ms.join(" / ") +
      " ms, accuracy < " + MT.fmtPct(TH.accuracy[0]) + " / " + MT.fmtPct(TH.accuracy[1]) +
      ", MAPE > " + MT.fmtPct(TH.mape[0]) + " / " + MT.fmtPct(TH.mape[1]) + ", no events for " +
      TH.stale_minutes.join(" / ") + " min. Configure with MODELTOWER_STATUS_<RULE>=warning,critical.";
  }

  async function refresh() {
    const [{ models }, alerts] = await Promise.all([
      MT.api("/v1/models"),
      MT.api("/v1/alerts").catch((err) => ({ error: err })),
    ]);
    const empty = models.length === 0;
    document.getElementById("empty-state").hidden = !empty;
    document.getElementById("models-card").hidden = empty;
    root.dataset.count = String(models.length);
    const firingBy = new Map(); // model name -> its firing alerts
    if (alerts.error) {
      alertsFailed(alerts.error, !empty);
    } else {
      await renderAlerts(alerts, !empty);
      alerts.alerts.filter((a) => a.state === "firing").forEach((a) => {
        if (!firingBy.has(a.model)) firingBy.set(a.model, []);
        firingBy.get(a.model).push(a);
      });
    }
    const seen = new Set();
    await Promise.all(models.map(async (model) => {
      seen.add(model.name);
      const base = MT.modelPath(model.name);
      const [m, ts] = await Promise.all([
        MT.api(base + "/metrics", { window: "24h" }),
        MT.api(base + "/timeseries", { metrics: "count", bucket: "1h", window: "24h" }),
      ]);
      const r = rows.get(model.name) || makeRow(model.name);
      if (Date.now() - (driftAt.get(model.name) || 0) >= DRIFT_MS) loadDrift(r, model.name); // not awaited
      await fill(r, model, m, ts, firingBy.get(model.name));
    }));
    for (const [name, r] of rows) {
      if (!seen.has(name)) { r.tr.remove(); rows.delete(name); }
    }
    const order = [...rows.entries()].sort(([an, a], [bn, b]) =>
      RANK[b.level] - RANK[a.level] || an.localeCompare(bn));
    order.forEach(([, r]) => body.appendChild(r.tr)); // moves rows; sparklines stay drawn
    root.dataset.rendered = String(Number(root.dataset.rendered || 0) + 1);
  }

  describeRules();
  MT.poll(refresh, 5000);
})();
