// 我的批次: 撤回 (withdraw) a batch declared by mistake while nobody else has signed on it, or
// 更正 (correct) the declared mass of one that can no longer be withdrawn. Both are signed on
// this device (batch.withdrawn, custody.corrected of the batch.declared entry), with a reason;
// the ledger applies the same rules as the page (docs/custody.md 3.9 and 3.18) and its refusal
// is shown as it comes, in the person's language.
import { api, messages, parseKg, signEntry, submitNote } from "../ledger.js";
import { withDeviceKey } from "./device.js";
import { format, gramsToKg } from "./util.js";

const T = messages();
const org = T.org;
const box = document.getElementById("amend-box");
const title = document.getElementById("amend-title");
const help = document.getElementById("amend-help");
const now = document.getElementById("amend-now");
const massField = document.getElementById("amend-mass-field");
const mass = document.getElementById("amend-mass");
const reason = document.getElementById("amend-reason");
const sign = document.getElementById("amend-sign");
const cancel = document.getElementById("amend-cancel");
const message = document.getElementById("amend-message");
const keyNotice = document.getElementById("amend-key");

let current = null; // {code, mode, row}

// One line, no control characters (the ledger refuses them: withdraw_reason_invalid).
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

function say(text, ok = true) {
  message.hidden = false;
  message.textContent = text;
  message.classList.toggle("error", !ok);
  message.scrollIntoView({ block: "nearest" });
}

function open(button) {
  const row = button.closest("tr");
  const mode = button.dataset.mode;
  current = { code: button.dataset.code, mode, row };
  button.closest("td").append(box);
  box.hidden = false;
  message.hidden = true;
  reason.value = "";
  mass.value = "";
  const correcting = mode === "correct";
  title.textContent = format(correcting ? T.correct_title : T.withdraw_title, { code: current.code });
  help.textContent = correcting ? T.correct_help : T.withdraw_help;
  sign.textContent = correcting ? T.correct_sign : T.withdraw_sign;
  massField.hidden = !correcting;
  now.hidden = !correcting;
  now.textContent = format(T.declared_now, { kg: gramsToKg(Number(row.dataset.declaredG)) });
  (correcting ? mass : reason).focus();
}

function checkedReason() {
  const text = reason.value.trim();
  if (!text) return { error: T.reason_required };
  if (text.length > 200) return { error: T.reason_too_long };
  if (CONTROL.test(text)) return { error: T.reason_required };
  return { text };
}

async function signOn(code, kind, data) {
  return withDeviceKey(org, keyNotice, T, async (key) => {
    const batch = await api("GET", `/api/v1/batches/${encodeURIComponent(code)}`);
    const last = batch.history[batch.history.length - 1];
    const built = typeof data === "function" ? data(batch) : data;
    const { note } = await signEntry({ stream: code, org, key, kind, data: built,
                                       head: { seq: last.seq, leaf: last.leaf_hash, t: last.t } });
    return submitNote(note);
  });
}

function markWithdrawn(row) {
  row.dataset.state = "withdrawn";
  const badge = row.querySelector(".badge");
  badge.className = "badge state-withdrawn";
  badge.textContent = T.withdrawn_state;
  row.querySelector("a.label-link")?.remove();
  row.querySelector("button.storage-action")?.remove();
  const pick = row.querySelector('input[name="codes"]');
  pick.checked = false;
  pick.disabled = true;
  pick.dataset.available = "no";
}

async function submit() {
  const { code, mode, row } = current;
  const why = checkedReason();
  if (why.error) { say(why.error, false); reason.focus(); return; }
  let grams = null;
  if (mode === "correct") {
    const parsed = parseKg(mass.value);
    if (parsed.error) { say(T[parsed.error] || T.mass_format, false); mass.focus(); return; }
    grams = parsed.grams;
    if (grams === Number(row.dataset.declaredG)) { say(T.mass_same, false); return; }
  }
  sign.disabled = true;
  say(T.signing);
  try {
    if (mode === "withdraw") {
      const receipt = await signOn(code, "batch.withdrawn", { reason: why.text });
      markWithdrawn(row);
      row.querySelector("button.amend")?.remove();
      say(format(T.withdrawn_batch, { index: receipt.index }));
    } else {
      const receipt = await signOn(code, "custody.corrected", (batch) => ({
        corrects: batch.history[0].leaf_hash, mass_g: grams, reason: why.text }));
      row.dataset.declaredG = String(grams);
      row.querySelector("td.num").textContent = gramsToKg(grams);
      say(format(T.corrected, { index: receipt.index, kg: gramsToKg(grams) }));
    }
    reason.value = "";
    mass.value = "";
    sign.hidden = true;
  } catch (err) {
    say(`${T.failed}: ${err && err.message ? err.message : err}`, false);
  } finally {
    sign.disabled = false;
  }
}

for (const button of document.querySelectorAll("button.amend")) {
  button.addEventListener("click", () => { sign.hidden = false; open(button); });
}
sign.addEventListener("click", () => { if (current) submit(); });
cancel.addEventListener("click", () => { box.hidden = true; current = null; });
reason.addEventListener("keydown", (event) => {
  if (event.key === "Enter") { event.preventDefault(); if (current) submit(); }
});
document.body.dataset.amendReady = "1";
