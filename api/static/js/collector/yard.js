// What the station and disposer pages share: the round and the yard (storage facilities, what
// is in them, the 利用/处置方式 list, the latest disposals), batches to sign for on arrival,
// messages next to the tapped button, and storage out (出库) before a batch moves on.
import { api, ApiError, NetworkError, parseKg as parseMass } from "../ledger.js";
import {
  $, el, t, whoami, groupedCode, kg, kgNumber, downloadRound, headFor, sign, keyStatus,
  setUpWorkspace,
} from "./common.js";

export const me = whoami();
export const state = { round: null, yard: null };
let lastButton = null;

// The message box moves next to the tapped button; when a re-render removed that button, it
// goes back to its place in the page (it must never leave the page with the old list).
const box = $("action-message");
const home = box.parentElement;

export function say(text, ok = true) {
  const anchor = lastButton && lastButton.isConnected ? lastButton : null;
  if (anchor && box.previousElementSibling !== anchor) anchor.after(box);
  else if (!anchor && (!box.isConnected || box.parentElement !== home)) home.append(box);
  box.hidden = !text;
  box.textContent = text;
  box.classList.toggle("error", !ok);
  if (text) box.scrollIntoView({ block: "nearest" });
}

export function errorText(err) {
  return err instanceof ApiError || err instanceof NetworkError
    ? err.message : String(err.message || err);
}

export async function withButton(button, work) {
  button.disabled = true;
  lastButton = button;
  try {
    await work();
  } catch (err) {
    say(t("error", { msg: errorText(err) }), false);
  } finally {
    button.disabled = false;
  }
}

export async function load() {
  const status = $("round-status");
  status.textContent = t("downloading");
  state.round = await downloadRound(me.org);
  state.yard = await api("GET", "/api/v1/collector/yard");
  status.textContent = "";
}

/** Batches handed to this organisation whose release waits for its signature. */
export function incoming() {
  const seen = new Set();
  const out = [];
  for (const b of [...state.round.pickups.flatMap((p) => p.batches), ...state.round.incoming]) {
    const h = b.handover;
    if (seen.has(b.code) || !h || h.to !== me.org || h.status !== "awaiting_answer") continue;
    seen.add(b.code);
    out.push(b);
  }
  return out;
}

export function stayOf(code) {
  return (state.yard.stays || []).find((s) => s.batch === code) || null;
}

function describe(b) {
  return el("span", { class: "muted small",
                      text: `${b.waste_code} · ${kg(b.mass_g)} · ${b.generator_name || b.generator}` });
}

/** The incoming list: each batch with its weighing box and the accept button. */
export function renderIncoming(onDone) {
  const list = $("incoming");
  const rows = incoming();
  list.replaceChildren(...(rows.length ? rows.map((b) => {
    const input = el("input", { class: "weighed", inputmode: "decimal", autocomplete: "off",
                                "aria-label": t("weighed"), placeholder: t("weighed") });
    const button = el("button", { type: "button", class: "primary accept", text: t("accept") });
    button.addEventListener("click", () => withButton(button, async () => {
      // the one parser and its messages, as on the scan page ("65,3": use a point)
      const { grams, error } = parseMass(input.value);
      if (error) return say(t(error, { text: input.value.trim() }), false);
      const h = b.handover;
      await sign({ stream: b.code, head: await headFor(b.code, b.head), kind: "custody.accepted",
                   data: { from: h.from, mass_g: grams, manifest: h.manifest },
                   label: `${t("accept")} · ${b.name}` });
      await onDone();
      say(t("accept_done", { kg: kgNumber(grams) })); // the message says 千克 itself
    }));
    return el("li", { class: "batch", "data-code": b.code },
      el("div", { class: "batch-main" }, el("strong", { text: b.name }), el("br"),
        el("span", { class: "code small", text: groupedCode(b.code) }), el("br"), describe(b),
        el("div", { class: "row" }, input, button)));
  }) : [el("li", { class: "muted", text: t("incoming_none") })]));
}

/** A held batch line with a checkbox and, where the page stores, its 入库/出库 button. */
export function heldLine(b, { storage }) {
  const stay = stayOf(b.code);
  const box = el("input", { type: "checkbox", class: "pick", value: b.code,
                            "aria-label": b.name });
  const where = stay ? t("in_storage", { f: stay.facility, kg: kg(stay.in_mass_g) })
    : t("not_stored");
  const line = el("li", { class: "batch", "data-code": b.code },
    el("label", { class: "batch-main" }, box, " ", el("strong", { text: b.name }), el("br"),
      el("span", { class: "code small", text: groupedCode(b.code) }), el("br"), describe(b),
      storage ? el("br") : null,
      storage ? el("span", { class: "badge storage", text: where }) : null));
  if (storage) {
    const button = el("button", { type: "button", class: stay ? "store-out" : "store-in",
                                  text: stay ? t("store_out") : t("store_in") });
    button.addEventListener("click", () => withButton(button, async () => {
      if (stay) {
        await storeOut(b);
        await storage();
        return say(t("out_done"));
      }
      const facility = $("facility").value;
      if (!facility) return say(t("choose_facility"), false);
      await sign({ stream: b.code, head: await headFor(b.code, b.head), kind: "storage.in",
                   data: { facility, mass_g: b.mass_g }, label: `${t("store_in")} · ${b.name}` });
      await storage();
      say(t("stored_done", { f: facility }));
    }));
    line.append(button);
  }
  return line;
}

/** Take a batch out of storage (出库) if it is in; returns the head to chain to next. */
export async function storeOut(b) {
  const stay = stayOf(b.code);
  const head = await headFor(b.code, b.head);
  if (!stay) return head;
  const result = await sign({ stream: b.code, head, kind: "storage.out",
                              data: { facility: stay.facility, mass_g: b.mass_g },
                              label: `${t("store_out")} · ${b.name}` });
  return result.head;
}

export function picked() {
  const codes = new Set([...document.querySelectorAll("#held input.pick:checked")]
    .map((x) => x.value));
  return state.round.held.filter((b) => codes.has(b.code));
}

export async function start(render) {
  await setUpWorkspace();
  $("download").addEventListener("click", () => withButton($("download"), async () => {
    await load();
    render();
  }));
  await keyStatus({ create: true });
  try {
    await load();
  } catch (err) {
    $("round-status").textContent = t("download_failed", { msg: errorText(err) });
    return;
  }
  render();
  document.body.dataset.ready = "1";
}
