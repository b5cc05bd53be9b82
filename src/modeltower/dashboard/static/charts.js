/* modeltower model page: figures (Plotly traces + layouts) built from /v1 JSON. Pure functions. */
"use strict";

(function () {
  const C = MT.COLORS;
  const color = (i) => C.series[i % C.series.length];
  const xs = (ts) => ts.points.map((p) => p.timestamp);
  const ys = (ts, key) => ts.points.map((p) => p[key]);
  const pctAxis = { tickformat: ".0%", rangemode: "tozero" };

  function line(ts, key, name, i, extra) {
    return Object.assign({ type: "scatter", mode: "lines", x: xs(ts), y: ys(ts, key),
      name: MT.plotText(name), line: { color: color(i), width: 2 }, connectgaps: false }, extra || {});
  }

  /** Quality metrics of a task: [[key, label], ...] and whether they are ratios. */
  function qualityMetrics(task) {
    return task === "regression"
      ? { keys: [["mae", "MAE"], ["rmse", "RMSE"]], ratio: false }
      : { keys: [["accuracy", "accuracy"], ["f1", "F1"]], ratio: true };
  }

  /** Per-version series (compare mode) or the single series; returns [{name, ts}]. */
  function seriesList(main, versions) {
    return versions && versions.length ? versions : [{ name: "all", ts: main }];
  }

  function volume(main, versions) {
    const list = seriesList(main, versions);
    const traces = list.map((s, i) => ({ type: "bar", x: xs(s.ts), y: ys(s.ts, "count"),
      name: MT.plotText(s.name), marker: { color: color(i) } }));
    return { traces, layout: { barmode: "stack", bargap: 0.1, showlegend: list.length > 1 } };
  }

  function latency(main, versions) {
    if (versions && versions.length) {
      return { traces: versions.map((s, i) => line(s.ts, "latency_p95", s.name + " p95", i)),
        layout: { yaxis: { title: { text: "ms" }, rangemode: "tozero" } } };
    }
    const traces = [["latency_p50", "p50"], ["latency_p95", "p95"], ["latency_p99", "p99"]]
      .map(([k, n], i) => line(main, k, n, i));
    return { traces, layout: { yaxis: { title: { text: "ms" }, rangemode: "tozero" } } };
  }

  function ratio(main, versions, key, label, tickformat) {
    const list = seriesList(main, versions);
    const traces = list.map((s, i) => line(s.ts, key, list.length > 1 ? s.name : label, i));
    const yaxis = Object.assign({}, pctAxis, tickformat ? { tickformat } : {});
    return { traces, layout: { yaxis, showlegend: list.length > 1 } };
  }

  /** Accuracy/F1 or MAE/RMSE; ``rolled`` (when given) replaces the per-bucket series. */
  function quality(task, main, versions) {
    const q = qualityMetrics(task);
    let traces;
    if (versions && versions.length) {
      const [key, label] = q.keys[0];
      traces = versions.map((s, i) => line(s.ts, key, s.name + " " + label, i));
    } else {
      traces = q.keys.map(([k, n], i) => line(main, k, n, i));
    }
    const yaxis = q.ratio ? { tickformat: ".0%", range: [0, 1.02] } : { rangemode: "tozero" };
    return { traces, layout: { yaxis } };
  }

  function confusion(cls) {
    if (!cls || !cls.confusion_matrix || !cls.confusion_matrix.labels.length) return { traces: [] };
    const labels = cls.confusion_matrix.labels.map(MT.plotText);
    const z = cls.confusion_matrix.matrix;
    const trace = { type: "heatmap", z, x: labels, y: labels, colorscale: [[0, "#1d2330"], [1, "#5b9cf6"]],
      texttemplate: "%{z}", hovertemplate: "actual %{y}<br>predicted %{x}<br>%{z} events<extra></extra>",
      showscale: false };
    return { traces: [trace], layout: {
      hovermode: "closest", showlegend: false, margin: { l: 90, r: 12, t: 8, b: 60 },
      xaxis: { type: "category", title: { text: "predicted" } },
      yaxis: { type: "category", autorange: "reversed", title: { text: "actual" } },
    } };
  }

  /** Conversion rate per group with a 95 % Wald interval as error bars. */
  function conversion(biz) {
    if (!biz || !Object.keys(biz.groups).length) return { traces: [] };
    const names = Object.keys(biz.groups).sort();
    const g = names.map((n) => biz.groups[n]);
    const half = g.map((x) => 1.96 * Math.sqrt(x.conversion_rate * (1 - x.conversion_rate) / Math.max(1, x.count)));
    const trace = { type: "bar", x: names.map(MT.plotText), y: g.map((x) => x.conversion_rate),
      error_y: { type: "data", array: half, visible: true, color: C.muted },
      marker: { color: names.map((_, i) => color(i)) },
      customdata: g.map((x) => [x.conversions, x.count]),
      hovertemplate: "%{x}: %{y:.2%}<br>%{customdata[0]} of %{customdata[1]}<extra></extra>" };
    return { traces: [trace], layout: { showlegend: false, hovermode: "closest", yaxis: pctAxis,
      xaxis: { type: "category" } } };
  }

  /**
   * Uplift (treatment − control) per point with its 95 % Wald interval as a band, from the two
   * groups' count and conversion_rate series (the same definition the API uses for one window).
   */
  function uplift(control, treatment) {
    if (!control || !treatment) return { traces: [] };
    const x = [], mid = [], lo = [], hi = [];
    control.points.forEach((c, i) => {
      const t = treatment.points[i];
      x.push(c.timestamp);
      if (!t || !c.count || !t.count || c.conversion_rate === null || t.conversion_rate === null) {
        mid.push(null); lo.push(null); hi.push(null);
        return;
      }
      const pc = c.conversion_rate, pt = t.conversion_rate;
      const se = Math.sqrt(pc * (1 - pc) / c.count + pt * (1 - pt) / t.count);
      mid.push(pt - pc); lo.push(pt - pc - 1.96 * se); hi.push(pt - pc + 1.96 * se);
    });
    const edge = { type: "scatter", mode: "lines", x, line: { width: 0 }, hoverinfo: "skip",
      showlegend: false };
    const traces = [
      Object.assign({}, edge, { y: hi, name: "95 % CI high" }),
      Object.assign({}, edge, { y: lo, name: "95 % CI", fill: "tonexty", fillcolor: C.band,
        showlegend: true }),
      { type: "scatter", mode: "lines", x, y: mid, name: "uplift", line: { color: color(0), width: 2 } },
    ];
    return { traces, layout: { yaxis: { tickformat: ".1%", zeroline: true, zerolinecolor: C.muted } } };
  }

  function revenue(main, versions) {
    const list = seriesList(main, versions);
    const traces = list.map((s, i) => ({ type: "bar", x: xs(s.ts), y: ys(s.ts, "revenue"),
      name: MT.plotText(s.name), marker: { color: color(i + 2) } }));
    return { traces, layout: { barmode: "stack", showlegend: list.length > 1 } };
  }

  const ACTIVE = ["pending", "firing"];

  /**
   * Pending and firing periods of every alert instance within [startMs, endMs], from its state
   * changes (``/v1/alerts/history`` rows, any order). Before an instance's oldest change it was
   * in that change's ``from`` state; after its newest change it stays in the ``to`` state up to
   * endMs. ``current`` (``/v1/alerts`` instances) adds those without any change in ``history``.
   * Returns [{fingerprint, rule, version, label, periods: [{state, start, end, open}]}] sorted by
   * label; only instances with at least one period.
   */
  function alertPeriods(history, current, startMs, endMs) {
    const byFp = new Map();
    const entry = (a) => {
      if (!byFp.has(a.fingerprint)) {
        byFp.set(a.fingerprint, { fingerprint: a.fingerprint, rule: a.rule, version: a.version,
          label: a.rule + (a.version ? " (" + a.version + ")" : ""), changes: [], periods: [] });
      }
      return byFp.get(a.fingerprint);
    };
    (history || []).forEach((t) => entry(t).changes.push({ at: Date.parse(t.at), from: t.from, to: t.to }));
    (current || []).forEach((a) => {
      const e = entry(a);
      if (!e.changes.length && a.since) e.changes.push({ at: Date.parse(a.since), from: "ok", to: a.state });
    });
    const out = [];
    for (const e of byFp.values()) {
      const changes = e.changes.filter((c) => !Number.isNaN(c.at)).sort((a, b) => a.at - b.at);
      if (!changes.length) continue;
      let state = changes[0].from;
      let since = -Infinity;
      const close = (until, open) => {
        const s = Math.max(since, startMs), u = Math.min(until, endMs);
        if (ACTIVE.includes(state) && u > s) e.periods.push({ state, start: s, end: u, open });
      };
      for (const c of changes) {
        if (c.at > endMs) break;
        close(c.at, false);
        state = c.to;
        since = c.at;
      }
      close(endMs, true);
      delete e.changes;
      if (e.periods.length) out.push(e);
    }
    return out.sort((a, b) => a.label.localeCompare(b.label));
  }

  const STATE_COLORS = { pending: "#e0a43a", firing: "#e5534b" };

  /**
   * The alert timeline: one row per instance, a horizontal bar per pending or firing period on a
   * date axis spanning [startMs, endMs]. Very short periods get a minimum width so that they can
   * be seen (the hover text tells the real times).
   */
  function alertTimeline(rows, startMs, endMs) {
    const span = Math.max(1, endMs - startMs);
    const minWidth = span / 300;
    const when = (ms) => new Date(ms).toLocaleString();
    const traces = ACTIVE.map((state) => {
      const t = { type: "bar", orientation: "h", name: state, base: [], x: [], y: [], customdata: [],
        marker: { color: STATE_COLORS[state], line: { width: 0 } }, width: 0.6,
        hovertemplate: "%{y}<br>" + state + " %{customdata[0]} → %{customdata[1]}" +
          "<br>%{customdata[2]}<extra></extra>" };
      rows.forEach((r) => r.periods.filter((p) => p.state === state).forEach((p) => {
        const width = Math.max(p.end - p.start, minWidth);
        // A widened bar stays inside the axis: one that just began ends at the right edge.
        t.base.push(new Date(Math.max(startMs, Math.min(p.start, endMs - width))).toISOString());
        t.x.push(width);
        t.y.push(MT.plotText(r.label));
        const mins = (p.end - p.start) / 60000;
        t.customdata.push([when(p.start), p.open ? "now" : when(p.end),
          mins < 1 ? Math.round(mins * 60) + " s" : mins < 120 ? mins.toFixed(0) + " min" : (mins / 60).toFixed(1) + " h",
          new Date(p.start).toISOString()]);
      }));
      return t;
    });
    const labels = rows.map((r) => MT.plotText(r.label));
    return { traces, layout: {
      barmode: "overlay", hovermode: "closest", height: Math.max(130, 62 + 30 * rows.length),
      margin: { l: 12, r: 12, t: 28, b: 36 },
      xaxis: { type: "date", range: [new Date(startMs).toISOString(), new Date(endMs).toISOString()] },
      yaxis: { type: "category", categoryorder: "array", categoryarray: labels, autorange: "reversed",
        rangemode: "normal" },
      legend: { orientation: "h", x: 1, xanchor: "right", y: 1.02, yanchor: "bottom" },
    } };
  }

  window.MTCharts = { qualityMetrics, volume, latency, ratio, quality, confusion, conversion,
    uplift, revenue, alertPeriods, alertTimeline };
})();
