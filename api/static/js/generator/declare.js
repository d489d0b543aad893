// 申报批次: search the national catalogue as you type, fill in the hazards, turn kilograms into
// exact integer grams, ask the server for the next free batch code, then build the
// batch.declared entry and sign it on this device (its key is made and registered on first use).
import {
  ApiError, NetworkError, api, csrfToken, deviceKey, messages, signEntry, signingSupport,
  submitNote,
} from "../ledger.js";
import { withDeviceKey } from "./device.js";
import { fieldFor, format, gramsToKg, parseMassKg } from "./util.js";
import { identification } from "./identified.js";

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
const MAX_CONTAINERS = Number(form.elements.container_count.max) || 100;
const TAKEN = new Set(["batch_exists", "seq_mismatch"]);
const LIMIT = 12;
let items = [];
let active = -1;
let timer = null;
let asked = 0; // answers to older questions are dropped
let autoName = "";

// --- the catalogue combobox -----------------------------------------------------------------

const WHY = { previous: T.why_previous, region: T.why_region };
let total = 0;
let lastQuery = "";

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
    const why = w.why === "synonym" ? format(T.why_synonym, { term: w.synonym })
      : WHY[w.why];
    if (why) {
      const badge = document.createElement("span");
      badge.className = `badge why why-${w.why}`;
      badge.textContent = why;
      head.append(" ", badge);
    }
    const name = document.createElement("div");
    name.className = "short-name";
    name.textContent = w.name;
    const desc = document.createElement("div");
    desc.className = "desc";
    desc.textContent = w.industry ? `${w.industry} · ${w.description}` : w.description;
    li.append(head, name, desc);
    list.append(li);
  });
  if (items.length < total) {
    // The rest is a tap away: the list says how many there are, and never hides them.
    const more = document.createElement("li");
    more.className = "more";
    more.setAttribute("role", "option");
    more.id = `waste-option-${items.length}`;
    more.setAttribute("aria-selected", active === items.length ? "true" : "false");
    more.dataset.more = "1";
    more.textContent = format(T.more, { n: total - items.length });
    list.append(more);
  }
  setExpanded(items.length > 0);
  if (active >= 0) {
    search.setAttribute("aria-activedescendant", `waste-option-${active}`);
    list.children[active].scrollIntoView({ block: "nearest" });
  }
}

async function lookUp(q, offset = 0) {
  const mine = ++asked;
  help.textContent = T.searching;
  try {
    const url = `${form.dataset.catalogueUrl}?q=${encodeURIComponent(q)}&limit=${LIMIT}`
      + `&offset=${offset}`;
    const answer = await api("GET", url);
    if (mine !== asked) return;
    lastQuery = q;
    total = answer.total;
    items = offset ? items.concat(answer.items) : answer.items;
    active = items.length ? (offset ? offset : 0) : -1;
    help.textContent = items.length
      ? format(q ? T.results : T.usual, { n: total, shown: items.length })
      : (q ? T.no_results : "");
    render();
  } catch (err) {
    if (mine !== asked) return;
    items = [];
    render();
    help.textContent = err instanceof ApiError ? err.message : T.search_failed;
  }
}

function choose(index) {
  if (index === items.length && items.length < total) { lookUp(lastQuery, items.length); return; }
  const w = items[index];
  if (!w) return;
  codeInput.value = w.code;
  search.value = `${w.code} ${w.name}`;
  chosenBox.querySelector('[data-slot="code"]').textContent = w.code;
  chosenBox.querySelector('[data-slot="category"]').textContent =
    `${w.category} ${w.category_name || ""}`.trim();
  chosenBox.querySelector('[data-slot="description"]').textContent = w.description;
  chosenBox.hidden = false;
  for (const box of form.querySelectorAll('input[name="hazards"]')) {
    box.checked = w.hazards.includes(box.value);
  }
  if (!nameInput.value.trim() || nameInput.value === autoName) {
    autoName = w.name;
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
  // What was listed no longer answers what is typed: never let Enter pick from it, and drop
  // any answer still on its way.
  asked++;
  items = [];
  total = 0;
  setExpanded(false);
  const q = search.value.trim();
  if (!q) { timer = setTimeout(() => lookUp(""), DEBOUNCE_MS); return; }
  timer = setTimeout(() => lookUp(q), DEBOUNCE_MS);
});

search.addEventListener("keydown", (event) => {
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    if (!items.length) return;
    event.preventDefault();
    const step = event.key === "ArrowDown" ? 1 : -1;
    const n = items.length + (items.length < total ? 1 : 0); // "more" is the last option
    active = (active + step + n) % n;
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
  if (li) choose(li.dataset.more ? items.length : Number(li.dataset.index));
});
search.addEventListener("blur", () => setTimeout(() => setExpanded(false), 150));
// An empty box offers what this unit declared before and the region's common wastes.
search.addEventListener("focus", () => {
  if (items.length) render();
  else if (!search.value.trim() && !codeInput.value) lookUp("");
});

// --- the same as last time -----------------------------------------------------------------

const lastNode = document.getElementById("last-declaration");
const last = lastNode ? JSON.parse(lastNode.textContent) : null;

/** Fill the form as the latest declaration was (not its mass or date: this drum's own). */
function sameAsLast() {
  if (!last) return;
  codeInput.value = last.waste_code;
  search.value = `${last.waste_code} ${last.name}`;
  chosenBox.querySelector('[data-slot="code"]').textContent = last.waste_code;
  chosenBox.querySelector('[data-slot="category"]').textContent = last.category || "";
  chosenBox.querySelector('[data-slot="description"]').textContent = last.description || "";
  chosenBox.hidden = false;
  nameInput.value = last.name;
  autoName = last.name;
  for (const box of form.querySelectorAll('input[name="hazards"]')) {
    box.checked = (last.hazards || []).includes(box.value);
  }
  const formRadio = form.querySelector(`input[name="form"][value="${last.form}"]`);
  if (formRadio) formRadio.checked = true;
  if (last.container) {
    form.elements.container_type.value = last.container.type || "";
    form.elements.container_count.value = String(last.container.count || 1);
    form.elements.container_volume.value = last.container.volume_l ? String(last.container.volume_l) : "";
  }
  for (const extra of ["location", "components", "harmful_components", "precautions", "notes"]) {
    form.elements[extra].value = last[extra] || "";
  }
  clearError("waste_code");
  clearError("name");
  items = [];
  setExpanded(false);
  help.textContent = T.same_filled;
  form.elements.mass_kg.focus();
}
document.getElementById("same-as-last")?.addEventListener("click", sameAsLast);

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
  else if (Number(count) > MAX_CONTAINERS) fail("container", T.count_too_many);
  const volume = form.elements.container_volume.value.trim();
  if (volume && !/^[1-9]\d{0,5}$/.test(volume)) fail("container", T.volume_invalid);
  const day = form.elements.generated_on.value;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) fail("generated_on", T.date_required);
  const hazards = Array.from(form.querySelectorAll('input[name="hazards"]:checked'), (b) => b.value);
  const identified = identification(fail, T, hazards);
  if (!ok || identified === null) return null;
  // One item, one code (一物一码): each container is its own batch; ``count`` of them are
  // declared together (see declareWith), each entry saying container.count 1.
  const container = { type: containerType, count: 1 };
  if (volume) container.volume_l = Number(volume);
  const data = {
    waste_code: codeInput.value,
    name,
    form: form.elements.form.value,
    hazards,
    container,
    mass_g: mass.grams,
    generated_on: day,
  };
  Object.assign(data, identified);
  if (form.dataset.general === "1") {  // 一般工业固体废物 (general.js): no hazards
    data.hazardous = false;
    data.hazards = [];
  }
  for (const extra of ["location", "components", "harmful_components", "precautions", "notes"]) {
    const value = optionalText(extra);
    if (value !== undefined) data[extra] = value;
  }
  return data;
}

// --- signing ---------------------------------------------------------------------------------

async function nextCode(data, count) {
  const q = new URLSearchParams({ waste_code: data.waste_code, generated_on: data.generated_on,
                                  count: String(count) });
  if (data.hazardous === false) q.set("hazardous", "false");
  return api("GET", `${form.dataset.nextCodeUrl}?${q}`);
}

// Declarations signed whose answers were lost (the network failed after sending): the same
// form submitted again sends these same notes — a repeat gets the first receipt — instead of
// signing further batches for the same drums.
let unsent = null; // {dataKey, codes, notes, receipts}

/** Send the signed notes not yet acknowledged, in order; resolves to {codes, receipts}. */
async function sendAll(pending) {
  while (pending.receipts.length < pending.notes.length) {
    pending.receipts.push(await submitNote(pending.notes[pending.receipts.length]));
  }
  unsent = null;
  return { codes: pending.codes, receipts: pending.receipts };
}

/** Declare ``count`` containers of ``data``: one code and one signed batch.declared each,
 * sharing a lot reference (the first code) when more than one. */
async function declareWith(key, data, count) {
  const dataKey = JSON.stringify([data, count]);
  if (unsent && unsent.dataKey === dataKey) {
    try {
      return await sendAll(unsent);
    } catch (err) {
      if (!(err instanceof NetworkError)) unsent = null;
      throw err;
    }
  }
  unsent = null;
  for (let attempt = 0; ; attempt++) {
    const next = await nextCode(data, count);
    const codes = next.codes || [next.code];
    const notes = [];
    for (let i = 0; i < codes.length; i++) {
      const own = codes.length > 1 ? { ...data, lot: { ref: codes[0], no: i + 1, of: codes.length } }
        : data;
      const { note } = await signEntry({ stream: codes[i], head: null, org, key,
                                         kind: "batch.declared", data: own });
      notes.push(note);
    }
    const pending = { dataKey, codes, notes, receipts: [] };
    unsent = pending;
    try {
      return await sendAll(pending);
    } catch (err) {
      if (err instanceof NetworkError) throw err; // keep ``unsent`` for the next submit
      unsent = null;
      // Another device took a serial between our question and our answer: ask again once.
      // The ledger's chain check usually answers first (seq_mismatch: the stream already has
      // its entry 0); batch_exists is the declaration rule saying the same.
      if (attempt === 0 && !pending.receipts.length && err instanceof ApiError &&
          TAKEN.has(err.code)) {
        keyNotice.textContent = T.retrying;
        keyNotice.hidden = false;
        continue;
      }
      if (pending.receipts.length) { // some containers are declared: show them, and why not the rest
        err.declared = { codes: codes.slice(0, pending.receipts.length), receipts: pending.receipts };
      }
      throw err;
    }
  }
}

/** The labels of all the containers declared together, as one PDF (a sheet), downloaded. */
async function printAll(codes) {
  const box = document.getElementById("declared");
  const problem = box.querySelector('[data-slot="problem"]');
  problem.hidden = true;
  const body = { codes, sheet: document.getElementById("declared-sheet").value };
  const size = document.getElementById("declared-size").value;
  if (size) body.size = size;
  let resp;
  try {
    resp = await fetch("/api/v1/labels/sheet", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/pdf, application/json",
                 "X-CSRFToken": csrfToken(), "X-Ledger-Page": "1" },
      body: JSON.stringify(body) });
  } catch {
    problem.textContent = T.network;
    problem.hidden = false;
    return;
  }
  if (!resp.ok) {
    let message = T.labels_failed;
    try { message = `${T.labels_failed}: ${(await resp.json()).message}`; } catch { /* not JSON */ }
    problem.textContent = message;
    problem.hidden = false;
    return;
  }
  const link = document.getElementById("declared-labels-file");
  if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(await resp.blob());
  link.download = `labels-${codes[0]}.pdf`;
  link.click();
}

function showDeclared(codes, data, receipts, problemText) {
  const box = document.getElementById("declared");
  const code = codes[0];
  const many = codes.length > 1;
  box.querySelector('[data-slot="code"]').textContent = many ? format(T.lot_declared, { n: codes.length }) : code;
  const list = box.querySelector('[data-slot="codes"]');
  list.replaceChildren(...codes.map((c) => {
    const li = document.createElement("li");
    li.dataset.code = c;
    const a = document.createElement("a");
    a.href = `/api/v1/batches/${encodeURIComponent(c)}/label.pdf`;
    a.target = "_blank";
    a.rel = "noopener";
    const text = document.createElement("code");
    text.className = "code batch-code";
    text.textContent = c;
    a.append(text);
    li.append(a);
    return li;
  }));
  list.hidden = !many;
  box.querySelector('[data-slot="waste"]').textContent = `${data.name}（${data.waste_code}）`;
  box.querySelector('[data-slot="mass"]').textContent = many
    ? format(T.lot_each, { n: codes.length, kg: gramsToKg(data.mass_g) })
    : `${gramsToKg(data.mass_g)} ${T.kg}`;
  const indexes = receipts.map((r) => r.index);
  box.querySelector('[data-slot="index"]').textContent = many
    ? `${indexes[0]}–${indexes[indexes.length - 1]}` : String(indexes[0]);
  const problem = box.querySelector('[data-slot="problem"]');
  problem.textContent = problemText || "";
  problem.hidden = !problemText;
  const label = document.getElementById("declared-label");
  const size = document.getElementById("declared-size");
  const all = document.getElementById("declared-labels");
  box.querySelector('[data-slot="sheet"]').hidden = !many;
  label.hidden = many;
  all.hidden = !many;
  all.textContent = format(T.print_all, { n: codes.length });
  all.onclick = () => printAll(codes);
  const base = `/api/v1/batches/${encodeURIComponent(code)}/label.pdf`;
  const update = () => { label.href = size.value ? `${base}?size=${size.value}` : base; };
  size.addEventListener("change", update);
  update();
  document.getElementById("declared-trace").href = `/t/${encodeURIComponent(code)}`;
  form.hidden = true;
  box.hidden = false;
  box.dataset.code = code;
  box.dataset.codes = codes.join(" ");
  box.scrollIntoView({ block: "start" });
  (many ? all : label).focus();
}

function showLot() {
  const count = Number(form.elements.container_count.value);
  const hint = document.getElementById("lot-help");
  hint.hidden = !(count > 1);
  if (count > 1) hint.textContent = format(T.lot_mass, { n: count });
}
form.elements.container_count.addEventListener("input", showLot);
showLot();

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors();
  const data = collect();
  if (!data) return;
  if (!(window.crypto && crypto.subtle)) { showError("general", T.no_webcrypto); return; }
  submitButton.disabled = true;
  try {
    const count = Number(form.elements.container_count.value.trim());
    const { codes, receipts } = await withDeviceKey(
      org, keyNotice, T, (signingKey) => declareWith(signingKey, data, count));
    showDeclared(codes, data, receipts);
  } catch (err) {
    if (err && err.declared) {
      const done = err.declared.codes.length;
      showDeclared(err.declared.codes, data, err.declared.receipts,
                   format(T.lot_partial, { done, next: done + 1, why: err.message }));
    } else if (err instanceof NetworkError) {
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

// Before anyone fills the form: a browser that cannot sign at all is told so now, not after
// typing everything (one without WebCrypto Ed25519 signs with the fallback and is not bothered).
signingSupport().then((how) => {
  if (how !== "none") return;
  showError("general", T.no_webcrypto);
  submitButton.disabled = true;
});
