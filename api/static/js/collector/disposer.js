// A disposer's page (接收处置): sign for what arrives, record utilisation or disposal choosing
// the 利用/处置方式 from the loaded list, and record the residues it produced (次生废物) as new
// batches of its own, linked to those disposals, with their labels.
import { api } from "../ledger.js";
import { $, el, t, kg, parseKg, headFor, sign, groupedCode } from "./common.js";
import { state, say, withButton, load, renderIncoming, heldLine, picked, start } from "./yard.js";

async function reload() {
  await load();
  render();
}

function renderMethods() {
  const method = $("dispose-method").value;
  const methods = state.yard.methods;
  const select = $("dispose-code");
  // the page says, in its own words, that the list is not loaded and how to load it
  $("methods-note").hidden = methods !== null;
  $("dispose-code-wrap").hidden = methods === null;
  $("dispose-code-other-wrap").hidden = methods !== null;
  if (methods === null) return;
  select.replaceChildren(el("option", { value: "", text: t("choose_method") }),
    ...methods.filter((m) => m.method === method)
      .map((m) => el("option", { value: m.code, text: `${m.code} ${m.name}` })));
}

function render() {
  renderIncoming(reload);
  const held = state.round.held.filter((b) => b.state === "received" && !b.handover);
  $("held").replaceChildren(...(held.length ? held.map((b) => heldLine(b, { storage: null }))
    : [el("li", { class: "muted", text: t("held_none") })]));
  renderMethods();
  $("disposals").replaceChildren(...state.yard.disposals.map((d) => el("li", { class: "batch" },
    el("label", {}, el("input", { type: "checkbox", class: "source", value: d.batch,
                                  "data-entry": d.entry }),
       " ", el("strong", { text: d.name }), " ",
       el("span", { class: "muted small",
                    text: `${d.method_code} · ${kg(d.mass_g)} · ${groupedCode(d.batch)}` })))));
}

async function dispose() {
  const batches = picked();
  if (!batches.length) return say(t("choose_batches"), false);
  const method = $("dispose-method").value;
  const code = state.yard.methods === null ? $("dispose-code-other").value.trim()
    : $("dispose-code").value;
  if (!code) return say(t("choose_method"), false);
  const activity = method === "disposal" ? "dispose" : "utilise";
  for (const b of batches) {
    const permit = (b.permits || {})[activity];
    if (!permit) return say(`${b.name}: ${t("permit_missing")}`, false);
  }
  for (const b of batches) {
    await sign({ stream: b.code, head: await headFor(b.code, b.head), kind: "custody.disposed",
                 data: { method, method_code: code, permit: b.permits[activity],
                         mass_g: b.mass_g },
                 label: `${t("dispose")} · ${b.name}` });
  }
  await reload();
  say(t("dispose_done"));
}

async function residue() {
  const sources = [...document.querySelectorAll("#disposals input.source:checked")]
    .map((x) => ({ code: x.value, entry: x.dataset.entry }));
  if (!sources.length) return say(t("residue_sources"), false);
  const waste = $("residue-code").value.trim();
  const name = $("residue-name").value.trim();
  const grams = parseKg($("residue-kg").value);
  if (!/^[0-9]{3}-?[0-9]{3}-?[0-9]{2}$/.test(waste) || !name || !grams) {
    return say(t("residue_fields"), false);
  }
  const hyphenated = waste.replace(/^(\d{3})-?(\d{3})-?(\d{2})$/, "$1-$2-$3");
  const { code } = await api("GET",
    `/api/v1/collector/child-code?waste_code=${encodeURIComponent(hyphenated)}`);
  const general = $("residue-general").checked;
  const hazards = general ? []
    : [...document.querySelectorAll("input[name='residue-hazard']:checked")].map((x) => x.value);
  if (!general && !hazards.length) return say(t("residue_hazards"), false);
  const data = {
    waste_code: hyphenated, name, form: $("residue-form").value, hazards,
    container: { type: $("residue-container").value.trim() || "吨袋", count: 1 },
    mass_g: grams,
    generated_on: `${code.slice(26, 30)}-${code.slice(30, 32)}-${code.slice(32, 34)}`,
    sources,
  };
  if (general) data.hazardous = false;
  await sign({ stream: code, head: null, kind: "batch.residue", data,
               label: `${name} · ${code.slice(-15)}` });
  const label = $("residue-label");
  label.href = `/api/v1/batches/${encodeURIComponent(code)}/label.pdf`;
  label.dataset.code = code;
  label.hidden = false;
  await reload();
  say(t("residue_done", { code: groupedCode(code) }));
}

$("dispose-method").addEventListener("change", renderMethods);
// a general (non-hazardous) residue has no hazards: the boxes go away while it is ticked
$("residue-general").addEventListener("change", (e) => {
  $("residue-hazards").hidden = e.currentTarget.checked;
});
$("dispose-go").addEventListener("click", (e) => withButton(e.currentTarget, dispose));
$("residue-go").addEventListener("click", (e) => withButton(e.currentTarget, residue));
start(render);
