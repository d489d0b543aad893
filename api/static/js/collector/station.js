// A transfer station's own job (站内作业): sign for what arrives, put it into storage (入库) and
// take it out (出库), consolidate into a new drum and print its label at once, hand on.
import { api } from "../ledger.js";
import { $, el, t, kg, sign, groupedCode } from "./common.js";
import {
  state, say, withButton, load, renderIncoming, heldLine, storeOut, picked, start,
} from "./yard.js";

async function reload() {
  await load();
  render();
}

function render() {
  renderIncoming(reload);
  const facilities = state.yard.facilities;
  $("facilities").replaceChildren(...(facilities.length ? facilities.map((f) => el("li", {
    text: t("facility_line", { code: f.code, name: f.name, type: f.type,
                               kg: kg(f.stored_g), cap: f.capacity_kg.toLocaleString("zh-CN") }),
  })) : [el("li", { class: "muted", text: t("no_facility") })]));
  const select = $("facility");
  const chosen = select.value;
  select.replaceChildren(...facilities.map((f) => el("option", { value: f.code,
                                                                 text: `${f.code} ${f.name}` })));
  if (chosen) select.value = chosen;
  const held = state.round.held.filter((b) => !b.handover);
  $("held").replaceChildren(...(held.length ? held.map((b) => heldLine(b, { storage: reload }))
    : [el("li", { class: "muted", text: t("held_none") })]));
  const to = $("release-to");
  const was = to.value;
  // only receivers whose permit (or an exemption row) covers some held batch, as on the round
  const offered = state.round.receivers.filter((r) => (r.takes || []).length);
  to.replaceChildren(el("option", { value: "", text: t("choose_receiver") }),
    ...offered.map((r) => el("option", { value: r.uscc, text: r.name })));
  to.value = offered.some((r) => r.uscc === was) ? was : "";
}

async function consolidate() {
  const batches = picked();
  if (!batches.length) return say(t("choose_batches"), false);
  if (new Set(batches.map((b) => b.waste_code)).size !== 1) return say(t("one_waste_code"), false);
  const first = batches[0];
  const { code: child } = await api("GET",
    `/api/v1/collector/child-code?waste_code=${encodeURIComponent(first.waste_code)}`);
  const parents = [];
  for (const b of batches) {
    const head = await storeOut(b);
    const result = await sign({ stream: b.code, head, kind: "custody.consolidated_out",
                                data: { into: child, mass_g: b.mass_g },
                                label: `${t("consolidate")} · ${b.name}` });
    parents.push({ code: b.code, mass_g: b.mass_g, entry: result.head.leaf });
  }
  const data = {
    waste_code: first.waste_code, name: first.name, form: first.form || "solid",
    hazards: first.hazards || [],
    container: { type: $("consolidate-container").value.trim() || "桶", count: 1 },
    mass_g: parents.reduce((n, p) => n + p.mass_g, 0),
    generated_on: `${child.slice(26, 30)}-${child.slice(30, 32)}-${child.slice(32, 34)}`,
    parents,
  };
  if (first.hazardous === false) data.hazardous = false;
  await sign({ stream: child, head: null, kind: "batch.consolidated", data,
               label: `${t("consolidate")} → ${child.slice(-15)}` });
  await reload();
  const label = $("child-label");
  label.href = `/api/v1/batches/${encodeURIComponent(child)}/label.pdf`;
  label.dataset.code = child;
  label.hidden = false;
  say(t("consolidate_done", { code: groupedCode(child) }));
}

async function release() {
  const batches = picked();
  const to = $("release-to").value;
  if (!batches.length) return say(t("choose_batches"), false);
  if (!to) return say(t("choose_receiver"), false);
  const receiver = state.round.receivers.find((r) => r.uscc === to) || {};
  const lacking = batches.filter((b) => !(receiver.takes || []).includes(b.code));
  if (lacking.length) {
    return say(t("receiver_not_covered", {
      who: receiver.name || to, codes: [...new Set(lacking.map((b) => b.waste_code))].join("、") }),
    false);
  }
  const codes = batches.map((b) => b.code);
  let pickup = (state.round.outgoing || []).find((p) => p.to === to
    && codes.every((c) => p.batches.some((b) => b.code === c)));
  const reserved = !pickup;
  if (reserved) pickup = await api("POST", "/api/v1/pickups", { collector: to, batches: codes });
  let signed = 0;
  try {
    for (const b of batches) {
      const head = await storeOut(b);
      await sign({ stream: b.code, head, kind: "custody.released",
                   data: { to, mass_g: b.mass_g, manifest: pickup.manifest },
                   label: `${t("release")} · ${b.name}` });
      signed += 1;
    }
  } catch (err) {
    if (!signed && reserved) {
      await api("POST", `/api/v1/pickups/${encodeURIComponent(pickup.id)}/cancel`).catch(() => {});
    }
    await reload();
    throw err;
  }
  await reload();
  const name = (state.round.receivers.find((r) => r.uscc === to) || {}).name || to;
  say(t("release_done_one", { n: signed, who: name, m: pickup.manifest }));
}

$("consolidate-go").addEventListener("click", (e) => withButton(e.currentTarget, consolidate));
$("release-go").addEventListener("click", (e) => withButton(e.currentTarget, release));
start(render);
