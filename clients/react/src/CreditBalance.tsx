// Seed 001's balance: the credits left, and a low-credit prompt at 5 or fewer (a `status`
// region, read out when it appears) with a way to buy more.
import type { ReactNode } from "react";

import { classes } from "./CreditMeter.js";
import { formatAmount } from "./format.js";
import { useBalance } from "./hooks.js";

export const LOW_CREDITS_DEFAULT = 5;

export interface CreditBalanceProps {
  /** At or below this many credits the prompt shows (default 5). */
  readonly lowAt?: number;
  readonly unit?: string;
  /** What the prompt offers (a button that opens your Paywall or checkout). */
  readonly onBuy?: () => void;
  readonly buyLabel?: string;
  readonly className?: string;
}

export function CreditBalance(props: CreditBalanceProps): ReactNode {
  const balance = useBalance(props.unit);
  const data = balance.data;
  const lowAt = props.lowAt ?? LOW_CREDITS_DEFAULT;
  if (balance.error !== undefined) {
    return (
      <p className={classes("ck-balance", "ck-balance--error", props.className)} role="alert">
        {`The balance is not available: ${balance.error.message}`}
      </p>
    );
  }
  if (data === undefined) {
    return <div className={classes("ck-balance", props.className)} aria-busy={balance.loading} />;
  }
  const available = String(data.available);
  const low = !data.unlimited && Number(available.split(".")[0]) <= lowAt;
  return (
    <div className={classes("ck-balance", low && "ck-balance--low", props.className)}>
      <span className="ck-balance__label">Credits</span>{" "}
      <output className="ck-balance__value" data-testid="ck-balance" aria-live="polite">
        {data.unlimited ? "Unlimited" : formatAmount(available)}
      </output>
      {low ? (
        <p className="ck-balance__prompt" role="status">
          {available === "0" ? "You are out of credits." : `Low credits: ${formatAmount(available)} remaining.`}{" "}
          {props.onBuy === undefined ? null : (
            <button type="button" className="ck-button" onClick={props.onBuy}>
              {props.buyLabel ?? "Buy credits"}
            </button>
          )}
        </p>
      ) : null}
    </div>
  );
}
