// Steps of a case (立案, 交办, 整改, 验收, 销号), each a signed entry made on this device with the
// acting party's own key: the draft comes from the server, the signature never leaves here.
import { ApiError, NetworkError, api, csrfToken, messages, signNote, submitNote } from "../ledger.js";
import { withDeviceKey } from "../generator/device.js";
import { format } from "../generator/util.js";

export const T = messages();
export { format };

/** Sign ``kind`` with ``data`` as the next entry of case ``caseId``; resolves to the receipt. */
export function signStep(caseId, kind, data, notice) {
  return withDeviceKey(T.org, notice, T, async (key) => {
    const draft = await api("POST", `/api/v1/drafts/${kind}`,
                            { stream: `case:${caseId}`, org: T.org, key: key.fingerprint, data });
    return submitNote(await signNote(draft.note_text, key));
  });
}

/** Sign ``kind`` with ``data`` as the next entry of case ``caseId`` without sending it: the
 * signed note, for a second signer to add theirs (两级销号). */
export function signOnly(caseId, kind, data, notice) {
  return withDeviceKey(T.org, notice, T, async (key) => {
    const draft = await api("POST", `/api/v1/drafts/${kind}`,
                            { stream: `case:${caseId}`, org: T.org, key: key.fingerprint, data });
    return signNote(draft.note_text, key);
  });
}

/** Add this device's signature to a note another party signed, after checking it is
 * ``kind`` on case ``caseId``; send it; resolves to the receipt. */
export async function cosignAndSend(note, caseId, kind, notice) {
  const clean = note.replace(/\r\n/g, "\n").trim() + "\n";
  const split = clean.indexOf("\n\n");
  if (split < 0) throw new Error(T.not_a_note);
  const text = clean.slice(0, split + 1);
  let payload;
  try { payload = JSON.parse(text.split("\n")[1]); } catch { throw new Error(T.not_a_note); }
  if (payload.stream !== `case:${caseId}` || payload.kind !== kind) throw new Error(T.not_this_case);
  return withDeviceKey(T.org, notice, T, async (key) => {
    const mine = (await signNote(text, key)).trimEnd().split("\n").pop();
    return submitNote(`${clean}${mine}\n`);
  });
}

/** Upload one evidence file of a case; resolves to {sha256, media_type, size}. */
export async function uploadEvidence(caseId, file) {
  const body = new FormData();
  body.append("file", file, file.name);
  let resp;
  try {
    resp = await fetch(`/api/v1/cases/${encodeURIComponent(caseId)}/evidence`, {
      method: "POST", body, credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": csrfToken(), "X-Ledger-Page": "1" },
    });
  } catch (err) {
    throw new NetworkError(String(err));
  }
  let data = null;
  try { data = await resp.json(); } catch { data = null; }
  if (!resp.ok) throw new ApiError(data, resp.status);
  return data;
}

/** What went wrong, in the words the server chose (Chinese unless English was asked for). */
export function explain(err) {
  if (err instanceof NetworkError) return T.network;
  const text = err && err.message ? err.message : String(err);
  return `${T.failed}：${text}`;
}

export function say(node, text, ok) {
  node.textContent = text;
  node.hidden = false;
  node.className = ok ? "notice ok" : "error";
}

export function canSign(node) {
  if (window.crypto && crypto.subtle) return true;
  say(node, T.no_webcrypto, false);
  return false;
}

/** The signing buttons start disabled (a form sent without this script would only reload the
 * page); a page's script calls this once its handlers are attached. */
export function ready() {
  for (const button of document.querySelectorAll("[data-needs-js]")) button.disabled = false;
  document.body.dataset.casesReady = "1";
}
