// The scanning page: camera (jsQR on canvas frames) or a typed code -> what the batch is ->
// the weighed mass -> accept or refuse, signed on this phone -> ready for the next scan.
import { ApiError, NetworkError, massDifference, parseKg as parseMass } from "../ledger.js";
import {
  $, el, t, whoami, normaliseCode, groupedCode, kg, kgNumber, stateLabel,
  downloadRound, savedRound, findInRound, signedHere, headFor, freshHead, sign, keyStatus,
  setUpWorkspace,
} from "./common.js";

const me = whoami();
let stream = null;    // the camera's MediaStream while scanning
let scanning = false;
let current = null;   // {code, card, from, manifest, head, released}

// --- camera ---------------------------------------------------------------------------------

async function startCamera() {
  stopCamera();
  const status = $("camera-status");
  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    status.textContent = t("camera_insecure");
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: false, video: { facingMode: { ideal: "environment" } } });
  } catch (err) {
    // The browser's own text is English whatever the page's language: say it in ours.
    status.textContent = t({ NotAllowedError: "camera_denied", SecurityError: "camera_denied",
                             NotFoundError: "camera_missing", OverconstrainedError: "camera_missing",
                             NotReadableError: "camera_busy", AbortError: "camera_busy" }[err.name]
                           || "camera_failed");
    $("camera-start").hidden = false;
    return;
  }
  const video = $("camera");
  video.srcObject = stream;
  await video.play().catch(() => {});
  $("viewfinder").hidden = false;
  $("camera-start").hidden = true;
  status.textContent = t("camera_looking");
  scanning = true;
  scanLoop(video);
}

function stopCamera() {
  scanning = false;
  if (stream) stream.getTracks().forEach((track) => track.stop());
  stream = null;
  $("viewfinder").hidden = true;
}

function nextFrame(video) {
  return new Promise((done) => {
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(() => done());
    else requestAnimationFrame(() => done());
  });
}

async function scanLoop(video) {
  const canvas = $("frame");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  while (scanning) {
    await nextFrame(video);
    if (!scanning || !video.videoWidth) continue;
    // A phone camera gives 1080p or more; jsQR is quick enough on a frame of ~800 px.
    const scale = Math.min(1, 800 / Math.max(video.videoWidth, video.videoHeight));
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
    const image = ctx.getImageData(0, 0, canvas.width, canvas.height);
    const found = window.jsQR(image.data, image.width, image.height,
                              { inversionAttempts: "dontInvert" });
    if (found && found.data) {
      const code = normaliseCode(found.data);
      if (code) {
        stopCamera();
        if (navigator.vibrate) navigator.vibrate(80);
        await lookUp(code);
        return;
      }
    }
  }
}

// --- what the batch is ----------------------------------------------------------------------

function showError(text) {
  const box = $("scan-error");
  box.hidden = !text;
  box.textContent = text || "";
}

/** Find the batch (online: the server's view; always: the downloaded round) and decide what
 * this organisation can sign for it. */
let lookups = 0; // only the latest look-up is shown (a scan and a typed code may overlap)
// The round being downloaded when the page opened: a look-up waits for it, or a phone that never
// had the round (a code opened straight from a link) would not know the batch is on a request.
let roundReady = Promise.resolve(null);

async function lookUp(code) {
  const mine = ++lookups;
  showError("");
  $("result").hidden = true;
  $("result-text").textContent = "";
  $("code-input").value = groupedCode(code);
  await roundReady;
  const round = await savedRound(me.org);
  const inRound = findInRound(round, code);
  let card = inRound ? { ...inRound.card } : null;
  let serverHead = card ? card.head : null;
  if (navigator.onLine) {
    try {
      const { detail, head } = await freshHead(code);
      const first = detail.history[0] ? detail.history[0].data : {};
      const open = detail.handovers.find((h) => ["awaiting_answer", "awaiting_release"]
        .includes(h.status));
      card = {
        ...(card || {}), ...detail, hazards: first.hazards || [],
        holder_name: card && card.holder === detail.holder ? card.holder_name : detail.holder,
        handover: open ? { from: open.from, to: open.to,
                           from_name: orgName(round, open.from), to_name: orgName(round, open.to),
                           manifest: open.manifest, status: open.status,
                           released_mass_g: open.released_mass_g,
                           mine: open.to === me.org } : null,
      };
      serverHead = head;
      card.head = head;
    } catch (err) {
      if (!(err instanceof NetworkError)) {
        if (!card) {
          if (mine === lookups) showError(t("not_found", { msg: err.message }));
          return mine === lookups ? restartSoon() : undefined;
        }
      }
    }
  }
  if (!card) {
    if (mine !== lookups) return undefined;
    showError(t("not_in_round"));
    return restartSoon();
  }
  const head = await headFor(code, serverHead);
  const plan = decide(card, inRound ? inRound.pickup : null, await signedHere(code));
  if (mine !== lookups) return;
  current = { code, card, head, ...plan };
  render(current);
}

/** An organisation's name from the downloaded round (its receivers, enterprises, holders). */
function orgName(round, uscc) {
  if (!round) return "";
  if (round.org && round.org.uscc === uscc) return round.org.name;
  const known = (round.receivers || []).find((o) => o.uscc === uscc)
    || round.pickups.find((p) => p.from === uscc);
  return known ? known.name || known.from_name || "" : "";
}

function decide(card, pickup, mine) {
  const h = card.handover;
  if (mine && ["custody.accepted", "custody.refused"].includes(mine.kind)
      && (mine.status === "queued" || !card.head || mine.head.seq >= card.head.seq)) {
    return { blocked: t("signed_here") + (mine.status === "queued" ? ` · ${t("queued")}` : "") };
  }
  if (h && h.to === me.org && h.status === "awaiting_answer") {
    return { from: h.from, manifest: h.manifest, released: h.released_mass_g };
  }
  if (h && h.to === me.org && h.status === "awaiting_release") {
    return { blocked: t("waiting_for_giver", { who: h.from_name || h.from }), toRound: true };
  }
  // Our own half-signed release: it is completed or withdrawn on the round, not by scanning.
  if (h && h.from === me.org && h.status === "awaiting_release") {
    return { blocked: t("complete_on_round", { who: h.to_name || h.to }), toRound: true };
  }
  if (h && h.from === me.org) {
    return { blocked: t("released_by_us", { who: h.to_name || h.to }), toRound: true };
  }
  if (card.holder === me.org) return { blocked: t("already_mine") };
  if (pickup && card.holder === pickup.from) return { from: pickup.from, manifest: pickup.manifest };
  return { blocked: t("not_for_me") };
}

function render(c) {
  const card = c.card;
  $("batch-name").textContent = card.name;
  $("batch-code").textContent = groupedCode(c.code);
  $("batch-waste").textContent = card.waste_code;
  $("batch-holder").textContent = card.holder_name || card.holder;
  $("batch-declared").textContent = kg(card.declared_mass_g);
  $("batch-released").textContent = c.released ? kg(c.released) : "—";
  $("batch-manifest").textContent = c.manifest || "—";
  $("batch-state").textContent = stateLabel(card.state);
  $("batch-hazards").replaceChildren(...(card.hazards || []).map((x) => el("li", {},
    el("img", { src: `/hazard/${x}.svg`, alt: "", width: 48, height: 48 }),
    el("span", { text: t(`hazard_${x}`) }))));
  const note = $("batch-note");
  note.hidden = !c.blocked;
  note.textContent = c.blocked || "";
  if (c.toRound) {
    note.append(" ", el("a", { href: `/collector/#held-h`, text: t("to_round") }));
  }
  $("accept-form").hidden = Boolean(c.blocked);
  $("refuse-form").hidden = true;
  const mass = $("mass-input");
  mass.value = "";
  // What was handed over is a fact to compare with, not a value to type: never a placeholder
  // (grey digits in the box look as if it were filled in).
  const expected = c.released || card.mass_g || card.declared_mass_g;
  $("mass-hint").textContent = expected ? t("mass_compare", { kg: kg(expected) }) : "";
  say("accept-message", "");
  say("refuse-message", "");
  $("batch").hidden = false;
  $("scanner").hidden = true;
  if (!c.blocked) mass.focus();
}

// --- signing --------------------------------------------------------------------------------

async function answer(kind, data, label) {
  const buttons = document.querySelectorAll("#batch button");
  buttons.forEach((b) => { b.disabled = true; });
  showResult(t("signing"), "muted");
  try {
    const result = await sign({ stream: current.code, head: current.head, kind, data, label });
    const done = kind === "custody.accepted"
      ? t("accept_done", { kg: kgNumber(data.mass_g) }) : t("refuse_done");
    const how = result.status === "accepted"
      ? `${t("accepted")} · ${t("index", { n: result.receipt.index })}` : t("queued");
    showResult(`${done} · ${how}${result.resigned ? " · " + t("resigned") : ""}`,
               result.status === "accepted" ? "ok" : "warn");
    waitingResult = result.status === "queued" ? { code: current.code, done } : null;
    $("batch").hidden = true;
    current = null;
  } catch (err) {
    const msg = err instanceof ApiError ? err.message : String(err.message || err);
    showResult(t("error", { msg }), "bad");
    $("result").dataset.outcome = "error";
    say(kind === "custody.accepted" ? "accept-message" : "refuse-message", t("error", { msg }));
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

/** A message right under the button that was tapped, scrolled to where the thumb is. */
function say(id, text, cls = "bad") {
  const box = $(id);
  box.hidden = !text;
  box.textContent = text || "";
  box.className = `notice ${cls === "bad" ? "error" : cls}`;
  if (text) box.scrollIntoView({ block: "nearest" });
}

function massProblem(typed) {
  const parsed = parseMass(typed);
  if (!parsed.error) return { grams: parsed.grams };
  return { error: t(parsed.error, { text: typed.trim() }) };
}

// The result card of an entry signed offline follows the queue: once it is sent, it says so.
let waitingResult = null;

async function resultAfterSync() {
  if (!waitingResult) return;
  const { code, done } = waitingResult;
  const mine = await signedHere(code);
  if (!mine || mine.status === "queued" || !waitingResult || waitingResult.code !== code) return;
  waitingResult = null;
  if (mine.status === "accepted") showResult(`${done} · ${t("synced", { n: mine.index })}`, "ok");
  else showResult(`${done} · ${t("rejected")}`, "bad");
}

function showResult(text, cls) {
  const box = $("result");
  box.hidden = false;
  box.dataset.outcome = cls;
  const line = $("result-text");
  line.className = `result ${cls}`;
  line.textContent = text;
}

// A weighed mass far from what was handed over is asked twice: a slip of the finger (or a
// decimal point) is cheaper to catch here than to correct once it is signed.
const ASK_AGAIN_ABOVE = 0.05;
let confirmedGrams = null;

function onAccept(event) {
  event.preventDefault();
  const { grams, error } = massProblem($("mass-input").value);
  if (error) { say("accept-message", error); $("mass-input").focus(); return; }
  const expected = current.released || current.card.mass_g;
  const diff = massDifference(expected, grams);
  if (diff > ASK_AGAIN_ABOVE && confirmedGrams !== grams) {
    confirmedGrams = grams;
    say("accept-message", t("mass_differs", { kg: kgNumber(grams), released: kgNumber(expected),
                                              pct: `${(diff * 100).toFixed(1)}%` }), "warn");
    return;
  }
  confirmedGrams = null;
  say("accept-message", "");
  answer("custody.accepted", { from: current.from, manifest: current.manifest, mass_g: grams },
         `${current.card.name} · ${kgNumber(grams)} ${t("kg")} · ${current.code.slice(-15)}`);
}

function onRefuse(event) {
  event.preventDefault();
  const parts = [$("reason-select").value, $("reason-text").value.trim()].filter(Boolean);
  const reason = parts.join("：");
  if (!reason) { say("refuse-message", t("reason_missing")); return; }
  const data = { from: current.from, manifest: current.manifest, reason: reason.slice(0, 500) };
  const typed = $("refused-mass").value.trim();
  if (typed) {
    const { grams, error } = massProblem(typed);
    if (error) { say("refuse-message", error); return; }
    data.refused_mass_g = grams;
  }
  answer("custody.refused", data, `${t("refuse_done")} · ${current.card.name} · ${current.code.slice(-15)}`);
}

function nextScan() {
  confirmedGrams = null;
  waitingResult = null;
  $("result").hidden = true;
  $("result-text").textContent = "";
  $("batch").hidden = true;
  $("scanner").hidden = false;
  $("code-input").value = "";
  current = null;
  startCamera();
}

let restartTimer = null;
function restartSoon() {
  $("scanner").hidden = false;
  clearTimeout(restartTimer);
  restartTimer = setTimeout(() => { if (!current && !scanning) startCamera(); }, 1500);
}

// --- wiring ---------------------------------------------------------------------------------

async function main() {
  await setUpWorkspace();
  $("code-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const code = normaliseCode($("code-input").value);
    if (!code) { showError(t("code_invalid")); return; }
    stopCamera();
    lookUp(code);
  });
  $("accept-form").addEventListener("submit", onAccept);
  $("refuse-open").addEventListener("click", () => {
    $("accept-form").hidden = true;
    $("refuse-form").hidden = false;
  });
  $("refuse-cancel").addEventListener("click", () => {
    $("refuse-form").hidden = true;
    $("accept-form").hidden = false;
  });
  $("refuse-form").addEventListener("submit", onRefuse);
  $("next-scan").addEventListener("click", nextScan);
  $("batch-next").addEventListener("click", nextScan);
  $("camera-start").addEventListener("click", startCamera);
  document.addEventListener("queue-flushed", resultAfterSync);
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) stopCamera();
  });
  keyStatus({ create: true });
  if (navigator.onLine) roundReady = downloadRound(me.org).catch(() => null);
  const preset = normaliseCode(new URLSearchParams(location.search).get("code"));
  if (preset) await lookUp(preset);
  else startCamera();
  document.body.dataset.ready = "1";
}

main();
