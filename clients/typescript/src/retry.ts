// When and how long the client waits before sending a request again.
//
// Retried: a request that got no answer (a refused connection, a reset, a timeout), a 429 (the
// plan's rate limit) and a 503 (the ledger busy, a restarting server, a database switching to
// its standby). Never another status: a 4xx is an answer, and asking again gets the same one.
// Retrying a write is safe because every attempt carries the same Idempotency-Key, so the server
// applies it once. Two bounds hold together: the number of retries, and the seconds waited
// between attempts in all; whichever is reached first hands the last answer to the caller.
import { ServiceUnreachableError } from "./errors.js";

/** Retries after the first attempt, by default and at most. Six ride through a database failover
 * of several seconds (each 503 says to come back in a second). */
export const RETRIES_MAX_DEFAULT = 6;
export const RETRIES_MAX_LIMIT = 10;
/** The seconds one call may wait between its attempts, in all, by default and at most. */
export const RETRY_WAIT_SECONDS_MAX_DEFAULT = 30;
export const RETRY_WAIT_SECONDS_MAX_LIMIT = 300;
/** The first wait of the exponential backoff, doubled at each retry up to the ceiling. */
export const BACKOFF_SECONDS_FIRST = 0.25;
export const BACKOFF_SECONDS_MAX = 8;
/** The longest Retry-After the client waits for: a longer one goes back to the caller (a plan's
 * minute window, an outage) rather than holding a request handler. */
export const RETRY_AFTER_SECONDS_MAX = 30;
/** How long one attempt may take before it counts as no answer. */
export const ATTEMPT_TIMEOUT_SECONDS_DEFAULT = 30;
export const RETRIED_STATUSES: ReadonlySet<number> = new Set([429, 503]);

export type Sleep = (seconds: number) => Promise<void>;

export const realSleep: Sleep = (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

export interface RetryOptions {
  readonly retriesMax: number;
  readonly retryWaitSecondsMax: number;
  readonly sleep: Sleep;
  /** A number in [0, 1): the jitter of the backoff. */
  readonly random: () => number;
  readonly attemptTimeoutSeconds: number;
  /** The clock a Retry-After given as an HTTP date is read against, in epoch milliseconds. */
  readonly now: () => number;
}

/** The wait before retry number `retry` (0 first): exponential, capped, drawn from its upper half
 * so that clients refused together do not come back together. */
export function backoffSeconds(retry: number, random: () => number): number {
  const ceiling = Math.min(BACKOFF_SECONDS_MAX, BACKOFF_SECONDS_FIRST * 2 ** retry);
  return ceiling / 2 + random() * (ceiling / 2);
}

/** The response's Retry-After in seconds (a number of seconds or an HTTP date); null without one. */
export function retryAfterSeconds(response: Response, nowMilliseconds: number): number | null {
  const value = response.headers.get("Retry-After")?.trim();
  if (value === undefined || value === "") {
    return null;
  }
  if (/^[0-9]+$/.test(value)) {
    return Number(value);
  }
  const moment = Date.parse(value);
  return Number.isNaN(moment) ? null : Math.max(0, (moment - nowMilliseconds) / 1000);
}

/** A fetch that sends the same request again (the same headers, so the same Idempotency-Key)
 * after no answer, a 429 or a 503, waiting Retry-After or a backoff in between. */
export function retryingFetch(baseUrl: string, send: typeof fetch, options: RetryOptions): (request: Request) => Promise<Response> {
  if (!Number.isInteger(options.retriesMax) || options.retriesMax < 0 || options.retriesMax > RETRIES_MAX_LIMIT) {
    throw new RangeError(`retriesMax: must be an integer from 0 to ${RETRIES_MAX_LIMIT}`);
  }
  const waitMax = options.retryWaitSecondsMax;
  if (!(waitMax >= 0 && waitMax <= RETRY_WAIT_SECONDS_MAX_LIMIT)) {
    throw new RangeError(`retryWaitSecondsMax: must be a number from 0 to ${RETRY_WAIT_SECONDS_MAX_LIMIT}`);
  }
  return async (request: Request): Promise<Response> => {
    let waitLeft = waitMax;
    for (let retry = 0; ; retry += 1) {
      const last = retry >= options.retriesMax;
      let response: Response;
      try {
        // A fresh copy per attempt: a request's body can be read once.
        response = await send(request.clone(), { signal: AbortSignal.timeout(options.attemptTimeoutSeconds * 1000) });
      } catch (failure) {
        const wait = backoffSeconds(retry, options.random);
        if (last || wait > waitLeft) {
          throw new ServiceUnreachableError(baseUrl, retry + 1, String(failure));
        }
        waitLeft -= wait;
        await options.sleep(wait);
        continue;
      }
      if (!RETRIED_STATUSES.has(response.status) || last) {
        return response;
      }
      const told = retryAfterSeconds(response, options.now());
      if (told !== null && told > RETRY_AFTER_SECONDS_MAX) {
        return response;
      }
      const wait = told ?? backoffSeconds(retry, options.random);
      if (wait > waitLeft) {
        return response;
      }
      waitLeft -= wait;
      await response.body?.cancel();
      await options.sleep(wait);
    }
  };
}
