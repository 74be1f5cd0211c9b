// Hooks over the customer's own data. Each reads once on mount (in an effect: nothing runs
// while rendering on a server) and again on `refresh()`; `error` is the API's refusal.
import { useCallback, useEffect, useRef, useState } from "react";

import { call, customerPath, type CreditKitConfig } from "./api.js";
import { useCreditKitConfig } from "./context.js";
import { ProblemError } from "./api.js";
import type { Balance, Catalog, CheckoutSession, SubscriptionAnswer, UsageBreakdownAnswer, UsageSummary } from "./types.js";

export interface Loaded<T> {
  readonly data: T | undefined;
  readonly error: Error | undefined;
  readonly loading: boolean;
  readonly refresh: () => void;
}

function useLoaded<T>(load: (config: CreditKitConfig) => Promise<T>, key: string, perCustomer = true): Loaded<T> {
  const config = useCreditKitConfig();
  // Until the provider knows the customer (GET /v1/session), a customer's read waits.
  const waiting = perCustomer && config.customer === undefined;
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({ loading: true });
  const [round, setRound] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    if (waiting) {
      return;
    }
    let current = true;
    setState((previous) => ({ ...previous, loading: true }));
    loadRef.current(config).then(
      (data) => current && setState({ data, loading: false }),
      (error: unknown) => current && setState({ error: error instanceof Error ? error : new Error(String(error)), loading: false }),
    );
    return () => {
      current = false;
    };
  }, [config, key, round, waiting]);
  const refresh = useCallback(() => setRound((value) => value + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, refresh };
}

/** The customer's balance in `unit` (default: credits). */
export function useBalance(unit = "credits"): Loaded<Balance> {
  return useLoaded((config) => call<Balance>(config, customerPath(config, `/balance?unit=${encodeURIComponent(unit)}`)), unit);
}

export interface Usage {
  readonly summary: UsageSummary;
  /** The period's spending by `by` (default: action). */
  readonly breakdown: UsageBreakdownAnswer;
}

/** The current period's usage and its spending by `by`: "action" (default), "category",
 * "member"; "spender" once the API groups by spenders. */
export function useUsage(unit = "credits", by = "action"): Loaded<Usage> {
  return useLoaded(async (config) => {
    const summary = await call<UsageSummary>(config, customerPath(config, `/usage/summary?unit=${encodeURIComponent(unit)}`));
    const range = `start=${encodeURIComponent(summary.period_start)}&end=${encodeURIComponent(summary.period_end)}`;
    const breakdown = await call<UsageBreakdownAnswer>(
      config,
      customerPath(config, `/usage/breakdown?by=${encodeURIComponent(by)}&unit=${encodeURIComponent(unit)}&${range}`),
    );
    return { summary, breakdown };
  }, `${unit} ${by}`);
}

/** The catalog: plans (features, limits, prices), packs, and the labels of features and limits. */
export function usePlans(): Loaded<Catalog> {
  return useLoaded((config) => call<Catalog>(config, "/v1/catalog"), "catalog", false);
}

/** The customer's subscription (its `plan`), null when it has none. */
export function useSubscription(): Loaded<SubscriptionAnswer | null> {
  return useLoaded(async (config) => {
    try {
      return await call<SubscriptionAnswer>(config, customerPath(config, "/subscription"));
    } catch (failure) {
      if (failure instanceof ProblemError && failure.status === 404) {
        return null;
      }
      throw failure;
    }
  }, "subscription");
}

export type CheckoutItem = { readonly pack: string } | { readonly plan: string; readonly interval?: "month" | "year" };

export interface CheckoutOptions {
  /** Where the checkout returns after paying, and after giving up (default: this page). */
  readonly successUrl?: string;
  readonly cancelUrl?: string;
  /** Opens the session's page (default: `window.location.assign`, called only on checkout). */
  readonly open?: (url: string) => void;
}

export interface Checkout {
  readonly checkout: (item: CheckoutItem) => Promise<CheckoutSession | undefined>;
  readonly pending: boolean;
  readonly error: Error | undefined;
}

/** Starts a checkout for a pack or a plan and sends the customer to its page. The token needs
 * the `buy` permission. */
export function useCheckout(options: CheckoutOptions = {}): Checkout {
  const config = useCreditKitConfig();
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<Error | undefined>(undefined);
  const checkout = useCallback(
    async (item: CheckoutItem): Promise<CheckoutSession | undefined> => {
      setPending(true);
      setError(undefined);
      try {
        const here = globalThis.location?.href ?? "";
        const session = await call<CheckoutSession>(config, customerPath(config, "/checkout"), {
          method: "POST",
          headers: { "Content-Type": "application/json", "Idempotency-Key": globalThis.crypto.randomUUID() },
          body: JSON.stringify({ ...item, success_url: options.successUrl ?? here, cancel_url: options.cancelUrl ?? here }),
        });
        (options.open ?? ((url: string) => globalThis.location.assign(url)))(session.url);
        return session;
      } catch (failure) {
        setError(failure instanceof Error ? failure : new Error(String(failure)));
        return undefined;
      } finally {
        setPending(false);
      }
    },
    [config, options.successUrl, options.cancelUrl, options.open],
  );
  return { checkout, pending, error };
}
