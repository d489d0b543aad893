// 申报批次: search the national catalogue as you type, fill in the hazards, turn kilograms into
// exact integer grams, ask the server for the next free batch code, then build the
// batch.declared entry and sign it on this device (its key is made and registered on first use).
import { ApiError, NetworkError, api, deviceKey, messages, signEntry, submitNote } from "../ledger.js";
import { withDeviceKey } from "./device.js";
import { fieldFor, format, gramsToKg, parseMassKg } from "./util.js";

const T = messages();
const form = document.getElementById("declare-form");
const org = form.dataset.org;
const search = document.getElementById("waste-search");
const list = document.getElementById("waste-options");
const help = document.getElementById("waste-help");
const codeInput = document.getElementById("waste-code");
const chosenBox = document.getElementById("waste-chosen");
const nameInput = document.getElementById("name");
const keyNotice = document.getElementById("device-key");
const submitButton = document.getElementById("declare-submit");
const formError = document.getElementById("form-error");

const DEBOUNCE_MS = 250;
const TAKEN = new Set(["batch_exists", "seq_mismatch"]);
const LIMIT = 12;
let items = [];
let active = -1;
let timer = null;
let asked = 0; // answers to older questions are dropped
let autoName = "";

// --- the catalogue combobox -----------------------------------------------------------------

/** A short waste name from a catalogue description: what the process "产生的…" leaves. */
export function guessName(description) {
  const text = description.replace(/（[^）]*）/g, "");
  const at = text.lastIndexOf("产生的");
  let name = at >= 0 ? text.slice(at + 3) : text;
  name = name.split(/[，,；;。、]/)[0].trim();
  if (!name || name.length > 30) name = text.split(/[，,；;。]/)[0].slice(0, 30);
  return name;
}

function setExpanded(open) {
  list.hidden = !open;
  search.setAttribute("aria-expanded", open ? "true" : "false");
  if (!open) { active = -1; search.removeAttribute("aria-activedescendant"); }
}

function render() {
  list.replaceChildren();
  items.forEach((w, i) => {
    const li = document.createElement("li");
    li.id = `waste-option-${i}`;
    li.setAttribute("role", "option");
    li.setAttribute("aria-selected", i === active ? "true" : "false");
    li.dataset.index = String(i);
    const head = document.createElement("div");
    const code = document.createElement("strong");
    code.className = "code";
    code.textContent = w.code;
    const cat = document.createElement("span");
    cat.className = "badge";
    cat.textContent = `${w.category} ${w.category_name || ""}`.trim();
    head.append(code, " ", cat);
    const desc = document.createElement("div");
    desc.className = "desc";
    desc.textContent = w.industry ? `${w.industry} · ${w.description}` : w.description;
    li.append(head, desc);
    list.append(li);
  });
  setExpanded(items.length > 0);
  if (active >= 0) {
    search.setAttribute("aria-activedescendant", `waste-option-${active}`);
    list.children[active].scrollIntoView({ block: "nearest" });
  }
}

async function lookUp(q) {
  const mine = ++asked;
  help.textContent = T.searching;
  try {
    const url = `${form.dataset.catalogueUrl}?q=${encodeURIComponent(q)}&limit=${LIMIT}`;
    const answer = await api("GET", url);
    if (mine !== asked) return;
    items = answer.items;
    active = items.length ? 0 : -1;
    help.textContent = items.length ? format(T.results, { n: items.length }) : T.no_results;
    render();
  } catch (err) {
    if (mine !== asked) return;
    items = [];
    render();
    help.textContent = err instanceof ApiError ? err.message : T.search_failed;
  }
}

function choose(index) {
  const w = items[index];
  if (!w) return;
  codeInput.value = w.code;
  search.value = `${w.code} ${guessName(w.description)}`;
  chosenBox.querySelector('[data-slot="code"]').textContent = w.code;
  chosenBox.querySelector('[data-slot="category"]').textContent =
    `${w.category} ${w.category_name || ""}`.trim();
  chosenBox.querySelector('[data-slot="description"]').textContent = w.description;
  chosenBox.hidden = false;
  for (const box of form.querySelectorAll('input[name="hazards"]')) {
    box.checked = w.hazards.includes(box.value);
  }
  if (!nameInput.value.trim() || nameInput.value === autoName) {
    autoName = guessName(w.description);
    nameInput.value = autoName;
  }
  clearError("waste_code");
  items = [];
  setExpanded(false);
  help.textContent = "";
}

search.addEventListener("input", () => {
  codeInput.value = "";
  chosenBox.hidden = true;
  clearTimeout(timer);
  const q = search.value.trim();
  if (!q) { asked++; items = []; setExpanded(false); help.textContent = ""; return; }
  timer = setTimeout(() => lookUp(q), DEBOUNCE_MS);
});

search.addEventListener("keydown", (event) => {
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    if (!items.length) return;
    event.preventDefault();
    const step = event.key === "ArrowDown" ? 1 : -1;
    active = (active + step + items.length) % items.length;
    render();
  } else if (event.key === "Enter") {
    if (!list.hidden && active >= 0) { event.preventDefault(); choose(active); }
  } else if (event.key === "Escape") {
    setExpanded(false);
  }
});

// Keep the focus in the input while a finger or mouse picks an option.
list.addEventListener("pointerdown", (event) => event.preventDefault());
list.addEventListener("click", (event) => {
  const li = event.target.closest("li[role=option]");
  if (li) choose(Number(li.dataset.index));
});
search.addEventListener("blur", () => setTimeout(() => setExpanded(false), 150));
search.addEventListener("focus", () => { if (items.length) render(); });

// --- validation ------------------------------------------------------------------------------

function showError(field, message) {
  const slot = document.getElementById(`err-${field}`);
  if (!slot) { formError.textContent = message; formError.hidden = false; return; }
  slot.textContent = message;
  slot.hidden = false;
  const input = slot.closest(".field, fieldset")?.querySelector("input, select, textarea");
  if (input) input.setAttribute("aria-invalid", "true");
}

function clearError(field) {
  const slot = document.getElementById(`err-${field}`);
  if (slot) { slot.hidden = true; slot.textContent = ""; }
}

function clearErrors() {
  for (const slot of form.querySelectorAll(".field-error")) { slot.hidden = true; slot.textContent = ""; }
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  formError.hidden = true;
  formError.textContent = "";
}

function optionalText(name) {
  const value = form.elements[name].value.trim();
  return value || undefined;
}

/** The entry's data from the form, or null after showing what is wrong. */
function collect() {
  let ok = true;
  const fail = (field, message) => {
    if (ok) {  // bring the first problem into view (a phone shows only part of the form)
      document.getElementById(`err-${field}`)?.closest(".field, fieldset")
        ?.scrollIntoView({ block: "center" });
    }
    ok = false;
    showError(field, message);
  };
  if (!codeInput.value) fail("waste_code", T.choose_code);
  const name = nameInput.value.trim();
  if (!name) fail("name", T.name_required);
  const mass = parseMassKg(form.elements.mass_kg.value);
  if (mass.error) fail("mass_g", T[mass.error]);
  const containerType = form.elements.container_type.value.trim();
  if (!containerType) fail("container", T.container_required);
  const count = form.elements.container_count.value.trim();
  if (!/^[1-9]\d{0,5}$/.test(count)) fail("container", T.count_invalid);
  const volume = form.elements.container_volume.value.trim();
  if (volume && !/^[1-9]\d{0,5}$/.test(volume)) fail("container", T.volume_invalid);
  const day = form.elements.generated_on.value;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) fail("generated_on", T.date_required);
  if (!ok) return null;
  const container = { type: containerType, count: Number(count) };
  if (volume) container.volume_l = Number(volume);
  const data = {
    waste_code: codeInput.value,
    name,
    form: form.elements.form.value,
    hazards: Array.from(form.querySelectorAll('input[name="hazards"]:checked'), (b) => b.value),
    container,
    mass_g: mass.grams,
    generated_on: day,
  };
  for (const extra of ["location", "components", "harmful_components", "precautions", "notes"]) {
    const value = optionalText(extra);
    if (value !== undefined) data[extra] = value;
  }
  return data;
}

// --- signing ---------------------------------------------------------------------------------

async function nextCode(data) {
  const q = new URLSearchParams({ waste_code: data.waste_code, generated_on: data.generated_on });
  return api("GET", `${form.dataset.nextCodeUrl}?${q}`);
}

// A declaration signed whose answer was lost (the network failed after sending): the same
// form submitted again sends this same note — a repeat gets the first receipt — instead of
// signing a second batch for the same drum.
let unsent = null; // {dataKey, code, note}

async function declareWith(key, data) {
  const dataKey = JSON.stringify(data);
  if (unsent && unsent.dataKey === dataKey) {
    try {
      const receipt = await submitNote(unsent.note);
      const { code } = unsent;
      unsent = null;
      return { code, receipt };
    } catch (err) {
      if (!(err instanceof NetworkError)) unsent = null;
      throw err;
    }
  }
  unsent = null;
  for (let attempt = 0; ; attempt++) {
    const next = await nextCode(data);
    const { note } = await signEntry({ stream: next.code, head: null, org, key,
                                       kind: "batch.declared", data });
    unsent = { dataKey, code: next.code, note };
    try {
      const receipt = await submitNote(note);
      unsent = null;
      return { code: next.code, receipt };
    } catch (err) {
      if (err instanceof NetworkError) throw err; // keep ``unsent`` for the next submit
      unsent = null;
      // Another device took this serial between our question and our answer: ask again once.
      // The ledger's chain check usually answers first (seq_mismatch: the stream already has
      // its entry 0); batch_exists is the declaration rule saying the same.
      if (attempt === 0 && err instanceof ApiError && TAKEN.has(err.code)) {
        keyNotice.textContent = T.retrying;
        keyNotice.hidden = false;
        continue;
      }
      throw err;
    }
  }
}

function showDeclared(code, data, receipt) {
  const box = document.getElementById("declared");
  box.querySelector('[data-slot="code"]').textContent = code;
  box.querySelector('[data-slot="waste"]').textContent = `${data.name}（${data.waste_code}）`;
  box.querySelector('[data-slot="mass"]').textContent = `${gramsToKg(data.mass_g)} ${T.kg}`;
  box.querySelector('[data-slot="index"]').textContent = String(receipt.index);
  const label = document.getElementById("declared-label");
  const size = document.getElementById("declared-size");
  const base = `/api/v1/batches/${encodeURIComponent(code)}/label.pdf`;
  const update = () => { label.href = size.value ? `${base}?size=${size.value}` : base; };
  size.addEventListener("change", update);
  update();
  document.getElementById("declared-trace").href = `/t/${encodeURIComponent(code)}`;
  form.hidden = true;
  box.hidden = false;
  box.dataset.code = code;
  box.scrollIntoView({ block: "start" });
  label.focus();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors();
  const data = collect();
  if (!data) return;
  if (!(window.crypto && crypto.subtle)) { showError("general", T.no_webcrypto); return; }
  submitButton.disabled = true;
  try {
    const { code, receipt } = await withDeviceKey(org, keyNotice, T,
                                                  (signingKey) => declareWith(signingKey, data));
    showDeclared(code, data, receipt);
  } catch (err) {
    if (err instanceof NetworkError) {
      showError("general", T.network);
    } else if (err instanceof ApiError) {
      const errors = (err.body && err.body.errors) || {};
      const fields = Object.keys(errors);
      if (!fields.length) showError("general", err.message);
      for (const f of fields) showError(fieldFor(f), [].concat(errors[f]).join(" "));
    } else {
      showError("general", `${T.failed}: ${err && err.message ? err.message : err}`);
    }
  } finally {
    submitButton.disabled = false;
  }
});

// Whether this device already has its key, so the first signature's registration is expected.
deviceKey(org).then((k) => {
  if (!k || !k.registered) {
    keyNotice.textContent = T.first_use;
    keyNotice.hidden = false;
  }
}).catch(() => {});
