// This device's signing key for the generator's pages: made and registered on first use (the
// page says so), and made anew once if the ledger no longer knows it (revoked, or a rebuilt
// demo database) so that the person is not stuck with a dead key.
import { ApiError, deviceKey, ensureDeviceKey, forgetDeviceKey } from "../ledger.js";
import { format } from "./util.js";

/** Answers that mean the ledger will take nothing signed by this device's key any more. */
export const DEAD_KEY = new Set(["key_unknown", "key_revoked", "key_wrong_org"]);

function say(notice, text) {
  notice.textContent = text;
  notice.hidden = false;
}

/** The registered key of ``org`` on this device, telling ``notice`` when it is being made. */
export async function signingKey(org, notice, T) {
  const existing = await deviceKey(org);
  if (existing && existing.registered) return existing;
  say(notice, T.registering);
  let made;
  try {
    made = await ensureDeviceKey(org, T.device_label);
  } catch (err) {
    notice.hidden = true; // the error is shown where the person acted; no "making a key…" left
    throw err;
  }
  say(notice, format(T.registered, { name: made.name }));
  return made;
}

/** Forget this device's dead key and make (and register) a new one. */
export async function renewKey(org, notice, T) {
  await forgetDeviceKey(org);
  return signingKey(org, notice, T);
}

/** Run ``work(key)``; if the ledger refuses the key itself, make a new one and run it again. */
export async function withDeviceKey(org, notice, T, work) {
  const key = await signingKey(org, notice, T);
  try {
    return await work(key);
  } catch (err) {
    if (!(err instanceof ApiError && DEAD_KEY.has(err.code))) throw err;
    return work(await renewKey(org, notice, T));
  }
}
