// Express middleware that makes a route cost credits: it reserves the action's price before the
// handler runs (402 problem+json, with the packs and the plan that would cover it, when the
// balance is short), commits it when the response succeeds and releases it when it fails.
// Every failure is answered as problem+json (see problems.ts): 404 for a customer creditkit does
// not know, 503 when creditkit does not answer. Express is a peer dependency: only its types are
// imported here.
import type { NextFunction, Request, RequestHandler, Response } from "express";

import type { Charge, Client, Hold } from "./client.js";
import { PROBLEM_CONTENT_TYPE, problemAnswer } from "./problems.js";

export interface RequireCreditsOptions {
  /** The customer the request spends for (your session's user or workspace); undefined: 401. */
  readonly customer: (request: Request) => string | undefined;
  /** The spender spending for the customer (an API key, an agent, a member); undefined: the
   * customer itself. The hold must fit every budget on its path: 403 `budget_exceeded` if not. */
  readonly spender?: (request: Request) => string | undefined;
  /** Credits to reserve (default: the catalog's price of the action). */
  readonly amount?: number | string;
  /** Told how each request's hold ended: the charge, nothing (released) or the failure. */
  readonly onSettled?: (outcome: Settled) => void;
}

export type Settled =
  | { readonly outcome: "committed"; readonly hold: Hold; readonly charge: Charge }
  | { readonly outcome: "released"; readonly hold: Hold }
  | { readonly outcome: "failed"; readonly hold: Hold; readonly error: unknown };

/** `app.post("/api/ask-anything", requireCredits(client, "ask_anything", { customer }), handler)`;
 * the handler finds the hold in `res.locals.creditHold`. */
export function requireCredits(client: Client, action: string, options: RequireCreditsOptions): RequestHandler {
  return (request: Request, response: Response, next: NextFunction): void => {
    void (async () => {
      const customer = options.customer(request);
      if (customer === undefined) {
        response.status(401).type(PROBLEM_CONTENT_TYPE).json({ type: "about:blank", title: "Unauthorized", status: 401, detail: "no customer for this request", code: "unauthorized" });
        return;
      }
      let hold: Hold;
      try {
        const amount = options.amount ?? (await client.actionCost(action))?.cost;
        if (amount === undefined) {
          throw new TypeError(`requireCredits: the catalog prices no action ${JSON.stringify(action)}; pass amount`);
        }
        const spender = options.spender?.(request);
        hold = await client.reserve(customer, amount, { action, ...(spender === undefined ? {} : { spender }) });
      } catch (error) {
        const answer = problemAnswer(error);
        if (answer.status === 500) {
          // A bug or a misconfiguration (the API key, the action's name): the server's log says which.
          console.error("requireCredits:", error);
        }
        response.status(answer.status).set(answer.headers).send(JSON.stringify(answer.body));
        return;
      }
      response.locals["creditHold"] = hold;
      response.once("finish", () => {
        void settle(client, hold, response.statusCode < 400).then((settled) => options.onSettled?.(settled));
      });
      next();
    })().catch(next);
  };
}

async function settle(client: Client, hold: Hold, succeeded: boolean): Promise<Settled> {
  try {
    if (succeeded) {
      return { outcome: "committed", hold, charge: await client.commit(hold.id, hold.amount) };
    }
    await client.release(hold.id);
    return { outcome: "released", hold };
  } catch (error) {
    // The hold times out on its own (its timeout_seconds), giving its credits back.
    return { outcome: "failed", hold, error };
  }
}
