// A hold around a model call priced by tokens, grown while it streams (Python's `metered_tokens`).
// The request's usage (its input tokens and its max_tokens, or an estimate) is priced by the
// catalog and reserved; while the stream runs, once the output tokens seen reach what the hold is
// priced for, the hold is extended by the price of `extendTokens` more and its timeout pushed to
// `timeout_seconds` from then (at most TOKEN_METER_EXTENDS_MAX times; an extend the customer cannot cover throws from `seen`: stop the
// stream there). Then the actual usage is committed, priced and recorded on the charge; what the
// hold kept over goes back. Above what is held the hold is extended by the difference first;
// when the customer cannot cover that: with `allow_debt` the rest is owed (within the debt limit),
// without it the commit takes what the hold holds and `uncovered` says what went unbilled.
// When `work` throws: a call that produced nothing is released; one that streamed tokens is
// committed for them (the provider bills them), and the error is rethrown.
//
// The request is in creditkit's own usage shape (`model`, `provider`, `input_tokens`,
// `output_tokens`); the final usage in any shape the API takes. Writes are keyed `<key>:reserve`,
// `<key>:extend:<n>`, `<key>:commit` or `<key>:release`: a rerun with the same key and the same
// tokens reserves, extends and commits nothing twice.
import { type Amount, amount, compareAmounts, subtractAmounts } from "./amount.js";
import { CreditKitError } from "./errors.js";
import type { Charge, Client, Hold, Metadata, Quote, TokenUsage } from "./client.js";

/** How long the hold lives (and, after each growth, lives on) when the caller does not say. */
const HOLD_TIMEOUT_SECONDS_DEFAULT = 300;

/** Extends one metered call makes at most while it streams. */
export const TOKEN_METER_EXTENDS_MAX = 100;

/** A model call's usage: the request's (`output_tokens` its max_tokens) or the provider's final
 * usage object, OpenAI- or Anthropic-style, as it comes. */
export type Usage = TokenUsage;

export interface TokenMeter {
  readonly hold: Hold;
  /** Output tokens the stream reported so far. */
  readonly outputTokensSeen: number;
  /** Counts `outputTokens` more streamed (default 1); extends the hold when it reaches what the
   * hold is priced for. Throws the ledger's refusal when the customer cannot cover more. */
  seen(outputTokens?: number): Promise<void>;
  /** The provider's final usage, to commit (without it: the request's input tokens and the
   * output tokens seen). */
  usage(usage: Usage): void;
}

export interface MeteredTokensOptions {
  readonly idempotencyKey?: string;
  /** Output tokens an extend adds (default: the request's output_tokens). */
  readonly extendTokens?: number;
  /** Let what the customer cannot cover of the actual usage be owed (within its debt limit). */
  readonly allow_debt?: boolean;
  readonly timeout_seconds?: number;
  readonly metadata?: Metadata;
  readonly spender?: string;
}

export interface MeteredTokens<T> {
  readonly result: T;
  readonly charge: Charge;
  /** What the commit could not take (0 unless the customer could not cover it, without debt). */
  readonly uncovered: Amount;
  readonly extends: number;
}

function tokens(value: unknown, field: string, least: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < least) {
    throw new RangeError(`${field}: must be a whole number of tokens, ${least} or more`);
  }
  return value;
}

function isRefusal(error: unknown): boolean {
  return error instanceof CreditKitError && ["insufficient_credits", "budget_exceeded", "hold_parent_exceeded"].includes(error.code);
}

export async function meteredTokens<T>(
  client: Client,
  customer: string,
  action: string,
  request: Usage,
  work: (meter: TokenMeter) => Promise<T>,
  options: MeteredTokensOptions = {},
): Promise<MeteredTokens<T>> {
  if (typeof request["model"] !== "string") {
    throw new RangeError("usage: the request's usage must name its model");
  }
  tokens(request["input_tokens"] ?? 0, "usage.input_tokens", 0);
  const requested = tokens(request["output_tokens"], "usage.output_tokens", 1);
  const step = tokens(options.extendTokens ?? requested, "extendTokens", 1);
  const baseKey = options.idempotencyKey ?? globalThis.crypto.randomUUID();
  const metadata = options.metadata ?? {};
  const quoted = await client.quote(action, request);
  let hold = await client.reserve(customer, quoted.amount, {
    action,
    unit: quoted.unit,
    metadata,
    ...(options.timeout_seconds === undefined ? {} : { timeout_seconds: options.timeout_seconds }),
    ...(options.spender === undefined ? {} : { spender: options.spender }),
    idempotencyKey: `${baseKey}:reserve`,
  });
  let held = requested;
  let seen = 0;
  let extends_ = 0;
  let final: Usage | undefined;
  const meter: TokenMeter = {
    get hold() {
      return hold;
    },
    get outputTokensSeen() {
      return seen;
    },
    async seen(outputTokens = 1) {
      seen += tokens(outputTokens, "outputTokens", 0);
      if (seen < held) {
        return;
      }
      if (extends_ >= TOKEN_METER_EXTENDS_MAX) {
        throw new RangeError(`extendTokens: a metered call extends its hold at most ${TOKEN_METER_EXTENDS_MAX} times: take a larger extendTokens`);
      }
      const next = held + (Math.floor((seen - held) / step) + 1) * step;
      const price = (await client.quote(action, { ...request, output_tokens: next })).amount;
      extends_ += 1;
      // Each growth also pushes the timeout: a long answer outlives the first one.
      hold = await client.extend(hold.id, {
        ...(compareAmounts(price, hold.amount) > 0 ? { amount: subtractAmounts(price, hold.amount) } : {}),
        timeout_seconds: options.timeout_seconds ?? HOLD_TIMEOUT_SECONDS_DEFAULT,
        idempotencyKey: `${baseKey}:extend:${extends_}`,
      });
      held = next;
    },
    usage(usage: Usage) {
      final = usage;
    },
  };
  // The provider's usage names no model (OpenAI's and Anthropic's do not): the request's.
  const named: Usage = Object.fromEntries(["model", "provider"].filter((name) => name in request).map((name) => [name, request[name]]));
  const settle = async (): Promise<{ charge: Charge; uncovered: Amount }> => {
    const actual: Usage = final === undefined ? { ...request, output_tokens: seen } : { ...named, ...final };
    const quote = await client.quote(action, actual);
    if (compareAmounts(quote.amount, hold.amount) > 0) {
      try {
        hold = await client.extend(hold.id, { amount: subtractAmounts(quote.amount, hold.amount), idempotencyKey: `${baseKey}:extend:actual` });
      } catch (error) {
        if (!isRefusal(error)) {
          throw error;
        }
        return commitAbove(actual, quote);
      }
    }
    return { charge: await client.commit(hold.id, undefined, { usage: actual, metadata, idempotencyKey: `${baseKey}:commit` }), uncovered: "0" };
  };
  // The usage costs more than the hold could be extended to: owed with allow_debt (within the
  // debt limit); else, or past the limit, the hold is committed whole, the usage's price and
  // what went unbilled recorded in its metadata.
  const commitAbove = async (actual: Usage, quote: Quote): Promise<{ charge: Charge; uncovered: Amount }> => {
    if (options.allow_debt === true) {
      try {
        return { charge: await client.commit(hold.id, undefined, { usage: actual, allow_debt: true, metadata, idempotencyKey: `${baseKey}:commit` }), uncovered: "0" };
      } catch (error) {
        if (!isRefusal(error)) {
          throw error;
        }
      }
    }
    const uncovered = subtractAmounts(quote.amount, hold.amount);
    const recorded = { ...metadata, token_price: quote.price, uncovered };
    return { charge: await client.commit(hold.id, amount(hold.amount), { metadata: recorded, idempotencyKey: `${baseKey}:commit:held` }), uncovered };
  };
  let result: T;
  try {
    result = await work(meter);
  } catch (failure) {
    if (final === undefined && seen === 0) {
      await client.release(hold.id, { idempotencyKey: `${baseKey}:release` });
    } else {
      await settle();
    }
    throw failure;
  }
  const { charge, uncovered } = await settle();
  return { result, charge, uncovered, extends: extends_ };
}
