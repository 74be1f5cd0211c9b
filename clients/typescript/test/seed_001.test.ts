// Seed 001: an AI image proxy sold as credit packs. A user buys the Basic Pack (40 credits,
// $9.99) through the sandbox's checkout, each generation costs 1 credit, the app warns at 5
// credits left from the charge's own answer (available_after, and alert_crossed for the
// threshold it set; no second request), and at 0 the 402 offers packs.
// Then: a session link for the user's billing pages, and a verified webhook.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { Webhook } from "standardwebhooks";

import { InsufficientCreditsError, compareAmounts } from "../src/index.js";
import { sessionLinkHandler } from "../src/next.js";
import { WebhookVerificationError, verifyWebhook } from "../src/webhooks.js";
import { baseUrl, client, unique } from "./served.js";

const LOW_CREDITS = 5;

describe("seed 001: credit packs for an AI proxy", () => {
  const credits = client();
  const user = unique("user123");

  test("a pack bought through the sandbox checkout, 1 credit a generation, a low-credit warning", async () => {
    await credits.createCustomer(user);
    const session = await credits.checkout(user, {
      pack: "basic",
      success_url: "https://proxy.test/credits?paid=1",
      cancel_url: "https://proxy.test/credits",
    });
    assert.equal(session.amount.amount_minor, 999);
    assert.equal(session.amount.currency, "USD");
    const paid = await credits.completeSandboxCheckout(session.session_id);
    assert.equal(paid.applied, true);
    assert.equal((await credits.completeSandboxCheckout(session.session_id)).applied, false);
    assert.equal(String((await credits.balance(user)).available), "40");

    // The threshold the app warns at, set once: each charge's answer says whether it crossed it.
    await credits.setAlerts(user, { credits_left: LOW_CREDITS });
    const warnings: string[] = [];
    const crossings: string[] = [];
    let generations = 0;
    for (;;) {
      let charge;
      try {
        charge = await credits.charge(user, { action: "generate_image", metadata: { prompt: "business logo" } });
      } catch (error) {
        assert.ok(error instanceof InsufficientCreditsError);
        assert.equal(error.available, "0");
        assert.equal(error.required, "1");
        assert.deepEqual(
          error.packs.map((pack) => pack.id),
          ["basic", "premium"], // the free trial is not among the offers
        );
        break;
      }
      generations += 1;
      assert.equal(String(charge.amount), "1");
      const left = charge.available_after;
      assert.ok(left !== null);
      if (compareAmounts(left, LOW_CREDITS) <= 0) {
        warnings.push(`Low credits: ${left} remaining`);
      }
      if (charge.alert_crossed === true) {
        crossings.push(String(left));
      }
      assert.ok(generations <= 40, "no more generations than credits");
    }
    assert.equal(generations, 40);
    assert.equal(warnings[0], "Low credits: 5 remaining");
    assert.equal(warnings.length, 6); // 5, 4, 3, 2, 1, 0
    assert.deepEqual(crossings, ["5"]); // the one charge that went from above 5 to 5
  });

  test("a route handler mints the user's session link", async () => {
    const handler = sessionLinkHandler(credits, {
      identify: (request) => (request.headers.get("x-user") === null ? null : { customer: request.headers.get("x-user") ?? "" }),
    });
    const answer = await handler(new Request("https://proxy.test/billing/link", { method: "POST", headers: { "x-user": user } }));
    assert.equal(answer.status, 200);
    const link = (await answer.json()) as { url: string; expires_at: string };
    assert.ok(link.url.startsWith(`${baseUrl}/app/session?token=`), link.url);
    const opened = await fetch(link.url, { redirect: "manual" });
    assert.ok(opened.status < 400, `the link opens: ${opened.status}`);

    const anonymous = await handler(new Request("https://proxy.test/billing/link", { method: "POST" }));
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers.get("content-type"), "application/problem+json");
    const unknown = await handler(new Request("https://proxy.test/billing/link", { method: "POST", headers: { "x-user": unique("nobody") } }));
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { code: string }).code, "unknown_customer");
  });

  test("a webhook verifies with the endpoint's secret, and its type narrows its data", async () => {
    const endpoint = await credits.registerWebhookEndpoint("https://proxy.test/hooks/creditkit", { event_types: ["credits.low", "credits.depleted"] });
    const [recorded] = await credits.events({ customer: user, type: "credits.depleted" });
    assert.ok(recorded !== undefined, "the depleted balance made an event");
    // The body exactly as creditkit delivers it, signed as its worker signs it.
    const body = JSON.stringify({ created_at: recorded.created_at, customer: recorded.customer, data: recorded.data, id: recorded.event_id, type: recorded.type });
    const sentAt = new Date();
    const signature = new Webhook(endpoint.secret).sign(recorded.event_id, sentAt, body);
    const signed = { "webhook-id": recorded.event_id, "webhook-timestamp": String(Math.floor(sentAt.getTime() / 1000)), "webhook-signature": signature };
    const event = verifyWebhook(body, signed, endpoint.secret);
    switch (event.type) {
      case "credits.depleted":
        assert.strictEqual(event.data.available, 0); // a whole unit's amount: an integer, as in REST
        assert.equal(event.data.unit, "credits");
        break;
      default:
        assert.fail(`unexpected ${event.type}`);
    }
    assert.throws(() => verifyWebhook(body.replace('"available":0', '"available":40'), signed, endpoint.secret), WebhookVerificationError);
  });
});
