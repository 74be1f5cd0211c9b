// The answers of creditkit's API the components read (a subset of its OpenAPI document's
// schemas, spelled as the API spells them).
import type { Amount, Money } from "./api.js";

export interface Balance {
  readonly customer: string;
  readonly unit: string;
  readonly available: Amount;
  readonly held: Amount;
  readonly unlimited: boolean;
  readonly overage_available: Amount;
  readonly as_of: string;
}

export interface UsageSummary {
  readonly customer: string;
  readonly unit: string;
  readonly period_start: string;
  readonly period_end: string;
  readonly spent: Amount;
  readonly charges: number;
  readonly allowance: Amount;
  readonly allowance_spent: Amount;
  /** From "0" to "1" (a decimal string); null without an allowance and on an unlimited plan. */
  readonly allowance_used: string | number | null;
  readonly available: Amount;
  readonly unlimited: boolean;
}

export interface UsageGroup {
  readonly key: string | null;
  readonly label: string | null;
  readonly spent: Amount;
  readonly charges: number;
  readonly share: string | number | null;
}

export interface UsageBreakdownAnswer {
  readonly by: string;
  readonly groups: readonly UsageGroup[];
  readonly others_spent: Amount;
  readonly others_charges: number;
}

export interface PlanLimit {
  readonly kind: string;
  readonly value: number | "unlimited";
  readonly period: string | null;
}

export interface CatalogPlan {
  readonly id: string;
  readonly name: string;
  readonly rank: number;
  readonly default: boolean;
  readonly description: string | null;
  readonly prices: Readonly<Record<string, Money>>;
  readonly allowance: { readonly amount: Amount; readonly unit: string; readonly period?: string } | "unlimited" | null;
  readonly features: readonly string[];
  readonly limits: Readonly<Record<string, PlanLimit>>;
}

export interface CatalogPack {
  readonly id: string;
  readonly name: string;
  readonly amount: Amount;
  readonly unit: string;
  readonly price: Money;
  readonly popular: boolean;
  readonly description: string | null;
}

/** The catalog's names for feature and limit ids (a humanised id when it has none). */
export interface CatalogLabels {
  readonly features: Readonly<Record<string, string>>;
  readonly limits: Readonly<Record<string, string>>;
}

export interface Catalog {
  readonly plans: readonly CatalogPlan[];
  readonly packs: readonly CatalogPack[];
  readonly labels?: CatalogLabels;
}

export interface PackOffer {
  readonly id: string;
  readonly name?: string;
  readonly amount: Amount;
  readonly price: Money;
}

export interface UpgradeOffer {
  readonly id: string;
  readonly name: string;
  readonly price: Money | null;
  readonly interval: string | null;
}

/** A 402 (`insufficient_credits`) or 403 (`limit_reached`, `feature_not_in_plan`) problem body,
 * as creditkit answers it and as `requireCredits` passes it on. */
export interface Refusal {
  readonly status: number;
  readonly code: string;
  readonly detail?: string;
  readonly available?: Amount;
  readonly required?: Amount;
  readonly packs?: readonly PackOffer[];
  readonly upgrade_to?: string | null;
  readonly upgrade?: UpgradeOffer | null;
}

export interface CheckoutSession {
  readonly session_id: string | null;
  readonly url: string;
}

/** Whose a session token is (`GET /v1/session`). */
export interface SessionInfo {
  readonly customer: string;
  readonly user: string | null;
  readonly permissions: readonly string[];
  readonly expires_at: string;
}

/** The customer's subscription, as far as the components read it. */
export interface SubscriptionAnswer {
  readonly customer: string;
  readonly plan: string;
  readonly status: string;
}
