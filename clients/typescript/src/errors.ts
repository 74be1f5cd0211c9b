// Typed errors: every refusal of the API is a problem+json body (RFC 9457) with a stable
// `code`; each status with facts of its own has a class that carries them typed.
import { amount, type Amount } from "./amount.js";
import type { components } from "./openapi.js";

type Schemas = components["schemas"];
export type ProblemCode = Schemas["Problem"]["code"];
export type Money = Schemas["Money"];

/** A pack that would cover a shortfall, as a 402 offers it (cheapest first). */
export interface PackOffer {
  readonly id: string;
  /** The pack's catalog name ("1,000 credits"), for a paywall to show. */
  readonly name: string;
  readonly amount: Amount;
  readonly price: Money;
}

/** The plan `upgradeTo` names, as a paywall shows it: its price per `interval` (monthly when
 * sold monthly; null for a plan not sold self-serve). */
export interface UpgradeOffer {
  readonly id: string;
  readonly name: string;
  readonly price: Money | null;
  readonly interval: "month" | "year" | null;
}

function upgradeOffer(value: unknown): UpgradeOffer | null {
  if (typeof value !== "object" || value === null) {
    return null;
  }
  const offer = value as Record<string, unknown>;
  if (typeof offer["id"] !== "string" || typeof offer["name"] !== "string") {
    return null;
  }
  const interval = offer["interval"] === "month" || offer["interval"] === "year" ? offer["interval"] : null;
  return { id: offer["id"], name: offer["name"], price: (offer["price"] as Money | null | undefined) ?? null, interval };
}

/** A refusal of the API: the HTTP `status`, the problem's `code` and `detail`, and its body. */
export class CreditKitError extends Error {
  override readonly name: string = "CreditKitError";
  constructor(
    readonly status: number,
    readonly code: ProblemCode | `http_${number}` | "response_invalid",
    readonly detail: string,
    readonly problem: Readonly<Record<string, unknown>>,
  ) {
    super(`${status} ${code}: ${detail}`);
  }
}

/** 402: the balance does not cover it; with what would (packs to buy, a plan to move to). */
export class InsufficientCreditsError extends CreditKitError {
  override readonly name = "InsufficientCreditsError";
  readonly customer: string;
  readonly unit: string;
  readonly available: Amount;
  readonly required: Amount;
  readonly packs: readonly PackOffer[];
  /** The plan's id; its name and price are in `upgrade`. */
  readonly upgradeTo: string | null;
  readonly upgrade: UpgradeOffer | null;
  constructor(status: number, body: Schemas["InsufficientCreditsProblem"]) {
    super(status, body.code, body.detail, body);
    this.customer = body.customer;
    this.unit = body.unit;
    this.available = amount(body.available, "available");
    this.required = amount(body.required, "required");
    this.packs = body.packs.map((pack) => ({ id: pack.id, name: pack.name, amount: amount(pack.amount), price: pack.price }));
    this.upgradeTo = body.upgrade_to;
    this.upgrade = upgradeOffer(body.upgrade);
  }
}

/** 403: the key, token, role or plan does not allow it; a plan's refusal names a plan that would. */
export class ForbiddenError extends CreditKitError {
  override readonly name = "ForbiddenError";
  readonly reason: string | null;
  readonly upgradeTo: string | null;
  readonly upgrade: UpgradeOffer | null;
  constructor(status: number, body: Schemas["ForbiddenProblem"]) {
    super(status, body.code, body.detail, body);
    this.reason = body.reason ?? null;
    this.upgradeTo = body.upgrade_to ?? null;
    this.upgrade = upgradeOffer(body.upgrade);
  }
}

/** 403 `budget_exceeded`: a budget on the path from the spender up to the customer does not leave
 * room for the spend. `spender` names whose budget refused (null: the customer's own); `cap` and
 * `used` are that budget's in its current `period`, which ends at `resetsAt` (null: lifetime). */
export class BudgetExceededError extends CreditKitError {
  override readonly name = "BudgetExceededError";
  readonly customer: string;
  readonly spender: string | null;
  readonly unit: string;
  readonly period: Schemas["BudgetExceededProblem"]["period"];
  readonly cap: Amount;
  readonly used: Amount;
  readonly required: Amount;
  readonly resetsAt: string | null;
  constructor(status: number, body: Schemas["BudgetExceededProblem"]) {
    super(status, body.code, body.detail, body);
    this.customer = body.customer;
    this.spender = body.spender;
    this.unit = body.unit;
    this.period = body.period;
    this.cap = amount(body.cap, "cap");
    this.used = amount(body.used, "used");
    this.required = amount(body.required, "required");
    this.resetsAt = body.resets_at;
  }
}

/** 409: a conflict, e.g. an Idempotency-Key reused with another request; `field` names what differs. */
export class ConflictError extends CreditKitError {
  override readonly name = "ConflictError";
  readonly field: string | null;
  constructor(status: number, body: Schemas["ConflictProblem"]) {
    super(status, body.code, body.detail, body);
    this.field = body.field ?? null;
  }
}

/** 400 or 422: invalid input; `field` is the first field named, `invalidParams` all of them. */
export class ValidationError extends CreditKitError {
  override readonly name = "ValidationError";
  readonly invalidParams: readonly { readonly name: string; readonly reason: string }[];
  readonly field: string | null;
  constructor(status: number, body: Schemas["ValidationProblem"]) {
    super(status, body.code, body.detail, body);
    this.invalidParams = body.invalid_params ?? [];
    this.field = this.invalidParams[0]?.name ?? null;
  }
}

/** 429 still after the retries (or with a Retry-After longer than the client waits). */
export class RateLimitedError extends CreditKitError {
  override readonly name = "RateLimitedError";
  readonly retryAfterSeconds: number | null;
  constructor(status: number, body: Schemas["RateLimitedProblem"]) {
    super(status, body.code, body.detail, body);
    this.retryAfterSeconds = body.retry_after_seconds ?? null;
  }
}

/** No answer from the service after every attempt (refused connections, timeouts). */
export class ServiceUnreachableError extends Error {
  override readonly name = "ServiceUnreachableError";
  constructor(
    readonly baseUrl: string,
    readonly attempts: number,
    readonly reason: string,
  ) {
    super(`${baseUrl} did not answer after ${attempts} attempts: ${reason}`);
  }
}

const TEXT_KEPT_MAX = 300;

function isProblem(body: unknown): body is Schemas["Problem"] {
  return typeof body === "object" && body !== null && typeof (body as { code?: unknown }).code === "string";
}

/** The error a failed response stands for; `body` is its parsed JSON (undefined when not JSON). */
export function errorFromProblem(status: number, body: unknown, text: string): CreditKitError {
  if (!isProblem(body)) {
    return new CreditKitError(status, `http_${status}`, text.slice(0, TEXT_KEPT_MAX), {});
  }
  if (body.code === "insufficient_credits") {
    return new InsufficientCreditsError(status, body as Schemas["InsufficientCreditsProblem"]);
  }
  if (body.code === "budget_exceeded") {
    return new BudgetExceededError(status, body as Schemas["BudgetExceededProblem"]);
  }
  if (body.code === "rate_limited") {
    return new RateLimitedError(status, body as Schemas["RateLimitedProblem"]);
  }
  switch (status) {
    case 403:
      return new ForbiddenError(status, body as Schemas["ForbiddenProblem"]);
    case 409:
      return new ConflictError(status, body as Schemas["ConflictProblem"]);
    case 400:
    case 422:
      return new ValidationError(status, body as Schemas["ValidationProblem"]);
    default:
      return new CreditKitError(status, body.code, body.detail, body);
  }
}
