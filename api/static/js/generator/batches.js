// 我的批次: the label size applies to every "print label" link; the selection feeds the label
// sheet (a plain form post) and the pickup request page.
import { messages } from "../ledger.js";
import { format } from "./util.js";

const T = messages();
const form = document.getElementById("selection");
const size = document.getElementById("label-size");
const count = document.getElementById("selected-count");
const pickup = document.getElementById("pickup-selected");

function boxes() {
  return Array.from(form.querySelectorAll('input[name="codes"]'));
}

function selected() {
  return boxes().filter((b) => b.checked);
}

function updateLinks() {
  for (const link of document.querySelectorAll("a.label-link")) {
    link.href = size.value ? `${link.dataset.base}?size=${size.value}` : link.dataset.base;
  }
}

function updateCount() {
  const n = selected().length;
  count.textContent = n ? format(T.selected, { n }) : "";
  for (const row of form.querySelectorAll("tr[data-code]")) {
    row.classList.toggle("selected", row.querySelector('input[name="codes"]').checked);
  }
}

size.addEventListener("change", updateLinks);
form.addEventListener("change", updateCount);
form.addEventListener("submit", (event) => {
  if (!selected().length) {
    event.preventDefault();
    count.textContent = T.none_selected;
  }
});
pickup.addEventListener("click", (event) => {
  const codes = selected().filter((b) => b.dataset.available === "yes").map((b) => b.value);
  if (!codes.length) return; // the page itself lets them choose
  event.preventDefault();
  const q = new URLSearchParams();
  for (const code of codes) q.append("codes", code);
  window.location.assign(`${form.dataset.pickupsUrl}?${q}`);
});

updateLinks();
updateCount();
