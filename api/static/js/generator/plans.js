// The plan (管理计划) and declaration (申报登记) pages: the draft and the pre-filled figures come
// from the JSON API, the person checks or changes a few numbers, and the entry is built and
// signed on this device (ledger.js) like a batch declaration. docs/plans.md.
import { ApiError, NetworkError, api, messages, signEntry, submitNote } from "../ledger.js";
import { withDeviceKey } from "./device.js";
import { format, gramsToKg, parseMassKg } from "./util.js";

const T = messages();
const org = T.org;
const notice = document.getElementById("device-key");

function fill(node, slot, text) {
  const el = node.querySelector(`[data-slot="${slot}"]`);
  if (el) el.textContent = text;
}

function kgText(grams) {
  return `${gramsToKg(Math.max(grams, 0))}${grams < 0 ? " (-)" : ""}`;
}

function signed(grams) {
  if (!grams) return "0";
  return `${grams > 0 ? "+" : "−"}${gramsToKg(Math.abs(grams))}`;
}

/** The stream's last entry as ledger.js chains to it: {seq, leaf, t}, or null. */
async function headOf(path) {
  try {
    const detail = await api("GET", path);
    const last = detail.entries[detail.entries.length - 1];
    return last ? { seq: last.seq, leaf: last.leaf_hash, t: last.t } : null;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

/** Kilograms typed into grams; 0 and empty are 0 here (a plan or a declaration may say none). */
function grams(input, errorBox) {
  const raw = input.value.trim();
  if (!raw || /^0+(\.0*)?$/.test(raw)) {
    input.removeAttribute("aria-invalid");
    return 0;
  }
  const parsed = parseMassKg(raw);
  if (parsed.error) {
    input.setAttribute("aria-invalid", "true");
    errorBox.textContent = T.mass_format;
    errorBox.hidden = false;
    return null;
  }
  input.removeAttribute("aria-invalid");
  return parsed.grams;
}

async function sign(stream, head, kind, data) {
  return withDeviceKey(org, notice, T, async (key) => {
    const { note } = await signEntry({ stream, head, org, key, kind, data });
    return submitNote(note);
  });
}

function explain(err, box) {
  box.hidden = false;
  if (err instanceof NetworkError) box.textContent = T.network;
  else if (err instanceof ApiError) box.textContent = err.message;
  else box.textContent = `${T.failed}: ${err && err.message ? err.message : err}`;
}

// --- 管理计划 -----------------------------------------------------------------------------

async function initPlan(form) {
  const year = form.dataset.year;
  const status = document.getElementById("plan-status");
  const errorBox = document.getElementById("plan-error");
  const lines = document.getElementById("plan-lines");
  status.textContent = T.loading;
  form.hidden = false;
  const draft = await api("GET", `/api/v1/plans/draft?year=${year}`);
  status.textContent = `${T.classes[draft.management_class]} · `
    + `${T.frequencies[draft.frequency]}`;
  const head = draft.kind === "plan.amended"
    ? await headOf(`/api/v1/plans/${org}/${year}`) : null;
  if (draft.kind === "plan.amended") {
    document.getElementById("reason-label").hidden = false;
    status.textContent = T.amend;
  }
  if (draft.data.reduction) form.elements.reduction.value = draft.data.reduction;
  const template = document.getElementById("plan-line");
  for (const w of draft.data.wastes) {
    const node = template.content.firstElementChild.cloneNode(true);
    node.dataset.code = w.waste_code;
    fill(node, "name", w.name || "");
    fill(node, "code", w.waste_code);
    node.querySelector('[data-field="generation_g"]').value = gramsToKg(w.generation_g);
    node.querySelector('[data-field="storage_g"]').value = gramsToKg(w.storage_g || 0);
    const list = node.querySelector('[data-slot="receivers"]');
    for (const t of w.transfers || []) {
      const li = document.createElement("li");
      li.textContent = `${T.receiver} ${t.receiver}${t.permit ? ` · ${T.permit} ${t.permit}` : ""}`
        + ` · ${gramsToKg(t.mass_g)} ${T.kg}`;
      list.append(li);
    }
    lines.append(node);
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errorBox.hidden = true;
    const data = { ...draft.data, year: Number(year), wastes: [] };
    delete data.handled_by;
    for (const w of draft.data.wastes) {
      const node = lines.querySelector(`[data-code="${w.waste_code}"]`);
      const gen = grams(node.querySelector('[data-field="generation_g"]'), errorBox);
      const store = grams(node.querySelector('[data-field="storage_g"]'), errorBox);
      if (gen === null || store === null) return;
      data.wastes.push({ ...w, generation_g: gen, storage_g: store });
    }
    if (!data.wastes.length) { explain(new Error(T.no_wastes), errorBox); return; }
    data.reduction = form.elements.reduction.value.trim();
    if (!data.reduction) { explain(new Error(T.reduction_required), errorBox); return; }
    if (draft.kind === "plan.amended") {
      data.reason = form.elements.reason.value.trim();
      if (!data.reason) { explain(new Error(T.reason_required), errorBox); return; }
    }
    const button = document.getElementById("plan-submit");
    button.disabled = true;
    status.textContent = T.signing;
    try {
      const receipt = await sign(draft.stream, head, draft.kind, data);
      const plan = await api("GET", `/api/v1/plans/${org}/${year}`);
      const done = document.getElementById("plan-done");
      fill(done, "message", format(T.filed_plan, { index: receipt.index }));
      fill(done, "class", T.classes[plan.management_class] || plan.management_class);
      fill(done, "frequency", T.frequencies[plan.frequency] || plan.frequency);
      form.hidden = true;
      done.hidden = false;
    } catch (err) {
      explain(err, errorBox);
    } finally {
      button.disabled = false;
    }
  });
}

// --- 申报登记 -----------------------------------------------------------------------------

function transferredOf(item) {
  return (item.transferred || []).reduce((n, t) => n + t.mass_g, 0);
}

function showDifferences(node, item) {
  const declared = { generated_g: item.generated_g, transferred_g: transferredOf(item),
                     closing_storage_g: item.closing_storage_g };
  for (const field of Object.keys(declared)) {
    const row = node.querySelector(`[data-row="${field}"]`);
    const diff = declared[field] - item.ledger[field];
    fill(row, "difference", signed(diff));
    row.classList.toggle("differs", diff !== 0);
  }
}

async function initReport(form) {
  const period = form.dataset.period;
  const status = document.getElementById("report-status");
  const errorBox = document.getElementById("report-error");
  const lines = document.getElementById("report-lines");
  status.textContent = T.loading;
  form.hidden = false;
  const pre = await api("GET", `/api/v1/declarations/prefill?period=${period}`);
  const head = pre.kind === "report.amended"
    ? await headOf(`/api/v1/declarations/${org}/${period}`) : null;
  status.textContent = pre.data.wastes.length ? "" : T.none_recorded;
  const template = document.getElementById("report-line");
  const items = pre.data.wastes.map((w) => ({ ...w }));
  for (const item of items) {
    const node = template.content.firstElementChild.cloneNode(true);
    node.dataset.code = item.waste_code;
    fill(node, "code", item.waste_code);
    for (const field of ["generated_g", "transferred_g", "closing_storage_g"]) {
      fill(node.querySelector(`[data-row="${field}"]`), "ledger", kgText(item.ledger[field]));
    }
    fill(node.querySelector('[data-row="transferred_g"]'), "declared",
         gramsToKg(transferredOf(item)));
    node.querySelector('[data-field="generated_g"]').value = gramsToKg(item.generated_g);
    const closing = node.querySelector('[data-field="closing_storage_g"]');
    closing.value = gramsToKg(item.closing_storage_g);
    const list = node.querySelector('[data-slot="receivers"]');
    for (const t of item.transferred || []) {
      const li = document.createElement("li");
      li.textContent = `${T.transferred} → ${t.receiver} · ${gramsToKg(t.mass_g)} ${T.kg}`;
      list.append(li);
    }
    let closingTouched = false;
    closing.addEventListener("input", () => { closingTouched = true; });
    node.addEventListener("input", () => {
      errorBox.hidden = true;
      const read = (field) => grams(node.querySelector(`[data-field="${field}"]`), errorBox);
      const own = read("own_utilisation_g");
      const disposed = read("own_disposal_g");
      if (own !== null && disposed !== null && !closingTouched) {
        item.closing_storage_g = Math.max(item.ledger.closing_storage_g - own - disposed, 0);
        closing.value = gramsToKg(item.closing_storage_g);
      }
      const gen = read("generated_g");
      const close = read("closing_storage_g");
      if (gen !== null) item.generated_g = gen;
      if (close !== null) item.closing_storage_g = close;
      if (own !== null) item.own_utilisation_g = own;
      if (disposed !== null) item.own_disposal_g = disposed;
      const text = node.querySelector('[data-field="explanation"]').value.trim();
      if (text) item.explanation = text; else delete item.explanation;
      showDifferences(node, item);
    });
    showDifferences(node, item);
    lines.append(node);
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (form.querySelector('[aria-invalid="true"]')) return;
    const button = document.getElementById("report-submit");
    button.disabled = true;
    status.textContent = T.signing;
    const data = { period, wastes: items.map((item) => ({
      ...item,
      differences: {
        generated_g: item.generated_g - item.ledger.generated_g,
        transferred_g: transferredOf(item) - item.ledger.transferred_g,
        closing_storage_g: item.closing_storage_g - item.ledger.closing_storage_g,
      },
    })) };
    try {
      const receipt = await sign(pre.stream, head, pre.kind, data);
      const done = document.getElementById("report-done");
      fill(done, "message", format(T.filed_report, { period, index: receipt.index }));
      form.hidden = true;
      done.hidden = false;
    } catch (err) {
      status.textContent = "";
      explain(err, errorBox);
    } finally {
      button.disabled = false;
    }
  });
}

const planForm = document.getElementById("plan-form");
const reportForm = document.getElementById("report-form");
const started = planForm ? initPlan(planForm) : reportForm ? initReport(reportForm) : null;
if (started) {
  started.catch((err) => {
    const box = document.getElementById(planForm ? "plan-error" : "report-error");
    explain(err, box);
  });
}
