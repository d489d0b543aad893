// The declare form for general industrial solid waste (一般工业固体废物): the catalogue search,
// the identification question and the hazards give way to the general code (NNN-NNN-SNN, from
// the loaded list when there is one); declare.js then signs with hazardous: false.
const form = document.getElementById("declare-form");
const codeInput = document.getElementById("waste-code");
const general = document.getElementById("general-code");
const nameInput = document.getElementById("name");
const list = JSON.parse(document.getElementById("general-list").textContent || "[]");
const HIDE_WHEN_GENERAL = ["identified-question", "waste-search-field", "hazards-field"];

function digits(text) {
  const m = /^(\d{3})-?(\d{3})-?S?(\d{2})$/i.exec(String(text || "").trim());
  return m ? `${m[1]}-${m[2]}-${m[3]}` : "";
}

function kindChanged() {
  const isGeneral = form.elements.waste_kind.value === "general";
  form.dataset.general = isGeneral ? "1" : "0";
  for (const id of HIDE_WHEN_GENERAL) {
    const node = document.getElementById(id);
    if (node) node.hidden = isGeneral;
  }
  document.getElementById("general-fields").hidden = !isGeneral;
  if (isGeneral) {
    for (const box of form.querySelectorAll('input[name="hazards"]')) box.checked = false;
    codeInput.value = digits(general.value);
  } else {
    codeInput.value = "";
    general.value = "";
  }
}

general.addEventListener("input", () => {
  codeInput.value = digits(general.value);
  const listed = list.find((c) => digits(c.code) === codeInput.value);
  if (listed && !nameInput.value.trim()) nameInput.value = listed.name;
});
for (const radio of form.querySelectorAll('input[name="waste_kind"]')) {
  radio.addEventListener("change", kindChanged);
}
