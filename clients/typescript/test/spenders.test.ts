// Spenders, budgets, scoped credits and debt through the client: a typed BudgetExceededError,
// balances by action and spender, usage by spender and subtree.
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { describe, test } from "node:test";

import express from "express";

import { requireCredits } from "../src/express.js";
import { BudgetExceededError, InsufficientCreditsError } from "../src/index.js";
import { client, unique } from "./served.js";

describe("spenders, budgets, scopes and debt", () => {
  const credits = client();

  test("a spender's budget refuses with a typed error naming it", async () => {
    const customer = unique("lab");
    await credits.createCustomer(customer);
    await credits.grant(customer, 100, { idempotencyKey: `${customer}:grant` });
    const agent = await credits.createSpender(customer, "einstein", { kind: "agent" });
    assert.equal(agent.kind, "agent");
    const child = await credits.createSpender(customer, "search", { kind: "sub_agent", parent: "einstein" });
    assert.equal(child.depth, 2);
    assert.deepEqual((await credits.spenders(customer)).map((spender) => spender.id), ["einstein", "search"]);
    const budget = await credits.setBudget(customer, 10, { spender: "einstein", period: "day" });
    assert.equal(budget?.period, "day");
    const charge = await credits.charge(customer, { amount: 8, spender: "search" });
    assert.equal(charge.spender, "search");
    await assert.rejects(credits.charge(customer, { amount: 3, spender: "search" }), (error: unknown) => {
      assert.ok(error instanceof BudgetExceededError);
      assert.equal(error.status, 403);
      assert.equal(error.spender, "einstein");
      assert.equal(String(error.cap), "10");
      assert.equal(String(error.used), "8");
      assert.ok(error.resetsAt !== null);
      return true;
    });
    const [day] = await credits.budgets(customer, { spender: "einstein" });
    assert.equal(String(day?.used), "8");
    assert.equal(String((await credits.balance(customer, { spender: "search" })).available), "2");
    assert.equal(await credits.setBudget(customer, null, { spender: "einstein", period: "day" }), null);

    const start = new Date(Date.now() - 3_600_000).toISOString();
    const end = new Date(Date.now() + 3_600_000).toISOString();
    const bySpender = await credits.usageBreakdown(customer, { by: "spender", start, end, spender: "einstein", subtree: true });
    assert.deepEqual(
      bySpender.groups.map((group) => [group.key, group.kind, String(group.spent)]),
      [["search", "sub_agent", "8"]],
    );
  });

  test("scoped credits, and debt within its limit repaid by the next grant", async () => {
    const customer = unique("scoped");
    await credits.createCustomer(customer);
    await credits.grant(customer, 10, { applies_to: ["Images"], idempotencyKey: `${customer}:images` });
    assert.equal(String((await credits.balance(customer, { action: "generate_image" })).available), "10");
    await assert.rejects(credits.charge(customer, { action: "ask_anything" }), InsufficientCreditsError);
    await credits.setDebtLimit(customer, 5);
    const hold = await credits.reserve(customer, 8, { action: "generate_image" });
    const charge = await credits.commit(hold.id, 12, { allow_debt: true });
    assert.equal(String(charge.debt), "2");
    assert.equal(String((await credits.balance(customer)).debt), "2");
    await credits.grant(customer, 20, { idempotencyKey: `${customer}:top-up` });
    const balance = await credits.balance(customer);
    assert.equal(String(balance.debt), "0");
  });

  test("Express: requireCredits holds as the request's spender; a full budget is a 403 problem", async () => {
    const customer = unique("api");
    await credits.createCustomer(customer);
    await credits.grant(customer, 100, { idempotencyKey: `${customer}:grant` });
    await credits.createSpender(customer, "ci-key", { kind: "api_key" });
    await credits.setBudget(customer, 4, { spender: "ci-key", period: "hour" });
    const app = express();
    const gate = requireCredits(credits, "ask_anything", {
      customer: () => customer,
      spender: (request) => request.header("x-api-key-id"),
    });
    app.post("/api/ask-anything", gate, (_request, response) => {
      response.json({ answer: 42 });
    });
    const listening = app.listen(0, "127.0.0.1");
    await new Promise((resolve) => listening.once("listening", resolve));
    try {
      const url = `http://127.0.0.1:${(listening.address() as AddressInfo).port}/api/ask-anything`;
      const ask = () => fetch(url, { method: "POST", headers: { "x-api-key-id": "ci-key" } });
      assert.deepEqual([(await ask()).status, (await ask()).status], [200, 200]); // 2 credits each
      const refused = await ask();
      assert.equal(refused.status, 403);
      const problem = (await refused.json()) as { code: string; spender: string };
      assert.deepEqual([problem.code, problem.spender], ["budget_exceeded", "ci-key"]);
    } finally {
      listening.close();
    }
  });
});
