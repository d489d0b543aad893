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
  // One date format on every page: 2026-12-03 09:33, Beijing time ("sv-SE" writes ISO order).
  try {
    return new Intl.DateTimeFormat("sv-SE", { timeZone: "Asia/Shanghai", year: "numeric",
      month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" }).format(new Date(iso));
  } catch { return iso; }
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
  const waiting = b.handover && b.handover.to === me.org && b.handover.status === "awaiting_release";
  return el("li", { class: "batch", "data-code": b.code },
    el("div", { class: "batch-main" },
      el("strong", { text: b.name }), " ", badge, el("br"),
      el("span", { class: "code small", text: groupedCode(b.code) }), el("br"),
      el("span", { class: "muted small",
                   text: `${t("waste_code")} ${b.waste_code} · ${t("declared")} ${kg(b.declared_mass_g)}`
                     + (b.location ? ` · ${t("location")} ${b.location}` : "") }),
      waiting ? handoverBox(b) : null),
    done || waiting ? null : el("a", { class: "button primary scan-one", text: t("scan"),
                                       href: `/collector/scan?code=${b.code}` }));
}

/** A half-signed handover of this batch: who signed, who must sign next, and the buttons for
 * whoever may act here (complete it, or withdraw it with a signed entry). */
function handoverBox(b) {
  const h = b.handover;
  if (!h || ![h.from, h.to].includes(me.org)) return null;
  const giver = h.from === me.org;
  const other = giver ? (h.to_name || h.to) : (h.from_name || h.from);
  let text;
  const buttons = [];
  if (giver && h.status === "awaiting_answer") {
    text = t("ho_released", { who: other, m: h.manifest });
    buttons.push(actionButton(t("withdraw_release"), "withdraw", b));
  } else if (giver) {
    text = h.answer === "refused" ? t("ho_they_refused", { who: other, m: h.manifest })
      : t("ho_they_accepted", { who: other, kg: kg(h.accepted_mass_g), m: h.manifest });
    buttons.push(actionButton(t("complete_release"), "complete", b, "primary"));
    buttons.push(actionButton(t("withdraw_decline"), "withdraw", b));
  } else if (h.status === "awaiting_release") {
    text = t("ho_we_signed", { who: other, m: h.manifest });
    buttons.push(actionButton(t("withdraw_receipt"), "withdraw", b));
  } else {
    return null; // released to us: answered on the scanning page
  }
  return el("div", { class: "handover-box", "data-next": h.next === me.org ? "me" : "them",
                     "data-code": b.code },
    el("p", { class: "small", text }), el("div", { class: "row" }, ...buttons));
}

/** A refused batch held here: hand it on (转交, above) or back to the enterprise that made it
 * (退回), which signs for it on its own batch list. */
function returnBox(b) {
  return el("div", { class: "handover-box", "data-code": b.code },
    el("p", { class: "small", text: t("refused_here", { who: b.generator_name || b.generator }) }),
    el("div", { class: "row" }, el("button", {
      type: "button", class: "return-enterprise", "data-code": b.code,
      text: t("return_enterprise") })));
}

async function returnToEnterprise(button) {
  const b = round.held.find((x) => x.code === button.dataset.code);
  if (!navigator.onLine) return say(t("needs_online"), false);
  // The manifest of the return is reserved as any trip's: a request addressed to the enterprise
  const pickup = await api("POST", "/api/v1/pickups", { collector: b.generator,
                                                        batches: [b.code] });
  try {
    await sign({ stream: b.code, head: await headFor(b.code, b.head), kind: "custody.released",
                 data: { to: b.generator, mass_g: b.mass_g, manifest: pickup.manifest },
                 label: `${t("return_enterprise")} · ${b.name} · ${b.code.slice(-15)}` });
  } catch (err) {
    await api("POST", `/api/v1/pickups/${pickup.id}/cancel`).catch(() => null);
    throw err;
  }
  lastButton = $("held-h");
  await load({ fetch: true });
  say(t("returned_done", { who: b.generator_name || b.generator, m: pickup.manifest }));
}

function actionButton(text, action, b, cls = "") {
  return el("button", { type: "button", class: `${cls} handover-action`, text,
                        "data-action": action, "data-code": b.code });
}

/** A map search for an address, opened by AMap (高德) on the phone or in the browser:
 * its documented URI API, which needs no key. */
function mapLink(address) {
  return `https://uri.amap.com/search?keyword=${encodeURIComponent(address)}&src=waste-ledger`;
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
    const addresses = [...new Set(pickups.map((p) => p.address).filter(Boolean))];
    return el("article", { class: "card enterprise", "data-org": first.from },
      el("h3", { class: "tight", text: first.from_name || first.from }),
      ...addresses.map((a) => el("p", { class: "address" },
        el("span", { text: `${t("address")} ${a} ` }),
        el("a", { class: "button map-link", href: mapLink(a), target: "_blank",
                  rel: "noopener noreferrer", text: t("map") }))),
      el("p", { class: "muted small" }, ...contact.map((c) => c + " "),
         first.phone ? el("a", { href: `tel:${first.phone}`, text: `${t("phone")} ${first.phone}` }) : ""),
      ...pickups.map((p) => el("section", { class: "pickup", "data-manifest": p.manifest },
        el("p", { class: "small" },
          el("span", { text: `${t("manifest")} ` }), el("strong", { class: "code", text: p.manifest }),
          p.wanted_on ? el("span", { class: "muted", text: ` · ${t("wanted_on")} ${p.wanted_on}` }) : "",
          p.note ? el("span", { class: "muted", text: ` · ${p.note}` }) : ""),
        el("ul", { class: "batches" }, ...p.batches.map((b) => batchLine(b, signed, { pickup: p }))),
        acceptAllButton(p.batches, signed, p.manifest))));
  }));
}

/** Containers released to this unit and not yet answered here: what 全部签收 signs. */
function releasedToMe(batches, signed) {
  return batches.filter((b) => b.handover && b.handover.to === me.org && !signed[b.code]
    && b.handover.status === "awaiting_answer");
}

/** One tap for every container released to this unit on a manifest (or in 待签收): each is
 * accepted at the mass its holder released; to weigh each on its own, scan it instead. */
function acceptAllButton(batches, signed, manifest) {
  const ready = releasedToMe(batches, signed);
  if (ready.length < 2) return null;
  return el("button", { type: "button", class: "primary accept-all", "data-manifest": manifest || "",
                        text: t("accept_all", { n: ready.length }) });
}

async function acceptAll(button) {
  const manifest = button.dataset.manifest;
  const pool = manifest ? round.pickups.filter((p) => p.manifest === manifest)
    .flatMap((p) => p.batches) : round.incoming || [];
  const ready = releasedToMe(pool, await allSignedHere());
  if (!ready.length) return say(t("choose_batches"), false);
  let done = 0;
  for (const b of ready) {
    const h = b.handover;
    await sign({ stream: b.code, head: await headFor(b.code, b.head), kind: "custody.accepted",
                 data: { from: h.from, mass_g: h.released_mass_g, manifest: h.manifest },
                 label: `${t("accept_all_label")} · ${b.name} · ${b.code.slice(-15)}` });
    done += 1;
  }
  await load({ fetch: true });
  say(t("accept_all_done", { n: done }));
}

function renderIncoming(signed) {
  const incoming = round ? round.incoming || [] : [];
  $("incoming-section").hidden = !incoming.length;
  $("incoming").replaceChildren(...incoming.map((b) => batchLine(b, signed, { pickup: null })));
  $("incoming-all").replaceChildren(...[acceptAllButton(incoming, signed, "")].filter(Boolean));
}

function renderOutgoing() {
  const outgoing = round ? round.outgoing || [] : [];
  $("outgoing-section").hidden = !outgoing.length;
  $("outgoing").replaceChildren(...outgoing.map((p) => el("article", {
    class: "card outgoing", "data-manifest": p.manifest, "data-id": String(p.id) },
  el("p", {},
    el("span", { text: `${t("manifest")} ` }), el("strong", { class: "code", text: p.manifest }),
    el("span", { text: ` → ${p.to_name || p.to}` })),
  el("ul", { class: "small" }, ...p.batches.map((b) => el("li", {
    text: `${b.name} · ${groupedCode(b.code)} · ${stateLabel(b.state)}` }))),
  el("button", { type: "button", class: "danger cancel-pickup", text: t("cancel_pickup"),
                 "data-id": String(p.id) }))));
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
          el("span", { class: "muted small", text: `${t("held_mass")} ${kg(b.mass_g)} · ${b.waste_code}` }))),
      b.state === "pending" ? handoverBox(b) : null,
      b.state === "refused" && b.generator !== me.org ? returnBox(b) : null);
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
  renderReceivers();
  $("selected-summary").textContent = picked.length
    ? `${picked.length} · ${kg(picked.reduce((n, b) => n + b.mass_g, 0))}` : "";
  const receives = me.roles.some((r) => ["disposer", "receiver"].includes(r));
  $("dispose-box").hidden = !receives;
  const method = $("dispose-method").value === "disposal" ? "dispose" : "utilise";
  const permits = [...new Set(picked.map((b) => (b.permits || {})[method]))];
  $("dispose-permit").textContent = permits.length === 1 && permits[0]
    ? `${permits[0]}` : (picked.length ? t("permit_missing") : "");
}

// --- trips with a carrier (承运人) and refused parts (部分拒收) ---------------------------------

function legText(label, when) {
  return el("span", { class: `leg ${when ? "signed" : "unsigned"}`,
                      text: `${label} ${when ? "✓ " + timeText(when) : t("leg_not_yet")}` });
}

function answerText(b) {
  if (!b.answer) return legText(t("leg_received"), null);
  const label = b.answer === "accepted" ? t("leg_received")
    : b.answer === "partly_refused" ? t("leg_partly_refused", { kg: kg(b.refused_mass_g) })
      : t("leg_refused");
  return legText(label, b.answered_t);
}

/** The batches the carrier still signs ``event`` for on ``trip`` (the receiver has not
 * answered yet: the ledger takes the carrier's part only while the handover is open). */
function toSign(trip, event) {
  return trip.batches.filter((b) => b.status === "awaiting_answer"
    && (event === "departed" ? !b.departed_t : b.departed_t && !b.arrived_t));
}

function renderTrips() {
  const trips = round ? round.trips || [] : [];
  $("trips-section").hidden = !trips.length;
  $("trips").replaceChildren(...trips.map((trip) => {
    const carrier = trip.role === "carrier";
    const parts = [
      el("p", { class: "small" },
        el("span", { text: `${t("manifest")} ` }), el("strong", { class: "code", text: trip.manifest }),
        el("span", { class: "muted", text: ` · ${trip.origin_name} → ${trip.destination_name}` })),
      el("p", { class: "small muted", text: t("trip_carrier", {
        who: trip.carrier_name, plate: trip.vehicle || "—", driver: trip.driver || "—" }) }),
      el("ul", { class: "batches trip-batches" }, ...trip.batches.map((b) => el("li", {
        class: "batch", "data-code": b.code },
      el("div", { class: "batch-main" },
        el("strong", { text: b.name }), " ",
        el("span", { class: "code small", text: b.code.slice(-15) }), el("br"),
        el("span", { class: "small legs" },
          legText(t("leg_released"), b.released_t), " · ", legText(t("leg_departed"), b.departed_t),
          " · ", legText(t("leg_arrived"), b.arrived_t), " · ", answerText(b)))))),
    ];
    if (carrier) parts.push(carrierActions(trip));
    return el("article", { class: "card trip", "data-manifest": trip.manifest,
                           "data-role": trip.role }, ...parts);
  }));
}

function carrierActions(trip) {
  const depart = toSign(trip, "departed");
  const arrive = toSign(trip, "arrived");
  const box = el("div", { class: "stack carrier-actions" });
  if (depart.length) {
    const plates = (round.vehicles || []).filter((v) => v.org === me.org).map((v) => v.plate);
    const select = el("select", { class: "carrier-vehicle" },
      ...plates.map((p) => el("option", { value: p, text: p })));
    if (trip.vehicle && plates.includes(trip.vehicle)) select.value = trip.vehicle;
    box.append(
      el("label", {}, t("vehicle"), select),
      el("label", {}, t("driver"), el("input", { class: "carrier-driver", maxLength: 40,
                                                 autocomplete: "name", value: trip.driver || "" })),
      el("button", { type: "button", class: "primary big carrier-sign", "data-event": "departed",
                     "data-manifest": trip.manifest,
                     text: t("sign_departed", { n: depart.length }) }));
  }
  if (arrive.length) {
    box.append(el("button", { type: "button", class: "primary big carrier-sign",
                              "data-event": "arrived", "data-manifest": trip.manifest,
                              text: t("sign_arrived", { n: arrive.length }) }));
  }
  if (!depart.length && !arrive.length) {
    box.append(el("p", { class: "muted small", text: t("carrier_nothing") }));
  }
  return box;
}

async function signLeg(button) {
  const trip = round.trips.find((x) => x.manifest === button.dataset.manifest);
  const event = button.dataset.event;
  const card = button.closest("article");
  const data = { manifest: trip.manifest, event };
  if (event === "departed") {
    data.vehicle = card.querySelector(".carrier-vehicle").value;
    data.driver = card.querySelector(".carrier-driver").value.trim();
    if (!data.vehicle) return say(t("carrier_no_vehicle"), false);
    if (!data.driver) return say(t("driver_missing"), false);
  }
  let done = 0;
  for (const b of toSign(trip, event)) {
    await sign({ stream: b.code, head: await headFor(b.code, b.head), kind: "custody.carried",
                 data, label: `${t(event === "departed" ? "leg_departed" : "leg_arrived")} · `
                   + `${b.name} · ${b.code.slice(-15)}` });
    done += 1;
  }
  lastButton = $("trips-h");
  await load({ fetch: navigator.onLine });
  say(t(event === "departed" ? "departed_done" : "arrived_done", { n: done, m: trip.manifest }));
}

function renderRefusedParts() {
  const parts = round ? round.refused_parts || [] : [];
  $("refused-section").hidden = !parts.length;
  $("refused-parts").replaceChildren(...parts.map((r) => el("article", {
    class: "card refused-part", "data-batch": r.batch },
  el("p", {}, el("strong", { text: r.name }), " ",
     el("span", { class: "badge warn", text: t("refused_kg", { kg: kg(r.refused_mass_g) }) })),
  el("p", { class: "small muted", text: t("refused_by", {
    who: r.to_name, m: r.manifest, reason: r.reason, t: timeText(r.answered_t) }) }),
  el("button", { type: "button", class: "primary big take-back", "data-batch": r.batch,
                 text: t("take_back") }))));
}

/** Sign batch.refused_part: the refused mass becomes a batch of this unit's own code, held
 * here, and then goes on like any batch it holds (released onward: re-routed). */
async function takeBack(button) {
  const r = round.refused_parts.find((x) => x.batch === button.dataset.batch);
  if (!navigator.onLine) return say(t("needs_online"), false);
  const { code } = await api("GET",
    `/api/v1/collector/child-code?waste_code=${encodeURIComponent(r.waste_code)}`);
  const data = { parent: r.batch, refusal: r.refusal, mass_g: r.refused_mass_g };
  if (r.hazardous === false) data.hazardous = false;
  await sign({ stream: code, head: null, kind: "batch.refused_part", data,
               label: `${t("take_back")} · ${r.name} · ${code.slice(-15)}` });
  lastButton = $("held-h");
  await load({ fetch: true });
  say(t("taken_back", { code: groupedCode(code), kg: kg(r.refused_mass_g) }));
}

async function render() {
  // The message may sit beside a button drawn with the round: keep it out of what is redrawn.
  const message = $("action-message");
  if (message.closest("#pickups, #incoming, #held, #outgoing, #trips, #refused-parts")) $("held").after(message);
  const signed = await allSignedHere();
  renderPickups(signed);
  renderIncoming(signed);
  renderHeld(signed);
  renderOutgoing();
  renderTrips();
  renderRefusedParts();
  renderReceivers();
}

/** The receivers a release may go to: those whose permit (or an exemption row) covers every
 * ticked batch, as on the enterprise's pickup form; the others are named with the waste codes
 * they do not cover, so the driver knows why they are not offered. */
function renderReceivers() {
  const select = $("release-to");
  const chosen = select.value;
  const picked = round ? selected() : [];
  const offered = [];
  const missing = [];
  for (const o of round ? round.receivers : []) {
    const takes = new Set(o.takes || []);
    const lacking = picked.length ? picked.filter((b) => !takes.has(b.code))
      : (takes.size ? [] : round.held);
    if (!lacking.length) offered.push(o);
    else missing.push(`${o.name}（${[...new Set(lacking.map((b) => b.waste_code))].join("、")}）`);
  }
  select.replaceChildren(el("option", { value: "", text: "—" }),
    ...offered.map((o) => el("option", { value: o.uscc, text: o.name })));
  select.value = offered.some((o) => o.uscc === chosen) ? chosen : "";
  const note = $("release-not-offered");
  note.hidden = !missing.length;
  note.textContent = missing.length ? t("not_covered", { list: missing.join("；") }) : "";
  renderVehicles();
}

/** The plates a release may name: this organisation's and the chosen receiver's registered
 * vehicles, or another plate typed by hand (checked by the ledger when signed). */
function renderVehicles() {
  const select = $("release-vehicle");
  const chosen = select.value;
  const to = $("release-to").value;
  const plates = (round ? round.vehicles || [] : [])
    .filter((v) => v.org === me.org || v.org === to);
  select.replaceChildren(el("option", { value: "", text: t("no_vehicle") }),
    ...plates.map((v) => el("option", { value: v.plate, text: v.plate })),
    el("option", { value: "*other", text: t("other_vehicle") }));
  select.value = [...select.options].some((o) => o.value === chosen) ? chosen : "";
  $("release-vehicle-other-wrap").hidden = select.value !== "*other";
}

function chosenVehicle() {
  const v = $("release-vehicle").value;
  return v === "*other" ? $("release-vehicle-other").value.trim() : v;
}

let lastButton = null; // the message goes where the thumb is: just after this button

function say(text, ok = true) {
  const box = $("action-message");
  const anchor = lastButton && lastButton.isConnected ? lastButton : null;
  if (anchor && box.previousElementSibling !== anchor) anchor.after(box);
  box.hidden = !text;
  box.textContent = text;
  box.classList.toggle("error", !ok);
  if (text) box.scrollIntoView({ block: "nearest" });
}

function errorText(err) {
  return err instanceof ApiError || err instanceof NetworkError
    ? err.message : String(err.message || err);
}

async function withButton(button, work) {
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

// --- actions on held batches ------------------------------------------------------------------

async function release() {
  const picked = selected();
  const to = $("release-to").value;
  if (!picked.length) return say(t("choose_batches"), false);
  if (!to) return say(t("choose_receiver"), false);
  if (!navigator.onLine) return say(t("needs_online"), false);
  const vehicle = chosenVehicle();
  if ($("release-vehicle").value === "*other" && !vehicle) return say(t("vehicle_missing"), false);
  // The manifest for this trip is reserved the way a generator reserves one: a pickup request
  // addressed to the receiver (it then appears on the receiver's own round). A reservation
  // left from an earlier attempt to the same receiver is used again, not duplicated.
  const codes = picked.map((b) => b.code);
  let pickup = (round.outgoing || []).find((p) => p.to === to
    && codes.every((c) => p.batches.some((b) => b.code === c)));
  const reserved = !pickup;
  if (reserved) {
    try {
      pickup = await api("POST", "/api/v1/pickups", { collector: to, batches: codes });
    } catch (err) {
      if (!(err instanceof ApiError && err.code === "batch_already_requested")) throw err;
      return offerCancel(codes, err);
    }
  }
  let signed = 0;
  try {
    for (const b of picked) {
      const data = { to, mass_g: b.mass_g, manifest: pickup.manifest };
      if (vehicle) data.vehicle = vehicle;
      await sign({ stream: b.code, head: await headFor(b.code, b.head), kind: "custody.released",
                   data, label: `${t("release")} · ${b.name} · ${b.code.slice(-15)}` });
      signed += 1;
    }
  } catch (err) {
    // Nothing of this trip was signed: give the reserved manifest back, so the batches are
    // free to be released again (to anyone). Part of it signed: the rest stays on the
    // reservation and the next attempt to the same receiver continues it.
    let after = "";
    if (!signed && reserved) {
      after = await api("POST", `/api/v1/pickups/${pickup.id}/cancel`)
        .then(() => t("reservation_released", { m: pickup.manifest }))
        .catch(() => t("reservation_kept", { m: pickup.manifest }));
    } else if (signed) {
      after = t("release_partial", { n: signed, m: pickup.manifest });
    }
    await load({ fetch: true });
    return say(`${t("error", { msg: errorText(err) })} ${after}`.trim(), false);
  }
  await load({ fetch: true });
  say(t("release_done", { n: picked.length, m: pickup.manifest }));
}

/** A ticked batch is still on this unit's open reservation to another receiver (one that
 * refused it, say): the message names that manifest and its cancel button is right there. */
function offerCancel(codes, err) {
  const blocking = (round.outgoing || []).find((p) => p.batches.some((b) => codes.includes(b.code)));
  if (!blocking) return say(t("error", { msg: errorText(err) }), false);
  say(t("on_other_reservation", { m: blocking.manifest, who: blocking.to_name || blocking.to }),
      false);
  $("action-message").append(" ", el("button", {
    type: "button", class: "danger cancel-pickup", text: t("cancel_pickup"),
    "data-id": String(blocking.id), "data-manifest": blocking.manifest }));
  return undefined;
}

// --- half-signed handovers and reservations ---------------------------------------------------

const armed = new Set(); // withdrawals asked once: a second tap signs

async function handoverAction(button) {
  const code = button.dataset.code;
  const b = [...round.held, ...round.pickups.flatMap((p) => p.batches),
             ...(round.incoming || [])].find((x) => x.code === code);
  if (!b || !b.handover) return;
  const h = b.handover;
  const head = await headFor(code, b.head);
  if (button.dataset.action === "complete") {
    await sign({ stream: code, head, kind: "custody.released",
                 data: { to: h.to, mass_g: b.mass_g, manifest: h.manifest },
                 label: `${t("release")} · ${b.name} · ${code.slice(-15)}` });
    lastButton = $("held-h");
    await load({ fetch: true });
    return say(t("complete_done", { who: h.to_name || h.to, m: h.manifest }));
  }
  if (!armed.has(code)) {
    armed.add(code);
    button.textContent = t("withdraw_confirm");
    return say(t("withdraw_explain"));
  }
  armed.delete(code);
  const reason = h.from === me.org
    ? (h.status === "awaiting_answer" ? t("reason_giver_withdraws") : t("reason_giver_declines"))
    : t("reason_receiver_withdraws");
  await sign({ stream: code, head, kind: "custody.withdrawn",
               data: { manifest: h.manifest, reason },
               label: `${t("withdrawn")} · ${b.name} · ${code.slice(-15)}` });
  lastButton = $("held-h");
  await load({ fetch: true });
  say(t("withdraw_done", { m: h.manifest }));
}

async function cancelPickup(button) {
  const id = button.dataset.id;
  const manifest = button.dataset.manifest || button.closest("article").dataset.manifest;
  await api("POST", `/api/v1/pickups/${encodeURIComponent(id)}/cancel`);
  lastButton = $("held-h");
  await load({ fetch: true });
  say(t("cancelled", { m: manifest }));
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
  let failed = null;
  for (const b of picked) {
    try {
      const result = await sign({ stream: b.code, head: await headFor(b.code, b.head),
                                  kind: "custody.consolidated_out",
                                  data: { into: child, mass_g: b.mass_g },
                                  label: `${t("consolidate")} · ${b.name} · ${b.code.slice(-15)}` });
      parents.push({ code: b.code, mass_g: b.mass_g, entry: result.head.leaf });
    } catch (err) {
      // A hand-off already signed has poured its batch into the new drum: stopping here
      // would leave that mass in no batch at all. The drum is made of what was poured.
      failed = { b, err };
      break;
    }
  }
  if (!parents.length) throw failed.err;
  // One item, one code (一物一码): the new batch is one container.
  const data = {
    waste_code: first.waste_code, name: first.name, form: first.form || "solid",
    hazards: first.hazards || [],
    container: { type: $("consolidate-container").value.trim() || first.container?.type || "桶",
                 count: 1 },
    mass_g: parents.reduce((n, p) => n + p.mass_g, 0),
    generated_on: `${child.slice(26, 30)}-${child.slice(30, 32)}-${child.slice(32, 34)}`,
    parents,
  };
  if (first.hazardous === false) data.hazardous = false;
  await sign({ stream: child, head: null, kind: "batch.consolidated", data,
               label: `${t("consolidate")} → ${child.slice(-15)}` });
  await load({ fetch: true });
  // The new drum needs its label now, before it is moved: one tap from here.
  const label = $("child-label");
  label.href = `/api/v1/batches/${encodeURIComponent(child)}/label.pdf`;
  label.dataset.code = child;
  label.hidden = false;
  if (failed) {
    return say(t("consolidate_partial", { code: groupedCode(child), n: parents.length,
                                          name: failed.b.name, msg: errorText(failed.err) }),
               false);
  }
  say(t("consolidate_done", { code: groupedCode(child) }));
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
  $("release-to").addEventListener("change", renderVehicles);
  $("release-vehicle").addEventListener("change", renderVehicles);
  // Buttons drawn with the round (handover boxes, reservations): one listener for them all.
  document.querySelector("main").addEventListener("click", (e) => {
    const button = e.target.closest("button.handover-action, button.cancel-pickup, "
      + "button.accept-all, button.carrier-sign, button.take-back, button.return-enterprise");
    if (!button) return;
    if (button.classList.contains("return-enterprise")) {
      withButton(button, () => returnToEnterprise(button));
      return;
    }
    if (button.classList.contains("carrier-sign")) { withButton(button, () => signLeg(button)); return; }
    if (button.classList.contains("take-back")) { withButton(button, () => takeBack(button)); return; }
    if (button.classList.contains("accept-all")) { withButton(button, () => acceptAll(button)); return; }
    withButton(button, () => (button.classList.contains("cancel-pickup")
      ? cancelPickup(button) : handoverAction(button)));
  });
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
