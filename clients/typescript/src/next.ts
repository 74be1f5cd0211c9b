// A route handler on web-standard Request and Response (a Next.js App Router `route.ts`, or any
// runtime with fetch): it mints a session link that opens the signed-in customer's usage,
// billing and credits pages. No dependency on next.
import type { Client } from "./client.js";
import { PROBLEM_CONTENT_TYPE, problemResponse } from "./problems.js";

export interface SessionLinkHandlerOptions {
  /** Who is signed in (your session): the customer, and for a workspace the member acting.
   * null: the answer is 401. */
  readonly identify: (request: Request) => Promise<{ customer: string; user?: string } | null> | { customer: string; user?: string } | null;
  /** The link's lifetime (default: the API's 900 seconds; at most 3600). */
  readonly ttl_seconds?: number;
  /** Answer 303 to the link instead of `{url, expires_at}` JSON. */
  readonly redirect?: boolean;
}

const PROBLEM = { "Content-Type": PROBLEM_CONTENT_TYPE };

/** `export const POST = sessionLinkHandler(client, { identify })` in app/billing/link/route.ts. */
export function sessionLinkHandler(client: Client, options: SessionLinkHandlerOptions): (request: Request) => Promise<Response> {
  return async (request: Request): Promise<Response> => {
    const who = await options.identify(request);
    if (who === null) {
      const body = { type: "about:blank", title: "Unauthorized", status: 401, detail: "not signed in", code: "unauthorized" };
      return new Response(JSON.stringify(body), { status: 401, headers: PROBLEM });
    }
    try {
      const link = await client.sessionLink(who.customer, {
        ...(who.user === undefined ? {} : { user: who.user }),
        ...(options.ttl_seconds === undefined ? {} : { ttl_seconds: options.ttl_seconds }),
      });
      if (options.redirect === true) {
        return new Response(null, { status: 303, headers: { Location: link.url, "Cache-Control": "no-store" } });
      }
      return Response.json(link, { headers: { "Cache-Control": "no-store" } });
    } catch (error) {
      // Every failure is problem+json: 404 for an unknown customer, 503 when creditkit is down.
      return problemResponse(error);
    }
  };
}
