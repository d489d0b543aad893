// Small helpers shared by the generator's pages (no DOM, no network).

/** Fill "{name}" placeholders of a translated message. */
export function format(template, values) {
  return String(template || "").replace(/\{(\w+)\}/g, (m, k) => (k in values ? String(values[k]) : m));
}

/** Kilograms as typed into exact grams: one parser for every page (see ledger.js). */
export { parseKg as parseMassKg } from "../ledger.js";

/** Integer grams as kilograms with up to 3 decimals, exactly ("120.5", "0.001"). */
export function gramsToKg(grams) {
  const whole = Math.floor(grams / 1000);
  const rest = grams % 1000;
  const digits = whole.toLocaleString("en-US");
  return rest ? `${digits}.${String(rest).padStart(3, "0").replace(/0+$/, "")}` : digits;
}

/** Which form field a server error names ("data.mass_g" -> "mass_g"); "general" if none. */
export function fieldFor(name) {
  const key = String(name || "").replace(/^data\./, "").split(/[.[]/)[0];
  const known = { waste_code: "waste_code", name: "name", hazards: "hazards", form: "form",
                  container: "container", mass_g: "mass_g", generated_on: "generated_on" };
  return known[key] || "general";
}
