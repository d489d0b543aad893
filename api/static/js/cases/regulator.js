// The regulator's case pages: open a case from a gap (立案 and 交办 in one step), assign several
// at once, review, close (销号) and reopen — every step signed on this device.
import { T, canSign, cosignAndSend, explain, format, ready, say, signOnly, signStep } from "./act.js";

const keyNotice = document.getElementById("device-key");
const outcome = document.getElementById("case-outcome");

function value(form, name) {
  const field = form.elements.namedItem(name);
  return field ? field.value.trim() : "";
}

function busy(form, on) {
  form.querySelectorAll("button, input, select, textarea").forEach((b) => { b.disabled = on; });
}

// --- one case: assign, review, close, reopen ------------------------------------------------

const article = document.getElementById("case");
for (const form of document.querySelectorAll("form.case-act")) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!canSign(outcome)) return;
    const kind = form.dataset.kind;
    let data = {};
    if (kind === "case.assigned") {
      data = { assignee: value(form, "assignee"), person: value(form, "person"),
               measures: value(form, "measures"), deadline: value(form, "deadline") };
    } else if (kind === "case.reviewed") {
      const result = event.submitter ? event.submitter.value : "accepted";
      data = { result };
      const reasons = value(form, "reasons");
      if (result === "returned" && !reasons) { say(outcome, T.reasons_required, false); return; }
      if (reasons) data.reasons = reasons;
    } else if (kind === "case.closed") {
      const note = value(form, "note");
      if (note) data.note = note;
    } else if (kind === "case.reopened") {
      data = { reason: value(form, "reason") };
    }
    busy(form, true);
    say(outcome, T.signing, true);
    if (kind === "case.closed" && form.dataset.twoLevel === "1") {
      // 两级销号: sign, and hand the note to the second regulator instead of sending it
      try {
        const note = await signOnly(article.dataset.case, kind, data, keyNotice);
        const box = document.getElementById("half-signed");
        box.querySelector("textarea").value = note;
        box.hidden = false;
        say(outcome, T.half_signed, true);
      } catch (err) {
        say(outcome, explain(err), false);
      }
      busy(form, false);
      return;
    }
    try {
      const receipt = await signStep(article.dataset.case, kind, data, keyNotice);
      say(outcome, format(T.done, { index: receipt.index }), true);
      window.location.reload();
    } catch (err) {
      say(outcome, explain(err), false);
      busy(form, false);
    }
  });
}

// --- 两级销号: the second regulator co-signs the close-out note and sends it -----------------

const cosign = document.getElementById("cosign-form");
cosign?.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!canSign(outcome)) return;
  busy(cosign, true);
  say(outcome, T.signing, true);
  try {
    const receipt = await cosignAndSend(value(cosign, "note"), cosign.dataset.case,
                                        "case.closed", keyNotice);
    say(outcome, format(T.done, { index: receipt.index }), true);
    window.location.reload();
  } catch (err) {
    say(outcome, explain(err), false);
    busy(cosign, false);
  }
});

// --- a gap: open a case and assign it in one step -------------------------------------------

const opener = document.getElementById("open-case");
opener?.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!canSign(outcome)) return;
  const d = opener.dataset;
  const caseId = d.caseId;
  const opened = { region: d.region, source: "gap", gap: d.gap, type: d.type,
                   severity: value(opener, "severity"), title: value(opener, "title"),
                   facts: value(opener, "facts"), organisations: JSON.parse(d.organisations) };
  const batches = JSON.parse(d.batches);
  if (batches.length) opened.batches = batches;
  const assigned = { assignee: value(opener, "assignee"), person: value(opener, "person"),
                     measures: value(opener, "measures"), deadline: value(opener, "deadline") };
  busy(opener, true);
  say(outcome, T.signing, true);
  try {
    await signStep(caseId, "case.opened", opened, keyNotice);
    await signStep(caseId, "case.assigned", assigned, keyNotice);
    window.location.assign(`/regulator/cases/${encodeURIComponent(caseId)}`);
  } catch (err) {
    say(outcome, explain(err), false);
    busy(opener, false);
  }
});

// --- the list: assign the ticked cases at once ----------------------------------------------

const bulk = document.getElementById("bulk-assign");
bulk?.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!canSign(outcome)) return;
  const rows = Array.from(document.querySelectorAll("#case-list tr[data-case]"))
    .filter((tr) => tr.querySelector("input.pick:checked"));
  if (!rows.length) { say(outcome, T.none_selected, false); return; }
  busy(bulk, true);
  let done = 0;
  for (const tr of rows) {
    const data = { assignee: tr.dataset.assignee || tr.dataset.involved,
                   person: value(bulk, "person"), measures: value(bulk, "measures"),
                   deadline: value(bulk, "deadline") };
    try {
      await signStep(tr.dataset.case, "case.assigned", data, keyNotice);
      done += 1;
      tr.dataset.result = "assigned";
    } catch (err) {
      tr.dataset.result = "failed";
      say(outcome, `${tr.dataset.case}：${explain(err)}`, false);
      busy(bulk, false);
      return;
    }
  }
  say(outcome, format(T.bulk_done, { n: done }), true);
  window.location.reload();
});

ready();
