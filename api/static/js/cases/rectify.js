// 我的整改: the responsible unit answers a case — what it did, with photos (the phone's camera)
// and documents. Each file is uploaded first (the server keeps it under its SHA-256); then the
// report naming those hashes is signed on this device, so the signature covers the files.
import { T, canSign, explain, format, ready, say, signStep, uploadEvidence } from "./act.js";

const keyNotice = document.getElementById("device-key");

for (const form of document.querySelectorAll("form.respond")) {
  const outcome = form.querySelector(".outcome");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!canSign(outcome)) return;
    const report = form.elements.namedItem("report").value.trim();
    if (!report) { say(outcome, T.report_required, false); return; }
    const files = [...form.elements.namedItem("photos").files,
                   ...form.elements.namedItem("documents").files];
    form.querySelectorAll("button, input, textarea").forEach((b) => { b.disabled = true; });
    try {
      const evidence = [];
      for (const file of files) {
        say(outcome, format(T.uploading, { name: file.name }), true);
        const stored = await uploadEvidence(form.dataset.case, file);
        if (!evidence.some((e) => e.sha256 === stored.sha256)) {
          evidence.push({ sha256: stored.sha256, name: (file.name || "file").slice(0, 200) });
        }
      }
      say(outcome, T.signing, true);
      const data = { report };
      if (evidence.length) data.evidence = evidence;
      const receipt = await signStep(form.dataset.case, "case.responded", data, keyNotice);
      say(outcome, format(T.done, { index: receipt.index }), true);
      window.location.reload();
    } catch (err) {
      say(outcome, explain(err), false);
      form.querySelectorAll("button, input, textarea").forEach((b) => { b.disabled = false; });
    }
  });
}

ready();
