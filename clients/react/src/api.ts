// creditkit's HTTP API as a customer's page calls it: with a customer session token (a bearer
// header, never a secret key: the token reads that one customer and, with `buy`, starts its
// checkouts). Nothing here touches `window`: safe to import and render on a server.

/** Where creditkit answers, and as whom the page calls it. */
export interface CreditKitConfig {
  /** creditkit's address (`https://credits.example.com`); it must list the page's origin in
   * `creditkit serve --cors-origin`. */
  readonly baseUrl: string;
  /** The customer session token your server issued (`client.issueSession(customer)`). */
  readonly token: string;
  /** The customer the token is for; left out, the provider asks creditkit (`GET /v1/session`). */
  readonly customer?: string;
  /** The fetch to send with (default: the global one). */
  readonly fetch?: typeof fetch;
}

export type Amount = number | string;

export interface Money {
  readonly amount_minor: number;
  readonly currency: string;
}

/** A refusal of the API: its status and its problem+json body. */
export class ProblemError extends Error {
  override readonly name = "ProblemError";
  constructor(
    readonly status: number,
    readonly problem: Readonly<Record<string, unknown>>,
  ) {
    super(`${status}: ${typeof problem["detail"] === "string" ? problem["detail"] : "refused"}`);
  }
}

const TEXT_KEPT_MAX = 300;

/** A JSON answer of creditkit, or a `ProblemError`. */
export async function call<T>(config: CreditKitConfig, path: string, init: RequestInit = {}): Promise<T> {
  const send = config.fetch ?? globalThis.fetch;
  const response = await send(`${config.baseUrl.replace(/\/+$/, "")}${path}`, {
    ...init,
    headers: { Authorization: `Bearer ${config.token}`, Accept: "application/json", ...(init.headers ?? {}) },
  });
  const text = await response.text();
  let body: unknown = undefined;
  try {
    body = text === "" ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const problem = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : { detail: text.slice(0, TEXT_KEPT_MAX) };
    throw new ProblemError(response.status, problem);
  }
  return body as T;
}

/** `/v1/customers/{customer}…`, the customer's id escaped. The customer is known by then: the
 * hooks wait for the provider to learn it when the config leaves it out. */
export function customerPath(config: CreditKitConfig, rest: string): string {
  if (config.customer === undefined) {
    throw new Error("@creditkit/react: the customer is not known yet (GET /v1/session pending)");
  }
  return `/v1/customers/${encodeURIComponent(config.customer)}${rest}`;
}
