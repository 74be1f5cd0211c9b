// Seed 003's usage page: this period's spending by action (how many times, how many credits,
// what share). `by` is the API's breakdown key: "action", "category", "member" or "spender"
// (who spent: agents, API keys, members; the customer's own spending is "You"); the table is
// the same.
import type { ReactNode } from "react";

import { classes } from "./CreditMeter.js";
import { formatAmount, humanise, percentOf, plural } from "./format.js";
import { useUsage } from "./hooks.js";

export interface UsageBreakdownProps {
  readonly by?: string;
  readonly unit?: string;
  readonly caption?: string;
  readonly className?: string;
}

export function UsageBreakdown(props: UsageBreakdownProps): ReactNode {
  const usage = useUsage(props.unit, props.by);
  const breakdown = usage.data?.breakdown;
  if (breakdown === undefined) {
    return usage.error === undefined ? (
      <div className={classes("ck-usage", props.className)} aria-busy={usage.loading} />
    ) : (
      <p className={classes("ck-usage", "ck-usage--error", props.className)} role="alert">
        {`Usage is not available: ${usage.error.message}`}
      </p>
    );
  }
  const by = props.by ?? "action";
  return (
    <table className={classes("ck-usage", props.className)}>
      <caption className="ck-usage__caption">{props.caption ?? `Credits this period by ${by}`}</caption>
      <thead>
        <tr>
          <th scope="col">{humanise(by)}</th>
          <th scope="col">Uses</th>
          <th scope="col">Credits</th>
          <th scope="col">Share</th>
        </tr>
      </thead>
      <tbody>
        {breakdown.groups.map((group) => (
          <tr key={group.key ?? "(none)"} data-key={group.key ?? ""} data-kind={group.kind ?? undefined}>
            <th scope="row">{group.label ?? (group.key === null ? (by === "spender" ? "You" : "Other") : humanise(group.key))}</th>
            <td>{plural(group.charges, "time", "times")}</td>
            <td>{formatAmount(group.spent)}</td>
            <td>{group.share === null ? "" : `${percentOf(group.share)}%`}</td>
          </tr>
        ))}
        {breakdown.groups.length === 0 ? (
          <tr>
            <td colSpan={4}>Nothing spent yet this period.</td>
          </tr>
        ) : null}
      </tbody>
    </table>
  );
}
