// A hold around work of unknown cost: reserve, do the work, then commit what it used or, when
// the work throws, release the hold and rethrow. The three writes share one key's family, so a
// retried `metered` with the same idempotencyKey reserves, commits or releases once.
import { type AmountLike } from "./amount.js";
import { CreditKitError } from "./errors.js";
import type { Charge, Client, Hold, Metadata } from "./client.js";

export interface Meter {
  readonly hold: Hold;
  /** What the work used; commit takes it (at most the hold). Default: the estimate. */
  use(amount: AmountLike): void;
}

export interface MeteredOptions {
  /** What to reserve (default: the catalog's price of the action). */
  readonly estimate?: AmountLike;
  readonly unit?: string;
  readonly timeout_seconds?: number;
  readonly metadata?: Metadata;
  readonly idempotencyKey?: string;
}

export interface Metered<T> {
  readonly result: T;
  readonly charge: Charge;
}

export async function metered<T>(
  client: Client,
  customer: string,
  action: string,
  work: (meter: Meter) => Promise<T>,
  options: MeteredOptions = {},
): Promise<Metered<T>> {
  const estimate = options.estimate ?? (await client.actionCost(action))?.cost;
  if (estimate === undefined) {
    throw new CreditKitError(422, "unknown_action", `the catalog prices no action ${JSON.stringify(action)}: pass an estimate`, {});
  }
  const baseKey = options.idempotencyKey ?? globalThis.crypto.randomUUID();
  const hold = await client.reserve(customer, estimate, {
    action,
    ...(options.unit === undefined ? {} : { unit: options.unit }),
    ...(options.timeout_seconds === undefined ? {} : { timeout_seconds: options.timeout_seconds }),
    metadata: options.metadata ?? {},
    idempotencyKey: `${baseKey}:reserve`,
  });
  let used: AmountLike = hold.amount;
  const meter: Meter = {
    hold,
    use(amount: AmountLike) {
      used = amount;
    },
  };
  let result: T;
  try {
    result = await work(meter);
  } catch (failure) {
    await client.release(hold.id, { idempotencyKey: `${baseKey}:release` });
    throw failure;
  }
  const charge = await client.commit(hold.id, used, { idempotencyKey: `${baseKey}:commit`, metadata: options.metadata ?? {} });
  return { result, charge };
}
