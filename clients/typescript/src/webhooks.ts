// creditkit's webhooks are Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature:
// HMAC-SHA256 of "id.timestamp.body" with the endpoint's whsec_ secret); verified here with the
// npm standardwebhooks package, which also refuses a timestamp more than 5 minutes off.
import { Webhook } from "standardwebhooks";

import type { components } from "./openapi.js";

export type EventType = components["schemas"]["EventType"];
/** An event of the log, `GET /v1/events`: the union by `type` the OpenAPI document declares. */
export type LoggedEvent = components["schemas"]["Event"];

/** Each event type's `data` (docs/notify.md), as the OpenAPI document declares it
 * (`CreditsLowData`, …). Amounts are spelled as in every answer: an integer in a unit without
 * decimal places, an exact decimal string in one with them. */
export type EventData = { readonly [T in EventType]: Readonly<Extract<LoggedEvent, { type: T }>["data"]> };

/** A delivered event: `switch (event.type)` narrows `event.data`. Dedupe on `id`. */
export type WebhookEvent = {
  [T in EventType]: { readonly id: string; readonly type: T; readonly created_at: string; readonly customer: string | null; readonly data: EventData[T] };
}[EventType];

const EVENT_TYPES: ReadonlySet<string> = new Set<EventType>([
  "credits.low",
  "credits.depleted",
  "grant.expiring",
  "hold.expired",
  "subscription.renewed",
  "subscription.changed",
  "subscription.canceled",
  "payment.succeeded",
  "payment.failed",
  "alert.triggered",
]);

export class WebhookVerificationError extends Error {
  override readonly name = "WebhookVerificationError";
}

/** The event a delivery carries, once its signature and timestamp check out; else a
 * `WebhookVerificationError`. `body` is the raw request body, exactly as received. */
export function verifyWebhook(body: string, headers: Headers | Record<string, string>, secret: string): WebhookEvent {
  const plain = headers instanceof Headers ? Object.fromEntries(headers.entries()) : lowerCased(headers);
  let payload: unknown;
  try {
    payload = new Webhook(secret).verify(body, plain);
  } catch (error) {
    throw new WebhookVerificationError(`webhook refused: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (typeof payload !== "object" || payload === null) {
    throw new WebhookVerificationError("webhook refused: the body is not a JSON object");
  }
  const event = payload as Record<string, unknown>;
  if (typeof event["id"] !== "string" || typeof event["type"] !== "string" || !EVENT_TYPES.has(event["type"]) || typeof event["data"] !== "object") {
    throw new WebhookVerificationError(`webhook refused: not a creditkit event (type ${JSON.stringify(event["type"])})`);
  }
  return payload as WebhookEvent;
}

function lowerCased(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}
