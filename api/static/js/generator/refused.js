// The refused part of a partial refusal (部分拒收), taken back from the batch list: the
// enterprise that released the batch (移出人) signs batch.refused_part on this device, and the
// refused mass becomes a batch of its own code, back with it (待收集) to be collected again or
// handed to another permitted unit (docs/custody.md 3.17). Errors show beside the button.
import { api, messages, signEntry, submitNote } from "../ledger.js";
import { withDeviceKey } from "./device.js";
import { format } from "./util.js";

const T = messages();

async function takeBack(button, message) {
  const waste = button.dataset.waste;
  const { code } = await api("GET",
    `/api/v1/collector/child-code?waste_code=${encodeURIComponent(waste)}`);
  const data = { parent: button.dataset.parent, refusal: button.dataset.refusal,
                 mass_g: Number(button.dataset.mass) };
  if (button.dataset.hazardous === "no") data.hazardous = false;
  await withDeviceKey(T.org, message, T, async (key) => {
    const { note } = await signEntry({ stream: code, head: null, org: T.org, key,
                                       kind: "batch.refused_part", data });
    return submitNote(note);
  });
  return code;
}

/** A refused batch its holder released back to this enterprise (退回): accept it at the
 * released mass; it is then back here, 待收集. */
async function acceptReturn(button, message) {
  const code = button.dataset.code;
  const data = { from: button.dataset.from, mass_g: Number(button.dataset.mass),
                 manifest: button.dataset.manifest };
  return withDeviceKey(T.org, message, T, async (key) => {
    const batch = await api("GET", `/api/v1/batches/${encodeURIComponent(code)}`);
    const last = batch.history[batch.history.length - 1];
    const { note } = await signEntry({ stream: code, org: T.org, key, kind: "custody.accepted",
                                       data, head: { seq: last.seq, leaf: last.leaf_hash,
                                                     t: last.t } });
    return submitNote(note);
  });
}

function main() {
  for (const button of document.querySelectorAll("button.accept-return")) {
    const message = button.parentElement.querySelector(".accept-return-message");
    button.addEventListener("click", async () => {
      button.disabled = true;
      message.hidden = false;
      message.classList.remove("error");
      message.textContent = T.accepting;
      try {
        const receipt = await acceptReturn(button, message);
        message.textContent = format(T.return_accepted, { index: receipt.index });
        button.remove();
      } catch (err) {
        message.classList.add("error");
        message.textContent = format(T.accept_failed,
                                     { msg: err && err.message ? err.message : err });
        button.disabled = false;
      }
    });
    button.disabled = false;
  }
  for (const button of document.querySelectorAll("button.take-back")) {
    const message = button.parentElement.querySelector(".take-back-message");
    button.addEventListener("click", async () => {
      button.disabled = true;
      message.hidden = false;
      message.classList.remove("error");
      message.textContent = T.taking_back;
      try {
        const code = await takeBack(button, message);
        message.textContent = format(T.taken_back, { code });
        message.dataset.code = code;
        button.remove();
      } catch (err) {
        message.classList.add("error");
        message.textContent = format(T.take_back_failed,
                                     { msg: err && err.message ? err.message : err });
        button.disabled = false;
      }
    });
    button.disabled = false; // usable once the handler is attached
  }
  document.body.dataset.refusedReady = "1";
}

main();
