// Exact amounts. The API sends an amount as a JSON integer or a decimal string ("12.50"), never
// a float; these helpers keep it exact: arithmetic is on bigint at the larger scale of the two.

/** An amount as the API sends it: an integer or a decimal string. */
export type WireAmount = number | string;
/** What the helpers accept: a wire amount or a bigint. A number must be a safe integer. */
export type AmountLike = WireAmount | bigint;
/** An exact amount as a canonical decimal string ("40", "-2", "12.5"). */
export type Amount = string;

const DECIMAL = /^(-?)([0-9]+)(?:\.([0-9]+))?$/;

interface Scaled {
  readonly units: bigint;
  readonly scale: number;
}

function scaled(value: AmountLike, field: string): Scaled {
  if (typeof value === "bigint") {
    return { units: value, scale: 0 };
  }
  if (typeof value === "number") {
    // A float (or an integer past 2^53) is not exact: refuse it rather than round.
    if (!Number.isSafeInteger(value)) {
      throw new TypeError(`${field}: ${value} is not an exact amount (use an integer, a bigint or a decimal string)`);
    }
    return { units: BigInt(value), scale: 0 };
  }
  if (typeof value !== "string") {
    throw new TypeError(`${field}: expected an integer, a bigint or a decimal string`);
  }
  const parts = DECIMAL.exec(value.trim());
  if (parts === null) {
    throw new TypeError(`${field}: ${JSON.stringify(value)} is not a decimal amount`);
  }
  const fraction = parts[3] ?? "";
  const units = BigInt(parts[2] + fraction);
  return { units: parts[1] === "-" ? -units : units, scale: fraction.length };
}

function rescaled(value: Scaled, scale: number): bigint {
  return value.units * 10n ** BigInt(scale - value.scale);
}

function formatted(units: bigint, scale: number): Amount {
  const negative = units < 0n;
  let digits = (negative ? -units : units).toString().padStart(scale + 1, "0");
  if (scale > 0) {
    const whole = digits.slice(0, digits.length - scale);
    const fraction = digits.slice(digits.length - scale).replace(/0+$/, "");
    digits = fraction === "" ? whole : `${whole}.${fraction}`;
  }
  return negative && units !== 0n ? `-${digits}` : digits;
}

/** The amount as a canonical decimal string; throws on a float or a malformed string. */
export function amount(value: AmountLike, field = "amount"): Amount {
  const parsed = scaled(value, field);
  return formatted(parsed.units, parsed.scale);
}

/** The amount as a bigint; throws when it has a fractional part. */
export function amountToBigInt(value: AmountLike, field = "amount"): bigint {
  const parsed = scaled(value, field);
  const divisor = 10n ** BigInt(parsed.scale);
  if (parsed.units % divisor !== 0n) {
    throw new RangeError(`${field}: ${formatted(parsed.units, parsed.scale)} is not a whole amount`);
  }
  return parsed.units / divisor;
}

/** -1, 0 or 1 as ``left`` is below, equal to or above ``right``. */
export function compareAmounts(left: AmountLike, right: AmountLike): -1 | 0 | 1 {
  const a = scaled(left, "left");
  const b = scaled(right, "right");
  const scale = Math.max(a.scale, b.scale);
  const difference = rescaled(a, scale) - rescaled(b, scale);
  return difference < 0n ? -1 : difference > 0n ? 1 : 0;
}

export function addAmounts(left: AmountLike, right: AmountLike): Amount {
  const a = scaled(left, "left");
  const b = scaled(right, "right");
  const scale = Math.max(a.scale, b.scale);
  return formatted(rescaled(a, scale) + rescaled(b, scale), scale);
}

export function subtractAmounts(left: AmountLike, right: AmountLike): Amount {
  const a = scaled(left, "left");
  const b = scaled(right, "right");
  const scale = Math.max(a.scale, b.scale);
  return formatted(rescaled(a, scale) - rescaled(b, scale), scale);
}

/** The amount as the API takes it: a safe integer stays a JSON number, the rest a string. */
export function wireAmount(value: AmountLike, field = "amount"): WireAmount {
  const canonical = amount(value, field);
  const asNumber = Number(canonical);
  return /^-?[0-9]+$/.test(canonical) && Number.isSafeInteger(asNumber) ? asNumber : canonical;
}
