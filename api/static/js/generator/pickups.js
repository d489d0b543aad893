// 预约收集: confirm a release to the collector, signed on this device. Each batch's stream head
// and open handover are read fresh just before signing, so a release made after the driver
// has already signed for the batch (receiver signs first) settles that handover.
import {
  ApiError, NetworkError, api, messages, signEntry, signingSupport, submitNote,
} from "../ledger.js";
import { DEAD_KEY, renewKey, signingKey } from "./device.js";
import { format, gramsToKg } from "./util.js";

const T = messages();
const org = T.org;
const keyNotice = document.getElementById("device-key");

function show(li, text, ok) {
  const outcome = li.querySelector('[data-slot="outcome"]');
  outcome.textContent = text;
  outcome.className = `outcome ${ok ? "ok" : "bad"}`;
}

function finish(li, statusText, status = "released") {
  li.dataset.status = status;
  const badge = li.querySelector('[data-slot="status"]');
  if (statusText) { badge.textContent = statusText; badge.className = "badge ok"; }
  li.querySelector("button.sign-one")?.remove();
}

/** Sign custody.released for one batch of the request; resolves to true when accepted, or
 * to "dead_key" when the ledger no longer takes this device's key. */
async function release(article, li, signingKey) {
  const code = li.dataset.code;
  show(li, T.signing, true);
  try {
    const batch = await api("GET", `/api/v1/batches/${encodeURIComponent(code)}`);
    if (batch.holder !== org) { show(li, T.not_holder, false); finish(li, null, "done"); return false; }
    const open = batch.handovers.filter((h) => h.status === "awaiting_answer" ||
                                               h.status === "awaiting_release").pop();
    if (open && open.status === "awaiting_answer") { show(li, T.already, true); finish(li, null); return true; }
    const last = batch.history[batch.history.length - 1];
    const data = { to: article.dataset.collector, mass_g: batch.mass_g, manifest: article.dataset.manifest };
    // A claimed exemption row (豁免管理清单) is signed with its condition word for word.
    const exemption = li.querySelector("select.exemption")?.value;
    if (exemption) data.exemption = JSON.parse(exemption);
    let head = { seq: last.seq, leaf: last.leaf_hash, t: last.t };
    if (batch.storage) {  // in a storage facility: signed out of it first (出库, HJ 1259)
      const out = await signEntry({ stream: code, head, org, key: signingKey, kind: "storage.out",
                                    data: { facility: batch.storage.facility,
                                            mass_g: batch.mass_g } });
      await submitNote(out.note);
      head = out.head;
    }
    const { note } = await signEntry({
      stream: code, head, org, key: signingKey, kind: "custody.released", data,
    });
    const receipt = await submitNote(note);
    li.querySelector('[data-slot="next"]')?.remove();
    li.querySelector("button.withdraw-one")?.remove();
    li.dataset.index = String(receipt.index);
    // The collector refused before this release: the release settles a refusal, not a
    // handover. Whole: the batch is still here (sign again later, or cancel). Partial: the
    // collector takes the rest; the refused part stays this unit's to take back.
    if (open && open.accepted_mass_g === null) {
      const refused = open.refused_mass_g;
      if (refused !== null && refused < batch.mass_g) {
        show(li, format(T.partial_settled, { accepted: gramsToKg(batch.mass_g - refused),
                                             refused: gramsToKg(refused), index: receipt.index }), true);
        finish(li, T.partial_badge, "done");
      } else {
        show(li, format(T.refusal_confirmed, { index: receipt.index }), false);
        const badge = li.querySelector('[data-slot="status"]');
        badge.textContent = T.refused_badge;
        badge.className = "badge warn";
        li.dataset.status = "sign";
        const button = li.querySelector("button.sign-one");
        if (button) button.textContent = T.sign_again;
      }
      return true;
    }
    // The badge says where the batch is; the line under it, once, which record says so.
    show(li, format(open ? T.settled : T.accepted, { index: receipt.index }), true);
    finish(li, open ? T.settled_badge : T.released_badge, open ? "done" : "released");
    return true;
  } catch (err) {
    if (err instanceof ApiError && DEAD_KEY.has(err.code)) return "dead_key";
    if (err instanceof NetworkError) show(li, T.network, false);
    else if (err instanceof ApiError) show(li, `${T.failed}: ${err.message}`, false);
    else show(li, `${T.failed}: ${err && err.message ? err.message : err}`, false);
    return false;
  }
}

async function run(article, items, button) {
  if (await signingSupport() === "none") {
    keyNotice.textContent = T.no_webcrypto;
    keyNotice.hidden = false;
    return;
  }
  const buttons = article.querySelectorAll("button");
  buttons.forEach((b) => { b.disabled = true; });
  try {
    let key = await signingKey(org, keyNotice, T);
    for (const li of items) {
      if (await release(article, li, key) === "dead_key") {
        key = await renewKey(org, keyNotice, T);
        if (await release(article, li, key) === "dead_key") show(li, T.failed, false);
      }
    }
  } catch (err) {
    keyNotice.textContent = `${T.failed}: ${err && err.message ? err.message : err}`;
    keyNotice.hidden = false;
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
    if (button && !article.querySelector("button.sign-one")) button.remove();
    // Nothing left to sign: cancelling the request would only hide what was handed over.
    if (!article.querySelector('li[data-status="sign"]')) article.querySelector("form.inline")?.remove();
  }
}

/** Withdraw this unit's half of a handover, or decline the collector's early receipt: a
 * signed custody.withdrawn (asked twice). The batch stays here, to be handed over again. */
async function withdraw(article, li, button) {
  if (button.dataset.armed !== "1") {
    button.dataset.armed = "1";
    button.textContent = T.withdraw_confirm;
    return;
  }
  button.disabled = true;
  show(li, T.signing, true);
  try {
    const key = await signingKey(org, keyNotice, T);
    const code = li.dataset.code;
    const batch = await api("GET", `/api/v1/batches/${encodeURIComponent(code)}`);
    const last = batch.history[batch.history.length - 1];
    const reason = { answered: T.withdraw_reason_answered, refused: T.withdraw_reason_refused }[
      li.dataset.status] || T.withdraw_reason_released;
    const { note } = await signEntry({
      stream: code, head: { seq: last.seq, leaf: last.leaf_hash, t: last.t }, org, key,
      kind: "custody.withdrawn", data: { manifest: article.dataset.manifest, reason },
    });
    const receipt = await submitNote(note);
    show(li, format(T.withdrawn, { index: receipt.index }), true);
    finish(li, T.withdrawn_badge, "withdrawn");
    li.querySelector('[data-slot="weighed"]')?.remove();
    li.querySelector('[data-slot="next"]')?.remove();
    button.remove();
  } catch (err) {
    button.disabled = false;
    show(li, `${T.failed}: ${err && err.message ? err.message : err}`, false);
  }
}

// Show the condition the signature will state when an exemption row is chosen.
for (const select of document.querySelectorAll("select.exemption")) {
  const hint = select.parentElement.querySelector('[data-slot="condition"]');
  const first = hint.textContent;
  select.addEventListener("change", () => {
    const option = select.selectedOptions[0];
    hint.textContent = option && option.value ? `${T.exempt_condition}${option.dataset.condition}` : first;
  });
}

for (const article of document.querySelectorAll("article.pickup")) {
  article.addEventListener("click", (event) => {
    const back = event.target.closest("button.withdraw-one");
    if (back) { withdraw(article, back.closest("li"), back); return; }
    const one = event.target.closest("button.sign-one");
    if (one) { run(article, [one.closest("li")], null); return; }
    const all = event.target.closest("button.sign-all");
    if (all) {
      const items = Array.from(article.querySelectorAll("li[data-code]"))
        .filter((li) => li.querySelector("button.sign-one") && li.dataset.status !== "refused");
      run(article, items, all);
    }
  });
  const cancel = article.querySelector("form.inline");
  cancel?.addEventListener("submit", (event) => {
    if (!window.confirm(T.confirm_cancel)) event.preventDefault();
  });
}

// The new request's form offers only the receivers that may take every ticked batch (their
// permit covers it, or an exemption row fits them); ticking or unticking updates the list and
// the "why not" list at once, and a choice that no longer fits is cleared.
const pickupForm = document.getElementById("pickup-form");
if (pickupForm) {
  const collector = pickupForm.querySelector("#collector");
  const ticks = Array.from(pickupForm.querySelectorAll('input[name="batches"]'));
  const takes = (node) => new Set((node.dataset.takes || "").split(" ").filter(Boolean));
  const refresh = () => {
    const chosen = ticks.filter((t) => t.checked).map((t) => t.value);
    const fits = (node) => {
      const can = takes(node);
      return chosen.length ? chosen.every((c) => can.has(c)) : can.size > 0;
    };
    for (const option of collector.querySelectorAll("option[data-takes]")) {
      const ok = fits(option);
      option.hidden = !ok;
      option.disabled = !ok;
      if (!ok && option.selected) collector.value = "";
    }
    for (const li of pickupForm.querySelectorAll("#not-offered li[data-takes]")) {
      li.hidden = fits(li);
    }
  };
  for (const t of ticks) t.addEventListener("change", refresh);
  refresh();
}

// The signing buttons start disabled (without this script they could do nothing); enabled now
// that every handler above is attached, so a quick tap on a slow phone is never lost.
for (const button of document.querySelectorAll("[data-needs-js]")) button.disabled = false;
