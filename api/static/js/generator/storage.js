// 入库/出库 from the batch list (HJ 1259): a declared batch still with the enterprise goes into
// one of its registered storage facilities, or out of it, each signed on this device with the
// person's name (ledger.js adds it). Shown only when the organisation has a facility.
import { ApiError, api, leafHash, messages, signEntry, submitNote } from "../ledger.js";
import { DEAD_KEY, renewKey, signingKey } from "./device.js";
import { format } from "./util.js";

const T = messages();
const org = T.org;
const box = document.getElementById("storage-box");
const select = document.getElementById("storage-facility");
const message = document.getElementById("storage-message");
const keyNotice = document.getElementById("device-key");

function say(button, text, ok = true) {
  button.closest("td").append(message);
  message.hidden = false;
  message.textContent = text;
  message.classList.toggle("error", !ok);
}

/** Sign ``kind`` on the batch after its current head; returns the receipt. */
export async function signOnBatch(code, kind, data, key) {
  const batch = await api("GET", `/api/v1/batches/${encodeURIComponent(code)}`);
  const last = batch.history[batch.history.length - 1];
  const { note } = await signEntry({ stream: code, org, key, kind, data,
                                     head: { seq: last.seq, leaf: last.leaf_hash, t: last.t } });
  return { receipt: await submitNote(note), leaf: await leafHash(note), batch };
}

async function act(button) {
  const code = button.dataset.code;
  const detail = await api("GET", `/api/v1/batches/${encodeURIComponent(code)}`);
  const stay = detail.storage;
  const kind = stay ? "storage.out" : "storage.in";
  const facility = stay ? stay.facility : select.value;
  let key = await signingKey(org, keyNotice, T);
  let result;
  try {
    result = await signOnBatch(code, kind, { facility, mass_g: detail.mass_g }, key);
  } catch (err) {
    if (!(err instanceof ApiError && DEAD_KEY.has(err.code))) throw err;
    key = await renewKey(org, keyNotice, T);
    result = await signOnBatch(code, kind, { facility, mass_g: detail.mass_g }, key);
  }
  const index = result.receipt.index;
  say(button, stay ? format(T.taken_out, { index }) : format(T.stored, { f: facility, index }));
  await refresh(code, stay ? null : { facility });
}

async function refresh(code, stay) {
  const where = document.querySelector(`.storage-where[data-code="${code}"]`);
  const button = document.querySelector(`button.storage-action[data-code="${code}"]`);
  where.textContent = stay ? format(T.in_facility, { f: stay.facility }) : "";
  button.textContent = stay ? T.store_out : T.store_in;
  button.hidden = false;
}

async function main() {
  const buttons = [...document.querySelectorAll("button.storage-action")];
  if (!buttons.length) return;
  const yard = await api("GET", "/api/v1/collector/yard");
  if (!yard.facilities.length) return; // nothing to store into: no buttons
  select.replaceChildren(...yard.facilities.map((f) => {
    const option = document.createElement("option");
    option.value = f.code;
    option.textContent = `${f.code} ${f.name}`;
    return option;
  }));
  box.hidden = false;
  const stays = new Map(yard.stays.map((s) => [s.batch, s]));
  for (const button of buttons) {
    await refresh(button.dataset.code, stays.get(button.dataset.code) || null);
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await act(button);
      } catch (err) {
        say(button, `${T.failed}: ${err && err.message ? err.message : err}`, false);
      } finally {
        button.disabled = false;
      }
    });
  }
  document.body.dataset.storageReady = "1";
}

main();
