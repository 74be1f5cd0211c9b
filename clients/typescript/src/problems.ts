// What an integration (Express middleware, a route handler) answers when a call to creditkit
// failed: always problem+json, never the framework's HTML page. A refusal about the customer
// (402, 403, 404, 409, 422, 429) keeps its status and facts; creditkit not answering, or
// answering 5xx, is 503 for the caller to retry; anything else (a wrong API key, a bug) is 500
// without the stack, which stays in the server's log.
import { CreditKitError, ServiceUnreachableError } from "./errors.js";

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

export interface ProblemAnswer {
  readonly status: number;
  readonly body: Readonly<Record<string, unknown>>;
  readonly headers: Readonly<Record<string, string>>;
}

/** Statuses whose problem speaks of the customer's request, passed on as creditkit wrote it. */
const PASSED_ON = new Set([402, 403, 404, 409, 422, 429]);
const RETRY_AFTER_SECONDS = 5;

function problem(status: number, title: string, code: string, detail: string): Record<string, unknown> {
  return { type: "about:blank", title, status, detail, code };
}

/** The problem+json answer for `error`, thrown by a `Client` call. */
export function problemAnswer(error: unknown): ProblemAnswer {
  const headers: Record<string, string> = { "Content-Type": PROBLEM_CONTENT_TYPE };
  if (error instanceof CreditKitError && PASSED_ON.has(error.status)) {
    const body = Object.keys(error.problem).length > 0 ? error.problem : problem(error.status, "Refused", error.code, error.detail);
    return { status: error.status, body, headers };
  }
  if (error instanceof ServiceUnreachableError || (error instanceof CreditKitError && error.status >= 500)) {
    return {
      status: 503,
      body: problem(503, "Service Unavailable", "credits_unavailable", "the credits service did not answer; try again shortly"),
      headers: { ...headers, "Retry-After": String(RETRY_AFTER_SECONDS) },
    };
  }
  return { status: 500, body: problem(500, "Internal Server Error", "internal_error", "the credits check failed"), headers };
}

/** `problemAnswer(error)` as a web-standard Response (Next.js route handlers, any fetch runtime). */
export function problemResponse(error: unknown): Response {
  const answer = problemAnswer(error);
  return new Response(JSON.stringify(answer.body), { status: answer.status, headers: answer.headers });
}
