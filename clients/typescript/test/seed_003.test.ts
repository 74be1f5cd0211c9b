// Seed 003: a B2B sales tool. The tenant is a workspace on a monthly plan with an AI credit
// allowance; seven AI actions priced in credits; a 402 with its facts when the allowance runs
// out; an idempotent retry; reserve then commit for work of unknown cost; the Express
// middleware the seed wrote by hand (requireCredits).
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { describe, test } from "node:test";

import express from "express";

import { ConflictError, InsufficientCreditsError, compareAmounts } from "../src/index.js";
import { type Settled, requireCredits } from "../src/express.js";
import { client, unique } from "./served.js";

const ACTION_COSTS = {
  ask_anything: 2,
  email_analysis: 3,
  email_composer: 4,
  daily_briefing: 5,
  account_dossier: 8,
  generate_playbook: 10,
  icp_analysis: 15,
};

describe("seed 003: a tenant workspace on a plan with AI action costs", () => {
  const credits = client();

  test("the workspace subscribes, and each of the seven actions costs its credits", async () => {
    const tenant = unique("acme");
    await credits.createCustomer(tenant, { kind: "workspace" });
    // A priced plan paid with money goes through checkout, unless the app bills it itself.
    await assert.rejects(credits.subscribe(tenant, "growth"), (error: unknown) => {
      assert.ok(error instanceof ConflictError);
      assert.equal(error.code, "checkout_required");
      return true;
    });
    const subscription = await credits.subscribe(tenant, "growth", { collected_elsewhere: true });
    assert.equal(subscription.plan, "growth");
    assert.equal(String((await credits.balance(tenant)).available), "500");

    const costs = await credits.actionCosts();
    const seven = Object.fromEntries(costs.filter((cost) => cost.action in ACTION_COSTS).map((cost) => [cost.action, Number(cost.cost)]));
    assert.deepEqual(seven, ACTION_COSTS);

    let left = 500;
    for (const [action, cost] of Object.entries(ACTION_COSTS)) {
      const charge = await credits.charge(tenant, { action, metadata: { account: "globex" } });
      left -= cost;
      assert.equal(String(charge.amount), String(cost));
      assert.equal(String(charge.available_after), String(left));
    }
    assert.equal(left, 453);
    assert.equal(String((await credits.balance(tenant)).available), "453");
  });

  test("a charge the allowance does not cover is a 402 with what would cover it", async () => {
    const tenant = unique("initech");
    await credits.createCustomer(tenant, { kind: "workspace" });
    await credits.subscribe(tenant, "starter");
    await credits.charge(tenant, { action: "icp_analysis" });
    const refused = await credits.charge(tenant, { action: "icp_analysis" }).then(
      () => assert.fail("the second ICP analysis should not fit in 10 credits"),
      (error: unknown) => error,
    );
    assert.ok(refused instanceof InsufficientCreditsError);
    assert.equal(refused.status, 402);
    assert.equal(refused.customer, tenant);
    assert.equal(refused.available, "10");
    assert.equal(refused.required, "15");
    assert.equal(refused.upgradeTo, "growth");
    // The plan's name and price come with the refusal: a paywall needs no second call.
    assert.deepEqual(refused.upgrade, { id: "growth", name: "Growth", price: { amount_minor: 240000, currency: "USD" }, interval: "month" });
    assert.ok(refused.packs.length > 0);
    for (const pack of refused.packs) {
      assert.ok(compareAmounts(pack.amount, 5) >= 0, `${pack.id} covers the 5 missing`);
      assert.equal(pack.price.currency, "USD");
      assert.ok(pack.name.length > 0, `${pack.id} has its catalog name`);
    }
    assert.equal(String((await credits.balance(tenant)).available), "10");
  });

  test("a retry with the same key applies once; the key with another request is a conflict", async () => {
    const tenant = unique("hooli");
    await credits.createCustomer(tenant, { kind: "workspace" });
    await credits.subscribe(tenant, "growth", { collected_elsewhere: true });
    const idempotencyKey = unique("briefing");
    const first = await credits.charge(tenant, { action: "daily_briefing", idempotencyKey });
    const again = await credits.charge(tenant, { action: "daily_briefing", idempotencyKey });
    assert.equal(again.id, first.id);
    assert.equal(String(first.available_after), "495");
    // A replay says what is left now, and that it is a replay.
    assert.equal(String(again.available_after), "495");
    assert.equal(again.replayed, true);
    assert.equal(again.alert_crossed, null);
    assert.equal(String((await credits.balance(tenant)).available), "495");
    await assert.rejects(credits.charge(tenant, { action: "icp_analysis", idempotencyKey }), (error: unknown) => {
      assert.ok(error instanceof ConflictError);
      assert.equal(error.code, "idempotency_conflict");
      assert.equal(error.field, "action");
      return true;
    });
  });

  test("metered work reserves, then commits what it used, or releases when it fails", async () => {
    const tenant = unique("umbrella");
    await credits.createCustomer(tenant, { kind: "workspace" });
    await credits.subscribe(tenant, "growth", { collected_elsewhere: true });
    const { result, charge } = await credits.metered(tenant, "generate_playbook", async (meter) => {
      assert.equal(String(meter.hold.amount), "10"); // the action's price, reserved
      assert.equal(String((await credits.balance(tenant)).held), "10");
      meter.use(7);
      return "playbook";
    });
    assert.equal(result, "playbook");
    assert.equal(String(charge.amount), "7");
    assert.equal(String(charge.available_after), "493");

    let holdId = 0;
    await assert.rejects(
      credits.metered(tenant, "generate_playbook", async (meter) => {
        holdId = meter.hold.id;
        throw new Error("the model timed out");
      }),
      /the model timed out/,
    );
    assert.equal((await credits.hold(holdId)).status, "released");
    const balance = await credits.balance(tenant);
    assert.equal(String(balance.available), "493");
    assert.equal(String(balance.held), "0");
  });

  test("requireCredits(action): a route costs the action's credits, 402 when short", async () => {
    const paying = unique("stark");
    await credits.createCustomer(paying, { kind: "workspace" });
    await credits.subscribe(paying, "growth", { collected_elsewhere: true });
    const broke = unique("wayne");
    await credits.createCustomer(broke, { kind: "workspace" });
    const settled: Settled[] = [];
    let told: () => void = () => undefined;
    const onSettled = (outcome: Settled) => {
      settled.push(outcome);
      told();
    };
    const customer = (request: express.Request) => request.header("x-tenant");
    const app = express();
    app.post("/api/ask-anything", requireCredits(credits, "ask_anything", { customer, onSettled }), (_request, response) => {
      response.json({ answer: 42 });
    });
    app.post("/api/icp/analyze", requireCredits(credits, "icp_analysis", { customer, onSettled }), (_request, response) => {
      response.status(500).json({ error: "the model failed" });
    });
    const listening = app.listen(0, "127.0.0.1");
    await new Promise((resolve) => listening.once("listening", resolve));
    const appUrl = `http://127.0.0.1:${(listening.address() as AddressInfo).port}`;
    const post = async (path: string, tenant: string) => {
      const done = new Promise<void>((resolve) => (told = resolve));
      const response = await fetch(`${appUrl}${path}`, { method: "POST", headers: { "x-tenant": tenant } });
      return { response, done };
    };
    try {
      const asked = await post("/api/ask-anything", paying);
      assert.equal(asked.response.status, 200);
      await asked.done;
      const committed = settled.at(-1);
      assert.ok(committed?.outcome === "committed");
      assert.equal(String(committed.charge.amount), "2");
      assert.equal(String(committed.charge.available_after), "498");

      const failed = await post("/api/icp/analyze", paying);
      assert.equal(failed.response.status, 500);
      await failed.done;
      assert.equal(settled.at(-1)?.outcome, "released");
      assert.equal(String((await credits.balance(paying)).available), "498");

      const short = await post("/api/ask-anything", broke);
      assert.equal(short.response.status, 402);
      assert.equal(short.response.headers.get("content-type"), "application/problem+json; charset=utf-8");
      const problem = (await short.response.json()) as { code: string; required: number | string };
      assert.equal(problem.code, "insufficient_credits");
      assert.equal(String(problem.required), "2");

      const anonymous = await fetch(`${appUrl}/api/ask-anything`, { method: "POST" });
      assert.equal(anonymous.status, 401);
    } finally {
      listening.close();
    }
  });
});
