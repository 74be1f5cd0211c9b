// What a 402 or a 403 offers, as a customer can act on it: the packs that cover the shortfall
// (name and price) and the plan to upgrade to (name and price), each a button to its checkout.
// Give it the problem body your server passed on (`requireCredits` answers it as creditkit
// wrote it).
import { useId, type ReactNode } from "react";

import { classes } from "./CreditMeter.js";
import { formatAmount, formatMoney } from "./format.js";
import { useCheckout, type CheckoutOptions } from "./hooks.js";
import type { Refusal } from "./types.js";

export interface PaywallProps {
  readonly refusal: Refusal;
  readonly checkout?: CheckoutOptions;
  readonly title?: string;
  readonly className?: string;
}

export function Paywall(props: PaywallProps): ReactNode {
  const { refusal } = props;
  const headingId = useId();
  const { checkout, pending, error } = useCheckout(props.checkout);
  const short = refusal.status === 402;
  const title = props.title ?? (short ? "You are out of credits" : "Not included in your plan");
  const packs = refusal.packs ?? [];
  const upgrade = refusal.upgrade ?? (refusal.upgrade_to ? { id: refusal.upgrade_to, name: refusal.upgrade_to, price: null, interval: null } : null);
  return (
    <section className={classes("ck-paywall", props.className)} role="region" aria-labelledby={headingId}>
      <h2 className="ck-paywall__title" id={headingId}>
        {title}
      </h2>
      {short && refusal.required !== undefined && refusal.available !== undefined ? (
        <p className="ck-paywall__detail">
          {`This needs ${formatAmount(refusal.required)} credits; you have ${formatAmount(refusal.available)}.`}
        </p>
      ) : refusal.detail ? (
        <p className="ck-paywall__detail">{refusal.detail}</p>
      ) : null}
      {packs.length > 0 ? (
        <ul className="ck-paywall__packs" aria-label="Credit packs">
          {packs.map((pack) => (
            <li key={pack.id} className="ck-paywall__pack">
              <button type="button" className="ck-button" disabled={pending} onClick={() => void checkout({ pack: pack.id })}>
                {`Buy ${pack.name ?? `${formatAmount(pack.amount)} credits`} for ${formatMoney(pack.price)}`}
              </button>
            </li>
          ))}
        </ul>
      ) : null}
      {upgrade === null ? null : (
        <p className="ck-paywall__upgrade">
          <button type="button" className="ck-button ck-button--primary" disabled={pending} onClick={() => void checkout({ plan: upgrade.id })}>
            {`Upgrade to ${upgrade.name}${upgrade.price === null ? "" : ` for ${formatMoney(upgrade.price)}${upgrade.interval === null ? "" : ` a ${upgrade.interval}`}`}`}
          </button>
        </p>
      )}
      {error === undefined ? null : (
        <p className="ck-paywall__error" role="alert">
          {`The checkout could not start: ${error.message}`}
        </p>
      )}
    </section>
  );
}
