/* modeltower model page: the data-quality table (GET .../quality) against the drift reference. */
"use strict";

(function () {
  const root = document.getElementById("model-page");
  const panel = document.getElementById("panel-data-quality");
  if (!root || !panel) return;
  const MODEL = root.dataset.model;
  const PATH = MT.modelPath(MODEL) + "/quality";
  const REFRESH_MS = 30000;
  /** A null share this much above the reference's is flagged (the drift panel's null test uses
   * the same minimum change, plus a significance test). */
  const NULL_CHANGE = 0.05;
  const TOP_NEW = 3;
  const $ = (id) => document.getElementById(id);
  const n0 = (x) => MT.fmtNum(x, 0);
  const given = (x) => x !== null && x !== undefined;

  function td(tr, cls, text, flag) {
    const cell = MT.el("td", cls, text);
    if (flag) cell.classList.add("flag-cell");
    tr.appendChild(cell);
    return cell;
  }

  /** "count (share)" or "–" when the column has no such notion (e.g. range of a category). */
  const countShare = (count, share) => (given(count) ? n0(count) + (given(share) ? " (" + MT.fmtPct(share, 2) + ")" : "") : "–");

  function newValues(c) {
    if (!given(c.new_values)) return ["–", ""];
    const top = (c.top_new_values || []).slice(0, TOP_NEW).map((v) => v.value + " (" + n0(v.count) + ")");
    const all = (c.top_new_values || []).map((v) => v.value + " ×" + v.count).join(", ");
    const more = (c.top_new_values || []).length > TOP_NEW ? ", …" : "";
    const text = countShare(c.new_values, c.new_value_share) + (top.length ? ": " + top.join(", ") + more : "");
    return [text, all];
  }

  function row(c) {
    const tr = MT.el("tr");
    tr.dataset.column = c.name;
    tr.dataset.role = c.role;
    const name = td(tr, "name");
    name.append(MT.el("span", "col-name", c.name));
    if (c.role !== "feature") name.append(MT.el("span", "role", c.role));
    td(tr, null, c.type || "–");
    td(tr, "num", n0(c.count));
    const nullUp = given(c.null_share) && given(c.reference_null_share) &&
      c.null_share - c.reference_null_share >= NULL_CHANGE;
    td(tr, "num", MT.fmtPct(c.null_share, 2) + (given(c.reference_null_share)
      ? " (ref " + MT.fmtPct(c.reference_null_share, 2) + ")" : ""), nullUp).dataset.key = "nulls";
    td(tr, "num", n0(c.missing)).dataset.key = "missing";
    td(tr, "num", countShare(c.type_mismatches, c.type_mismatch_share), c.type_mismatches > 0)
      .dataset.key = "type_mismatches";
    const range = td(tr, "num", given(c.out_of_range) ? MT.fmtPct(c.out_of_range_share, 2) +
      " (" + n0(c.out_of_range) + ")" : "–", c.out_of_range > 0);
    range.dataset.key = "out_of_range";
    if (Array.isArray(c.reference_range)) {
      range.title = "reference range " + MT.fmtNum(c.reference_range[0]) + " … " + MT.fmtNum(c.reference_range[1]);
    }
    const [nvText, nvAll] = newValues(c);
    const nv = td(tr, "new-values", nvText, c.new_values > 0);
    nv.dataset.key = "new_values";
    nv.title = nvAll;
    td(tr, "num", given(c.distinct) ? n0(c.distinct) + (given(c.reference_distinct)
      ? " (ref " + n0(c.reference_distinct) + ")" : "") : "–");
    return tr;
  }

  /** Events whose feature keys differ from the reference's. */
  function schemaSummary(body) {
    const parts = [n0(body.rows) + " events in the window."];
    const unknown = body.unknown_features || [];
    if (body.events_with_unknown_features) {
      parts.push(n0(body.events_with_unknown_features) + " with features the reference does not have" +
        (unknown.length ? " (" + unknown.map((u) => u.name + " ×" + n0(u.count)).join(", ") + ")" : "") + ".");
    }
    if (body.events_missing_features) {
      parts.push(n0(body.events_missing_features) + " missing at least one reference feature.");
    }
    if (!body.events_with_unknown_features && !body.events_missing_features && body.rows) {
      parts.push("Every event carried exactly the reference's features.");
    }
    const box = $("quality-summary");
    box.textContent = parts.join(" ");
    box.classList.toggle("flag-text", Boolean(body.events_with_unknown_features || body.events_missing_features));
  }

  function message(body) {
    const box = $("quality-message");
    if (body.status === "ok") { box.hidden = true; return; }
    box.replaceChildren(MT.el("p", null, body.message || "No data quality for this window (" + body.status + ")."));
    box.hidden = false;
  }

  async function tick(state, stale) {
    let drawn = true;
    try {
      const body = await MT.api(PATH, MT.filterParams(state, true));
      if (stale()) { drawn = false; return; }
      panel.dataset.status = body.status;
      message(body);
      const cols = body.columns || [];
      $("quality-body").hidden = cols.length === 0;
      if (cols.length) {
        schemaSummary(body);
        $("quality-columns").replaceChildren(...cols.map(row));
      }
      panel.dataset.state = body.status === "ok" ? "ok" : "message";
    } catch (err) {
      panel.dataset.state = "error";
      const box = $("quality-message");
      box.replaceChildren(MT.el("p", null, "Could not load data quality: " + err.message));
      box.hidden = false;
    } finally {
      if (drawn) panel.dataset.rendered = String(Number(panel.dataset.rendered || 0) + 1);
    }
  }

  MT.panelPoll(root, tick, REFRESH_MS);
})();
