// A lease: a hold a worker (a GPU job, an edge function) spends against locally. `spend(n)` counts
// in memory and, once `batch` is counted, reports it with a partial commit (`final: false`). When
// the hold has too little left for a spend, the lease extends it first (by `extendBy`, the lease's
// amount unless said); when the customer cannot cover that, the spend throws and nothing is
// counted. So a worker never counts past what its hold holds: what it could spend without the
// ledger knowing is bounded by the lease, and that is set aside, never overdrawn. `close()`
// reports what is counted with a final commit; the rest goes back.
//
// Every write is keyed from the lease's base key (`<key>:reserve`, `<key>:commit:<n>`,
// `<key>:extend:<n>`, `<key>:final`): a rerun with the same key and the same spends reserves
// nothing new and reports nothing twice.
import { type Amount, type AmountLike, addAmounts, amount, compareAmounts, subtractAmounts } from "./amount.js";
import type { Charge, Client, Hold } from "./client.js";

/** Reports and extends one lease makes at most: more means a batch too small for the work. */
export const LEASE_WRITES_MAX = 100_000;

export interface LeaseOptions {
  readonly idempotencyKey: string;
  readonly unit?: string;
  readonly timeout_seconds?: number;
  /** What is counted before it is reported (default: a tenth of the amount, at least 1). */
  readonly batch?: AmountLike;
  /** How much an extend adds when the hold runs short (default: the lease's amount). */
  readonly extendBy?: AmountLike;
  readonly action?: string;
  /** A hold to draw from instead of the customer's grants. */
  readonly parent?: number;
  /** Who spends (an API key, an agent, a member): the hold counts against the budgets on its
   * path, and its reports are its spending. */
  readonly spender?: string;
}

export class Lease {
  /** Counted and not reported yet. */
  counted: Amount = "0";
  /** Reported in all. */
  reported: Amount = "0";
  closed = false;
  private writes = 0;

  private constructor(
    private readonly client: Client,
    public hold: Hold,
    private readonly key: string,
    private readonly batch: Amount,
    private readonly extendBy: Amount,
    private readonly timeoutSeconds: number | undefined,
  ) {}

  /** Reserves `size` for `customer` and returns the lease. */
  static async open(client: Client, customer: string, size: AmountLike, options: LeaseOptions): Promise<Lease> {
    const hold = await client.reserve(customer, size, {
      idempotencyKey: `${options.idempotencyKey}:reserve`,
      ...(options.unit === undefined ? {} : { unit: options.unit }),
      ...(options.timeout_seconds === undefined ? {} : { timeout_seconds: options.timeout_seconds }),
      ...(options.action === undefined ? {} : { action: options.action }),
      ...(options.parent === undefined ? {} : { parent: options.parent }),
      ...(options.spender === undefined ? {} : { spender: options.spender }),
    });
    const whole = BigInt(amount(hold.amount).split(".")[0] ?? "0");
    const batch = options.batch === undefined ? (whole / 10n > 1n ? whole / 10n : 1n) : options.batch;
    for (const [name, value] of [["batch", batch], ["extendBy", options.extendBy ?? hold.amount]] as const) {
      if (compareAmounts(value, 0) <= 0) {
        throw new RangeError(`${name}: must be more than 0`);
      }
    }
    return new Lease(client, hold, options.idempotencyKey, amount(batch), amount(options.extendBy ?? hold.amount), options.timeout_seconds);
  }

  /** What may still be counted without extending the hold. */
  get remaining(): Amount {
    return subtractAmounts(this.hold.remaining ?? 0, this.counted);
  }

  /** Counts `spent`; reports once `batch` is counted; extends the hold first when it is short. */
  async spend(spent: AmountLike): Promise<void> {
    if (this.closed) {
      throw new Error(`lease ${this.key} is closed`);
    }
    if (compareAmounts(spent, 0) <= 0) {
      throw new RangeError("amount: must be more than 0");
    }
    const short = subtractAmounts(spent, this.remaining);
    if (compareAmounts(short, 0) > 0) {
      const by = compareAmounts(short, this.extendBy) > 0 ? short : this.extendBy;
      this.hold = await this.client.extend(this.hold.id, { amount: by, idempotencyKey: `${this.key}:extend:${this.nextWrite()}` });
    }
    this.counted = addAmounts(this.counted, spent);
    if (compareAmounts(this.counted, this.batch) >= 0) {
      await this.report();
    }
  }

  /** Reports what is counted with a partial commit (nothing when nothing is counted). */
  async report(): Promise<Charge | undefined> {
    if (compareAmounts(this.counted, 0) === 0) {
      return undefined;
    }
    const counted = this.counted;
    const charge = await this.client.commit(this.hold.id, counted, { final: false, idempotencyKey: `${this.key}:commit:${this.nextWrite()}` });
    this.reported = addAmounts(this.reported, counted);
    this.counted = "0";
    this.hold = { ...this.hold, remaining: subtractAmounts(this.hold.remaining ?? 0, counted) };
    return charge;
  }

  /** Pushes the hold's timeout to the lease's timeout from now (within the hold's lifetime). */
  async keepAlive(): Promise<Hold> {
    this.hold = await this.client.extend(this.hold.id, {
      ...(this.timeoutSeconds === undefined ? { timeout_seconds: 300 } : { timeout_seconds: this.timeoutSeconds }),
      idempotencyKey: `${this.key}:extend:${this.nextWrite()}`,
    });
    return this.hold;
  }

  /** Reports what is counted with a final commit: the hold closes and the rest goes back. */
  async close(): Promise<Charge> {
    const charge = await this.client.commit(this.hold.id, this.counted, { final: true, idempotencyKey: `${this.key}:final` });
    if (!this.closed) {
      this.reported = addAmounts(this.reported, this.counted);
      this.counted = "0";
      this.closed = true;
    }
    return charge;
  }

  private nextWrite(): number {
    this.writes += 1;
    if (this.writes > LEASE_WRITES_MAX) {
      throw new RangeError(`batch: a lease makes at most ${LEASE_WRITES_MAX} reports and extends`);
    }
    return this.writes;
  }
}

/** Runs `work` on a lease and closes it (reporting what was counted) whether the work throws or not. */
export async function withLease<T>(
  client: Client,
  customer: string,
  size: AmountLike,
  options: LeaseOptions,
  work: (lease: Lease) => Promise<T>,
): Promise<{ readonly result: T; readonly charge: Charge }> {
  const lease = await Lease.open(client, customer, size, options);
  try {
    const result = await work(lease);
    return { result, charge: await lease.close() };
  } catch (failure) {
    // What was counted was spent, whether or not the work then failed.
    await lease.close();
    throw failure;
  }
}
