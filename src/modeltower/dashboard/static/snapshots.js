/* modeltower model page: long-range health history from stored snapshots (GET .../snapshots). */
"use strict";

(function () {
  const root = document.getElementById("model-page");
  const panel = document.getElementById("panel-snapshots");
  if (!root || !panel) return;
  const MODEL = root.dataset.model;
  const PATH = MT.modelPath(MODEL) + "/snapshots";
  const REFRESH_MS = 60000;
  const C = MT.COLORS;
  const message = panel.querySelector(".snapshots-empty");
  const part = (name) => panel.querySelector('[data-snapshot="' + name + '"]');

  function line(snaps, key, name, i) {
    return { type: "scatter", mode: "lines+markers", name, x: snaps.map((s) => s.window.end),
      y: snaps.map((s) => s[key]), line: { color: C.series[i % C.series.length], width: 2 },
      marker: { size: 5 }, connectgaps: false };
  }

  /** Snapshots of all versions together; per-version ones only when there are no others. */
  function series(all) {
    const together = all.filter((s) => s.version === null);
    return together.length ? together : all;
  }

  function showEmpty(text, children) {
    message.replaceChildren(...(children || [document.createTextNode(text)]));
    message.hidden = false;
    panel.dataset.state = "empty";
  }

  function noSnapshotsMessage() {
    const code = document.createElement("code");
    code.textContent = "POST " + PATH; // the model name is text, never HTML
    return [
      document.createTextNode("No health snapshots yet. The server stores one for every model " +
        "each snapshot interval (serve --snapshot-interval, default one hour); "),
      code,
      document.createTextNode(" takes one now."),
    ];
  }

  async function load() {
    const body = await MT.api(PATH, { window: "30d" });
    const snaps = series(body.snapshots || []);
    if (!snaps.length) {
      showEmpty(null, noSnapshotsMessage());
      return;
    }
    message.hidden = true;
    const reg = snaps[snaps.length - 1].task === "regression";
    const qkeys = reg ? [["mae", "MAE"], ["rmse", "RMSE"]] : [["accuracy", "accuracy"], ["f1", "F1"]];
    const qAxis = reg ? { rangemode: "tozero" } : { tickformat: ".0%", range: [0, 1.02] };
    await Promise.all([
      MT.draw(part("quality"), qkeys.map(([k, n], i) => line(snaps, k, n, i)), { yaxis: qAxis },
        "The snapshots hold no quality values yet: quality needs labels (feedback)."),
      MT.draw(part("latency"), [line(snaps, "latency_p95_ms", "p95", 1), line(snaps, "latency_p99_ms", "p99", 2)],
        { yaxis: { title: { text: "ms" }, rangemode: "tozero" } }, "The snapshots hold no latency values."),
    ]);
    panel.dataset.state = "drawn";
  }

  async function tick() {
    try {
      await load();
    } catch (err) {
      console.warn("modeltower snapshots failed:", err);
      showEmpty("Could not draw the health history: " + err.message);
    } finally {
      panel.dataset.rendered = String(Number(panel.dataset.rendered || 0) + 1);
      setTimeout(tick, REFRESH_MS);
    }
  }

  tick();
})();
