// 名录第六条: a waste found hazardous by identification (鉴别) is first classed under a listed
// code; only when none fits is it classed by category as 900-000-××, with the report named and
// the hazards the identification found.
const question = document.getElementById("identified-question");
const fields = document.getElementById("identified-fields");
const categoryField = document.getElementById("identified-category-field");
const category = document.getElementById("identified-category");
const report = document.getElementById("identification-report");
const reportRequired = document.getElementById("report-required");
const combo = document.querySelector(".field.combo");
const codeInput = document.getElementById("waste-code");

function mode() {
  return question.querySelector('input[name="identified"]:checked')?.value || "no";
}

function show() {
  const m = mode();
  const unlisted = m === "unlisted";
  fields.hidden = m === "no";
  categoryField.hidden = !unlisted;
  reportRequired.hidden = !unlisted;
  combo.hidden = unlisted;
  codeInput.value = unlisted && category.value ? `900-000-${category.value.slice(2)}` : (
    unlisted ? "" : codeInput.value);
  if (unlisted) {
    for (const box of document.querySelectorAll('input[name="hazards"]')) box.checked = false;
  }
}

question.addEventListener("change", show);
category.addEventListener("change", show);

/** The identification part of the declaration: {} for ordinary waste; null after calling
 * ``fail(field, message)`` for what is missing. */
export function identification(fail, T, hazards) {
  const m = mode();
  if (m === "no") return {};
  const text = report.value.trim();
  if (m === "listed") return text ? { identification: { report: text, no_listed_code: false } } : {};
  let ok = true;
  if (!category.value) { fail("identified_category", T.category_required); ok = false; }
  if (!text) { fail("identification_report", T.report_required); ok = false; }
  if (!hazards.length) { fail("hazards", T.identified_hazards); ok = false; }
  return ok ? { identification: { report: text, no_listed_code: true } } : null;
}
