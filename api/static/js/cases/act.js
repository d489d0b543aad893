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

/** Upload one evidence file of a case; resolves to {sha256, media_type, size}. */
export async function uploadEvidence(caseId, file) {
  const body = new FormData();
  body.append("file", file, file.name);
  let resp;
  try {
    resp = await fetch(`/api/v1/cases/${encodeURIComponent(caseId)}/evidence`, {
      method: "POST", body, credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": csrfToken() },
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
