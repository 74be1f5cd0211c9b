// Amounts shown exactly: credits are integers or decimal strings, prices integers of minor
// units; never a float on the way to the text.
import type { Amount, Money } from "./api.js";

/** "1,000" or "12.50": the amount's digits grouped, its decimals kept. */
export function formatAmount(value: Amount, locale?: string): string {
  const text = String(value);
  const negative = text.startsWith("-");
  const [whole = "0", fraction] = (negative ? text.slice(1) : text).split(".");
  const grouped = BigInt(whole).toLocaleString(locale);
  return `${negative ? "-" : ""}${grouped}${fraction === undefined ? "" : `.${fraction}`}`;
}

const CURRENCY_DIGITS_MAX = 4;

/** "$9.99": the price from its minor units, with the currency's own decimal places. */
export function formatMoney(money: Money, locale?: string): string {
  const format = new Intl.NumberFormat(locale, { style: "currency", currency: money.currency });
  const digits = Math.min(format.resolvedOptions().maximumFractionDigits ?? 2, CURRENCY_DIGITS_MAX);
  const minor = BigInt(money.amount_minor);
  const scale = 10n ** BigInt(digits);
  const whole = minor / scale;
  const fraction = (minor < 0n ? -minor : minor) % scale;
  // formatToParts on the whole part, then the exact fraction in place of Intl's.
  const parts = format.formatToParts(whole);
  return parts
    .map((part) => (part.type === "fraction" ? fraction.toString().padStart(digits, "0") : part.value))
    .join("");
}

/** "ai_gap_analysis" → "Ai gap analysis": a label for an id the catalog did not name. */
export function humanise(id: string): string {
  const words = id.replace(/[_-]+/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** "1 time", "2 times". */
export function plural(count: number, one: string, many: string): string {
  return `${count.toLocaleString()} ${count === 1 ? one : many}`;
}

/** A share from "0" to "1" (a decimal string) as a whole percent, rounded down: 0.999 is 99%. */
export function percentOf(share: string | number): number {
  const [whole = "0", fraction = ""] = String(share).split(".");
  const hundredths = Number(whole) * 100 + Number((fraction + "00").slice(0, 2));
  return Math.max(0, hundredths);
}
