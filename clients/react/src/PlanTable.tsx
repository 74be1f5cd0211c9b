// Seed 004's comparison: the catalog's plans side by side, a row per feature (included or not)
// and per limit (its value, "Unlimited"), each named by the catalog's label (a humanised id
// when it has none), with the price and an upgrade through checkout for each better plan.
import type { ReactNode } from "react";

import { classes } from "./CreditMeter.js";
import { formatAmount, formatMoney, humanise } from "./format.js";
import { useCheckout, usePlans, useSubscription, type CheckoutOptions } from "./hooks.js";
import type { Catalog, CatalogPlan } from "./types.js";

export interface PlanTableProps {
  /** The customer's plan, to override the one the table reads (`useSubscription`): plans
   * ranked above it get an Upgrade button. */
  readonly currentPlan?: string;
  readonly interval?: "month" | "year";
  readonly checkout?: CheckoutOptions;
  readonly caption?: string;
  readonly className?: string;
}

function label(catalog: Catalog, kind: "features" | "limits", id: string): string {
  return catalog.labels?.[kind][id] ?? humanise(id);
}

function allowanceText(plan: CatalogPlan): string {
  if (plan.allowance === null) {
    return "None";
  }
  return plan.allowance === "unlimited" ? "Unlimited" : formatAmount(plan.allowance.amount);
}

export function PlanTable(props: PlanTableProps): ReactNode {
  const plans = usePlans();
  const subscription = useSubscription();
  const { checkout, pending, error } = useCheckout(props.checkout);
  const catalog = plans.data;
  const currentPlan = props.currentPlan ?? subscription.data?.plan;
  if (catalog === undefined) {
    return <div className={classes("ck-plans", props.className)} aria-busy={plans.loading} />;
  }
  const interval = props.interval ?? "month";
  const ordered = [...catalog.plans].sort((a, b) => a.rank - b.rank);
  const currentRank = ordered.find((plan) => plan.id === currentPlan)?.rank ?? Number.NEGATIVE_INFINITY;
  const features = [...new Set(ordered.flatMap((plan) => plan.features))];
  const limits = [...new Set(ordered.flatMap((plan) => Object.keys(plan.limits)))];
  return (
    <div className={classes("ck-plans", props.className)}>
      <table className="ck-plans__table">
        <caption className="ck-plans__caption">{props.caption ?? "Compare plans"}</caption>
        <thead>
          <tr>
            <td />
            {ordered.map((plan) => (
              <th key={plan.id} scope="col" data-plan={plan.id} aria-current={plan.id === currentPlan ? "true" : undefined}>
                <span className="ck-plans__name">{plan.name}</span>
                <span className="ck-plans__price">
                  {plan.prices[interval] === undefined ? "" : `${formatMoney(plan.prices[interval])} a ${interval}`}
                </span>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          <tr>
            <th scope="row">Credits a period</th>
            {ordered.map((plan) => (
              <td key={plan.id}>{allowanceText(plan)}</td>
            ))}
          </tr>
          {features.map((feature) => (
            <tr key={`feature-${feature}`} data-feature={feature}>
              <th scope="row">{label(catalog, "features", feature)}</th>
              {ordered.map((plan) => {
                const included = plan.features.includes(feature);
                return (
                  <td key={plan.id} className={included ? "ck-plans__yes" : "ck-plans__no"}>
                    <span aria-hidden="true">{included ? "✓" : "—"}</span>
                    <span className="ck-visually-hidden">{included ? "Included" : "Not included"}</span>
                  </td>
                );
              })}
            </tr>
          ))}
          {limits.map((limit) => (
            <tr key={`limit-${limit}`} data-limit={limit}>
              <th scope="row">{label(catalog, "limits", limit)}</th>
              {ordered.map((plan) => {
                const value = plan.limits[limit]?.value;
                return <td key={plan.id}>{value === undefined ? "—" : value === "unlimited" ? "Unlimited" : value.toLocaleString()}</td>;
              })}
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr>
            <td />
            {ordered.map((plan) => (
              <td key={plan.id}>
                {plan.id === currentPlan ? (
                  <span className="ck-plans__current">Current plan</span>
                ) : plan.rank > currentRank && plan.prices[interval] !== undefined ? (
                  <button type="button" className="ck-button ck-button--primary" disabled={pending} onClick={() => void checkout({ plan: plan.id, interval })}>
                    {`Upgrade to ${plan.name}`}
                  </button>
                ) : null}
              </td>
            ))}
          </tr>
        </tfoot>
      </table>
      {error === undefined ? null : (
        <p className="ck-plans__error" role="alert">
          {`The checkout could not start: ${error.message}`}
        </p>
      )}
    </div>
  );
}
