// notecheck reviewer page: posts the note to /v1/check and renders the result.
// The note is only ever inserted as text nodes (never innerHTML), so it cannot inject markup.
"use strict";

const $ = (id) => document.getElementById(id);
const form = $("check-form");
const statusLine = $("status");
const keyInput = $("api-key");

keyInput.value = sessionStorage.getItem("notecheck-api-key") || "";

function setStatus(message, isError) {
  statusLine.textContent = message;
  statusLine.className = isError ? "error" : "";
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Keep non-overlapping spans, preferring rule evidence that counted, then longer spans.
function pickSpans(evidence) {
  const rank = (e) => (e.effect === "model-cue" ? 2 : e.active ? 0 : 1);
  const sorted = [...evidence].sort(
    (a, b) => rank(a) - rank(b) || (b.end - b.start) - (a.end - a.start) || a.start - b.start
  );
  const chosen = [];
  for (const e of sorted) {
    if (e.effect === "model-cue") continue;
    if (chosen.every((c) => e.end <= c.start || e.start >= c.end)) chosen.push(e);
  }
  return chosen.sort((a, b) => a.start - b.start);
}

// Offsets in the result count Unicode code points; JavaScript strings count UTF-16 units, so
// slice an array of code points (an emoji before a phrase must not shift its highlight).
function renderNote(text, evidence, sections, rulesById) {
  const view = $("highlighted");
  view.replaceChildren();
  const chars = Array.from(text);
  const slice = (a, b) => chars.slice(a, b).join("");
  const spans = pickSpans(evidence);
  const parts = sections.length ? sections : [{ start: 0, end: chars.length, kind: "activity", counts: true }];
  let shown = 0; // the space between two sections belongs to neither: keep it
  parts.forEach((section) => {
    if (section.start > shown) view.append(document.createTextNode(slice(shown, section.start)));
    shown = Math.max(shown, section.end);
    const box = el("span", {
      class: `sec sec-${section.kind}`,
      title: section.counts ? `${section.kind}: counted` : `${section.kind}: not counted as an activity`,
    });
    let pos = section.start;
    spans
      .filter((e) => e.start >= section.start && e.start < section.end)
      .forEach((e) => {
        const end = Math.min(e.end, section.end);
        box.append(document.createTextNode(slice(pos, e.start)));
        const rule = rulesById[e.rule_id];
        const title = rule ? `${rule.title} — ${rule.source}` : e.rule_id;
        const cls = `ev ${e.active ? e.effect : "inactive"}`;
        // Focusable and clickable: the detail below the note is reachable by keyboard and touch,
        // not only by a mouse hovering the title.
        const mark = el("mark", { class: cls, title, "data-rule": e.rule_id, tabindex: "0", role: "button", "aria-describedby": "mark-detail" }, slice(e.start, end));
        const show = () => showMarkDetail(e, rule);
        mark.addEventListener("focus", show);
        mark.addEventListener("click", show);
        box.append(mark);
        pos = end;
      });
    box.append(document.createTextNode(slice(pos, section.end)));
    view.append(box);
  });
  if (shown < chars.length) view.append(document.createTextNode(slice(shown, chars.length)));
}

function showMarkDetail(evidence, rule) {
  const detail = $("mark-detail");
  const counted = evidence.active ? "counted" : "not counted";
  detail.textContent = rule
    ? `${rule.title} (${counted}): ${rule.explanation} Source: ${rule.source}.`
    : `${evidence.rule_id} (${counted})`;
}

// A rule id in a hint ("transport.waiting") reads as the rule's title on the page.
function plainWords(text, rulesById) {
  return text.replace(/\b[a-z]+\.[a-z_]+\b/g, (id) => (rulesById[id] ? rulesById[id].title.toLowerCase() : id));
}

function renderTime(time) {
  const bar = $("time-bar");
  const summary = $("time-summary");
  bar.replaceChildren();
  if (!time || time.total_minutes === null) {
    summary.textContent = "The note states no time.";
    bar.hidden = true;
    return;
  }
  bar.hidden = false;
  const total = time.total_minutes;
  const parts = [
    ["billable", time.billable_minutes || 0, "billable"],
    ["non-billable", time.non_billable_minutes || 0, "non-billable"],
    ["unallocated", time.unallocated_minutes || 0, "split not stated"],
  ];
  parts.forEach(([cls, minutes, name]) => {
    if (minutes > 0) {
      const share = Math.min(100, (100 * minutes) / total);
      const seg = el("span", { class: `seg ${cls}`, title: `${minutes} min ${name}` }, `${minutes} min ${name}`);
      seg.style.width = `${share}%`;
      bar.append(seg);
    }
  });
  const units = time.units_supported === null ? "units unknown" : `${time.units_supported} unit(s) supported`;
  const risk = time.units_at_risk ? ` · ${time.units_at_risk} of ${time.units_billed} at risk` : "";
  summary.textContent = `${total} min in all · ${units}${risk}. ${time.explanation}`;
}

function renderActivities(activities) {
  const rows = activities.map((a) =>
    el("tr", {}, el("td", {}, a.text), el("td", { class: `kind ${a.kind === "non-billable" ? "fail" : a.kind === "none" ? "unknown" : "pass"}` }, a.kind === "none" ? "no rule" : a.kind),
      el("td", {}, a.minutes === null ? "—" : `${a.minutes} min`))
  );
  $("activities").tBodies[0].replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "3" }, "No activity section found."))]));
}

function render(text, data) {
  const rulesById = Object.fromEntries(data.rules_fired.map((r) => [r.rule_id, r]));
  const badge = $("label-badge");
  badge.textContent = data.label;
  badge.dataset.label = data.label;
  $("label-name").textContent = data.display_name;
  $("review-flag").hidden = !data.needs_review;
  $("confidence-bar").value = data.confidence;
  const percent = `${Math.round(data.confidence * 100)}%`;
  // A label the rules chose over the model: its probability is the model's, not a confidence.
  const byRules = data.decided_by === "rules";
  $("confidence-label").textContent = byRules ? "Decided by the rules" : "Confidence";
  $("confidence-bar").hidden = byRules;
  $("confidence-text").textContent = byRules ? `the model gave this label ${percent}` : percent;
  $("review-reasons").replaceChildren(...data.review_reasons.map((r) => el("li", {}, r)));
  renderNote(text, data.evidence, data.sections, rulesById);
  renderTime(data.time);
  renderActivities(data.activities);

  // One line per phrase: its words, the rule it meets, and the title of that rule's source.
  const seen = new Set();
  const items = data.evidence
    .filter((e) => e.effect !== "model-cue" || e.active)
    .filter((e) => {
      const key = `${e.rule_id}|${e.text.toLowerCase()}`;
      return seen.has(key) ? false : seen.add(key);
    })
    .map((e) => {
      const rule = rulesById[e.rule_id];
      const what = rule ? rule.title : "the model's strongest cue";
      const state = e.active ? "" : " (not counted)";
      const line = el("li", { title: rule ? rule.explanation : e.sentence }, `“${e.text}” — ${what}${state}`);
      if (rule) line.append(el("span", { class: "cite" }, ` · ${rule.source}`));
      return line;
    });
  $("evidence-list").replaceChildren(...(items.length ? items : [el("li", {}, "No rule matched; the label is the model's reading of the whole note.")]));
  const fixes = [
    ...data.hints.map((h) => plainWords(h, rulesById)),
    ...data.documentation.filter((d) => d.status === "fail").map((d) => d.detail),
  ];
  $("hints").replaceChildren(...(fixes.length ? fixes : ["Nothing to fix was found."]).map((h) => el("li", {}, h)));

  const rows = data.documentation.map((d) =>
    el("tr", {}, el("td", {}, d.check.replaceAll("_", " ")), el("td", { class: d.status }, d.status), el("td", {}, d.detail))
  );
  $("doc-checks").tBodies[0].replaceChildren(...rows);
  $("versions").textContent = `profile ${data.profile} · model ${data.model_version} · rules ${data.ruleset_version}`;
  $("result").hidden = false;
}

// The billed codes and staff levels offered follow the chosen profile (its options carry them).
const profileSelect = $("profile");
function showProfileChoices() {
  const chosen = profileSelect.selectedOptions[0];
  const codes = (chosen.dataset.codes || "").split(" ").filter(Boolean);
  $("billed-code").replaceChildren(
    el("option", { value: "" }, "— not given —"),
    ...codes.map((code) => el("option", {}, code))
  );
  const staff = $("staff-level");
  staff.disabled = chosen.dataset.staff !== "yes";
  if (staff.disabled) staff.value = "";
}
profileSelect.addEventListener("change", showProfileChoices);
showProfileChoices();

// A verdict belongs to the note and choices it was checked with: any edit, a failed check or a
// new check takes it off the screen, so a reviewer never reads an old answer as the new one.
let checkGeneration = 0; // bumped by every edit and every check: a late answer is dropped

function clearResult(reason) {
  checkGeneration += 1;
  const shown = !$("result").hidden;
  $("result").hidden = true;
  $("mark-detail").textContent = "";
  if (shown && reason) setStatus(reason, false);
}
["note", "billed-code", "staff-level", "minutes", "profile"].forEach((id) =>
  $(id).addEventListener("input", () => clearResult("The note or its details changed; press Check again."))
);

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearResult();
  const mine = checkGeneration;
  const text = $("note").value;
  if (!text.trim()) {
    setStatus("Paste a progress note first.", true);
    $("note").focus();
    return;
  }
  const body = { text, profile: profileSelect.value };
  const code = $("billed-code").value;
  if (code) body.billed_code = code;
  const level = $("staff-level").value;
  if (level) body.staff_level = level;
  const minutes = $("minutes").value;
  if (minutes) body.minutes = Number(minutes);
  const headers = { "Content-Type": "application/json" };
  if (keyInput.value) {
    headers["X-API-Key"] = keyInput.value;
    sessionStorage.setItem("notecheck-api-key", keyInput.value);
  }
  const button = $("check-button");
  button.disabled = true;
  setStatus("Checking…", false);
  try {
    const response = await fetch("/v1/check", { method: "POST", headers, body: JSON.stringify(body) });
    const data = await response.json().catch(() => null);
    if (mine !== checkGeneration) return; // edited while checking: this answer is stale
    if (!response.ok) {
      const message = data && data.error ? data.error.message : `HTTP ${response.status}`;
      setStatus(`Could not check the note: ${message}`, true);
      if (response.status === 401) keyInput.focus();
      return;
    }
    render(text, data);
    setStatus(`Checked: ${data.label}.`, false);
    $("result-heading").focus(); // move screen-reader and keyboard users to the answer
  } catch (err) {
    setStatus("Could not reach the notecheck server.", true);
  } finally {
    button.disabled = false;
  }
});
