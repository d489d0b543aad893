// Small helpers shared by the generator's pages (no DOM, no network).

/** Fill "{name}" placeholders of a translated message. */
export function format(template, values) {
  return String(template || "").replace(/\{(\w+)\}/g, (m, k) => (k in values ? String(values[k]) : m));
}

const FULL_WIDTH = /[\uFF10-\uFF19\uFF0E\uFF0C]/g;

/** Kilograms as typed (up to 3 decimals; full-width digits and thousands commas allowed)
 * into exact integer grams, without floating point: {grams} or {error: "mass_required" |
 * "mass_format" | "mass_range"}. */
export function parseMassKg(raw) {
  const text = String(raw || "")
    .replace(FULL_WIDTH, (ch) => (ch === "\uFF0E" ? "." : ch === "\uFF0C" ? "," : String.fromCharCode(ch.charCodeAt(0) - 0xFF10 + 48)))
    .replace(/\s+/g, "");
  if (!text) return { error: "mass_required" };
  const plain = /^\d{1,3}(,\d{3})+(\.\d+)?$/.test(text) ? text.replace(/,/g, "") : text;
  const match = /^(\d{1,10})(?:\.(\d{1,3}))?$/.exec(plain);
  if (!match) return { error: "mass_format" };
  const grams = Number(match[1]) * 1000 + Number((match[2] || "").padEnd(3, "0"));
  if (grams < 1 || grams > 1e12) return { error: "mass_range" };
  return { grams };
}

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
