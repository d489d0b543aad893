// The round (收运任务): download the open pickup requests and the held batches to the phone,
// show them grouped by enterprise, and act on held batches (release onward, consolidate,
// dispose), each entry signed on this phone.
import { api, ApiError, NetworkError } from "../ledger.js";
import {
  $, el, t, whoami, groupedCode, kg, stateLabel, downloadRound, savedRound,
  allSignedHere, headFor, sign, keyStatus, setUpWorkspace,
} from "./common.js";

const me = whoami();
let round = null;

function timeText(iso) {
  try { return new Date(iso).toLocaleString("zh-CN", { hour12: false }); } catch { return iso; }
}

async function load({ fetch }) {
  const status = $("round-status");
  if (fetch && navigator.onLine) {
    status.textContent = t("downloading");
    try {
      round = await downloadRound(me.org);
      status.textContent = t("downloaded", { t: timeText(round.downloaded_at) });
      status.dataset.state = "downloaded";
    } catch (err) {
      round = await savedRound(me.org);
      status.textContent = err instanceof NetworkError && round
        ? t("offline_round", { t: timeText(round.downloaded_at) })
        : t("download_failed", { msg: err.message });
      status.dataset.state = "failed";
    }
  } else {
    round = await savedRound(me.org);
    status.textContent = round ? t("offline_round", { t: timeText(round.downloaded_at) })
      : t("no_round");
    status.dataset.state = round ? "saved" : "none";
  }
  await render();
}

function batchLine(b, signed, { pickup }) {
  const mine = signed[b.code];
  const done = b.holder === me.org || (mine && ["custody.accepted", "custody.refused"]
    .includes(mine.kind) && pickup);
  const released = b.handover && b.handover.mine && b.handover.status === "awaiting_answer";
  const badge = done
    ? el("span", { class: "badge ok", text: mine && b.holder !== me.org ? t("signed_here") : t("done") })
    : el("span", { class: "badge warn", text: released ? t("released_to_me") : stateLabel(b.state) });
  return el("li", { class: "batch", "data-code": b.code },
    el("div", { class: "batch-main" },
      el("strong", { text: b.name }), " ", badge, el("br"),
      el("span", { class: "code small", text: groupedCode(b.code) }), el("br"),
      el("span", { class: "muted small",
                   text: `${t("waste_code")} ${b.waste_code} · ${t("declared")} ${kg(b.declared_mass_g)}`
                     + (b.location ? ` · ${t("location")} ${b.location}` : "") })),
    done ? null : el("a", { class: "button primary scan-one", text: t("scan"),
                            href: `/collector/scan?code=${b.code}` }));
}

function renderPickups(signed) {
  const box = $("pickups");
  if (!round || !round.pickups.length) {
    box.replaceChildren(el("p", { class: "muted", text: round ? t("no_pickups") : "" }));
    return;
  }
  const byEnterprise = new Map();
  for (const p of round.pickups) {
    if (!byEnterprise.has(p.from)) byEnterprise.set(p.from, []);
    byEnterprise.get(p.from).push(p);
  }
  box.replaceChildren(...[...byEnterprise.values()].map((pickups) => {
    const first = pickups[0];
    const contact = [first.contact && `${t("contact")} ${first.contact}`].filter(Boolean);
    return el("article", { class: "card enterprise", "data-org": first.from },
      el("h3", { class: "tight", text: first.from_name || first.from }),
      el("p", { class: "muted small" }, ...contact.map((c) => c + " "),
         first.phone ? el("a", { href: `tel:${first.phone}`, text: `${t("phone")} ${first.phone}` }) : ""),
      ...pickups.map((p) => el("section", { class: "pickup", "data-manifest": p.manifest },
        el("p", { class: "small" },
          el("span", { text: `${t("manifest")} ` }), el("strong", { class: "code", text: p.manifest }),
          p.wanted_on ? el("span", { class: "muted", text: ` · ${t("wanted_on")} ${p.wanted_on}` }) : "",
          p.note ? el("span", { class: "muted", text: ` · ${p.note}` }) : ""),
        el("ul", { class: "batches" }, ...p.batches.map((b) => batchLine(b, signed, { pickup: p }))))));
  }));
}

function renderHeld(signed) {
  const box = $("held");
  const held = round ? round.held : [];
  $("held-actions").hidden = !held.length;
  if (!held.length) {
    box.replaceChildren(el("p", { class: "muted", text: round ? t("no_held") : "" }));
    return;
  }
  box.replaceChildren(el("ul", { class: "batches held" }, ...held.map((b) => {
    const mine = signed[b.code];
    const busy = b.state === "pending" || (mine && mine.status === "queued"
      && mine.kind !== "custody.accepted");
    return el("li", { class: "batch", "data-code": b.code },
      el("label", { class: "pick" },
        el("input", { type: "checkbox", value: b.code, disabled: busy, class: "pick-box" }),
        el("span", {},
          el("strong", { text: b.name }), " ",
          el("span", { class: `badge ${busy ? "warn" : ""}`, text: stateLabel(b.state) }), el("br"),
          el("span", { class: "code small", text: groupedCode(b.code) }), el("br"),
          el("span", { class: "muted small", text: `${t("held_mass")} ${kg(b.mass_g)} · ${b.waste_code}` }))));
  })));
  box.querySelectorAll(".pick-box").forEach((c) => c.addEventListener("change", selectionChanged));
  selectionChanged();
}

function selected() {
  const codes = [...document.querySelectorAll(".pick-box:checked")].map((c) => c.value);
  return round.held.filter((b) => codes.includes(b.code));
}

function selectionChanged() {
  const picked = selected();
  $("selected-summary").textContent = picked.length
    ? `${picked.length} · ${kg(picked.reduce((n, b) => n + b.mass_g, 0))}` : "";
  const receives = me.roles.some((r) => ["disposer", "receiver"].includes(r));
  $("dispose-box").hidden = !receives;
  const method = $("dispose-method").value === "disposal" ? "dispose" : "utilise";
  const permits = [...new Set(picked.map((b) => (b.permits || {})[method]))];
  $("dispose-permit").textContent = permits.length === 1 && permits[0]
    ? `${permits[0]}` : (picked.length ? t("permit_missing") : "");
}

async function render() {
  const signed = await allSignedHere();
  renderPickups(signed);
  renderHeld(signed);
  const select = $("release-to");
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "", text: "—" }),
    ...(round ? round.receivers : []).map((o) => el("option", { value: o.uscc, text: o.name })));
  select.value = chosen;
}

function say(text, ok = true) {
  const box = $("action-message");
  box.hidden = !text;
  box.textContent = text;
  box.classList.toggle("error", !ok);
}

async function withButton(button, work) {
  button.disabled = true;
  try {
    await work();
  } catch (err) {
    say(t("error", { msg: err instanceof ApiError || err instanceof NetworkError
      ? err.message : String(err.message || err) }), false);
  } finally {
    button.disabled = false;
  }
}

// --- actions on held batches ------------------------------------------------------------------

async function release() {
  const picked = selected();
  const to = $("release-to").value;
  if (!picked.length) return say(t("choose_batches"), false);
  if (!to) return say(t("choose_receiver"), false);
  if (!navigator.onLine) return say(t("needs_online"), false);
  // The manifest for this trip is reserved the way a generator reserves one: a pickup request
  // addressed to the receiver (it then appears on the receiver's own round).
  const pickup = await api("POST", "/api/v1/pickups",
                           { collector: to, batches: picked.map((b) => b.code) });
  const vehicle = $("release-vehicle").value.trim();
  for (const b of picked) {
    const data = { to, mass_g: b.mass_g, manifest: pickup.manifest };
    if (vehicle) data.vehicle = vehicle;
    await sign({ stream: b.code, head: await headFor(b.code, b.head), kind: "custody.released",
                 data, label: `${t("release")} · ${b.name} · ${b.code.slice(-15)}` });
  }
  say(t("release_done", { n: picked.length, m: pickup.manifest }));
  await load({ fetch: true });
}

async function consolidate() {
  const picked = selected();
  if (picked.length < 1) return say(t("choose_batches"), false);
  if (new Set(picked.map((b) => b.waste_code)).size !== 1) return say(t("one_waste_code"), false);
  if (!navigator.onLine) return say(t("needs_online"), false);
  const first = picked[0];
  const { code: child } = await api("GET",
    `/api/v1/collector/child-code?waste_code=${encodeURIComponent(first.waste_code)}`);
  const parents = [];
  for (const b of picked) {
    const result = await sign({ stream: b.code, head: await headFor(b.code, b.head),
                                kind: "custody.consolidated_out",
                                data: { into: child, mass_g: b.mass_g },
                                label: `${t("consolidate")} · ${b.name} · ${b.code.slice(-15)}` });
    parents.push({ code: b.code, mass_g: b.mass_g, entry: result.head.leaf });
  }
  const count = parseInt($("consolidate-count").value, 10);
  const data = {
    waste_code: first.waste_code, name: first.name, form: first.form || "solid",
    hazards: first.hazards || [],
    container: { type: $("consolidate-container").value.trim() || first.container?.type || "桶",
                 count: Number.isInteger(count) && count > 0 ? count : 1 },
    mass_g: parents.reduce((n, p) => n + p.mass_g, 0),
    generated_on: `${child.slice(26, 30)}-${child.slice(30, 32)}-${child.slice(32, 34)}`,
    parents,
  };
  if (first.hazardous === false) data.hazardous = false;
  await sign({ stream: child, head: null, kind: "batch.consolidated", data,
               label: `${t("consolidate")} → ${child.slice(-15)}` });
  say(t("consolidate_done", { code: groupedCode(child) }));
  await load({ fetch: true });
}

async function dispose() {
  const picked = selected();
  if (!picked.length) return say(t("choose_batches"), false);
  const method = $("dispose-method").value;
  const activity = method === "disposal" ? "dispose" : "utilise";
  for (const b of picked) {
    const permit = (b.permits || {})[activity];
    if (!permit) return say(`${b.name}: ${t("permit_missing")}`, false);
  }
  for (const b of picked) {
    await sign({ stream: b.code, head: await headFor(b.code, b.head), kind: "custody.disposed",
                 data: { method, method_code: $("dispose-code").value.trim(),
                         permit: b.permits[activity], mass_g: b.mass_g },
                 label: `${t("dispose")} · ${b.name} · ${b.code.slice(-15)}` });
  }
  say(t("dispose_done"));
  await load({ fetch: navigator.onLine });
}

async function main() {
  await setUpWorkspace();
  $("download").addEventListener("click", () => load({ fetch: true }));
  $("release-go").addEventListener("click", (e) => withButton(e.currentTarget, release));
  $("consolidate-go").addEventListener("click", (e) => withButton(e.currentTarget, consolidate));
  $("dispose-go").addEventListener("click", (e) => withButton(e.currentTarget, dispose));
  $("dispose-method").addEventListener("change", () => {
    $("dispose-code").value = $("dispose-method").value === "disposal" ? "D10" : "R4";
    selectionChanged();
  });
  document.addEventListener("queue-flushed", () => render());
  await keyStatus({ create: true });
  await load({ fetch: true });
  document.body.dataset.ready = "1";
}

main();
