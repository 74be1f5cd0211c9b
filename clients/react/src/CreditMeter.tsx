// The sidebar meter of seed 003: the share of this period's allowance used, green under 50%,
// yellow to 80%, red above, "Unlimited" on an unlimited plan. A `meter` role with its value
// for assistive technology; colours only through CSS variables and the level's class name.
import { useId, type CSSProperties, type ReactNode } from "react";

import { percentOf } from "./format.js";
import { useUsage } from "./hooks.js";

export interface MeterThresholds {
  /** From this percent used the meter is yellow (default 50). */
  readonly yellowFrom: number;
  /** Above this percent used it is red (default 80). */
  readonly redAbove: number;
}

export const METER_THRESHOLDS_DEFAULT: MeterThresholds = { yellowFrom: 50, redAbove: 80 };

export type MeterLevel = "green" | "yellow" | "red" | "unlimited";

/** The level of `percent` used under `thresholds`. */
export function meterLevel(percent: number, thresholds: MeterThresholds = METER_THRESHOLDS_DEFAULT): MeterLevel {
  if (percent < thresholds.yellowFrom) {
    return "green";
  }
  return percent <= thresholds.redAbove ? "yellow" : "red";
}

export interface CreditMeterProps {
  readonly thresholds?: MeterThresholds;
  readonly label?: string;
  readonly unit?: string;
  /** The share used from 0 to 1, or "unlimited", instead of reading the customer's usage. */
  readonly used?: string | number | "unlimited";
  readonly className?: string;
}

export function CreditMeter(props: CreditMeterProps): ReactNode {
  if (props.used !== undefined) {
    return <Meter {...props} used={props.used} />;
  }
  return <ConnectedMeter {...props} />;
}

function ConnectedMeter(props: CreditMeterProps): ReactNode {
  const usage = useUsage(props.unit);
  const summary = usage.data?.summary;
  if (usage.error !== undefined) {
    return (
      <p className={classes("ck-meter", "ck-meter--error", props.className)} role="alert">
        {`Credits are not available: ${usage.error.message}`}
      </p>
    );
  }
  if (summary === undefined) {
    return <div className={classes("ck-meter", "ck-meter--loading", props.className)} aria-busy={usage.loading} />;
  }
  return <Meter {...props} used={summary.unlimited ? "unlimited" : (summary.allowance_used ?? 0)} />;
}

function Meter(props: CreditMeterProps & { readonly used: string | number }): ReactNode {
  const label = props.label ?? "Credits used this period";
  const labelId = useId();
  if (props.used === "unlimited") {
    return (
      <div className={classes("ck-meter", "ck-meter--unlimited", props.className)} data-level="unlimited">
        <span className="ck-meter__label">{label}</span>
        <span className="ck-meter__value">Unlimited</span>
      </div>
    );
  }
  const percent = Math.min(100, percentOf(props.used));
  const level = meterLevel(percent, props.thresholds);
  const fill: CSSProperties = { inlineSize: `${percent}%`, background: `var(--ck-meter-${level})` };
  return (
    <div className={classes("ck-meter", `ck-meter--${level}`, props.className)} data-level={level}>
      <span className="ck-meter__label" id={labelId}>
        {label}
      </span>
      <div
        className="ck-meter__track"
        role="meter"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent}
        aria-valuetext={`${percent}% used`}
        aria-labelledby={labelId}
      >
        <div className="ck-meter__fill" style={fill} />
      </div>
      <span className="ck-meter__value">{percent}%</span>
    </div>
  );
}

export function classes(...names: (string | undefined | false)[]): string {
  return names.filter((name): name is string => typeof name === "string" && name !== "").join(" ");
}
