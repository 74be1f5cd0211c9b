// Reversals and late usage through the client: a charge given back in part, by its key, and a
// charge whose usage happened earlier.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { CreditKitError } from "../src/index.js";
import { client, unique } from "./served.js";

describe("reversals and late usage", () => {
  const credits = client();

  test("a charge is given back in part, then the rest, by its key", async () => {
    const customer = unique("rev");
    await credits.createCustomer(customer);
    await credits.grant(customer, 100, { idempotencyKey: `${customer}:grant` });
    await credits.charge(customer, { amount: 30, idempotencyKey: `${customer}:c1` });
    const before = Number((await credits.balance(customer)).available);
    const part = await credits.reverseCharge(`${customer}:c1`, { amount: 10, reason: "over-counted" });
    assert.equal(String(part.amount), "10");
    assert.equal(String(part.remaining), "20");
    const rest = await credits.reverseCharge(`${customer}:c1`, { reason: "cancelled" });
    assert.equal(String(rest.amount), "20");
    assert.equal(Number((await credits.balance(customer)).available), before + 30);
    await assert.rejects(credits.reverseCharge(`${customer}:c1`, { amount: 1, reason: "r" }), (error: unknown) => {
      assert.ok(error instanceof CreditKitError);
      assert.equal(error.status, 422);
      return true;
    });
  });

  test("a late charge carries its own moment", async () => {
    const customer = unique("late");
    await credits.createCustomer(customer);
    await credits.grant(customer, 100, { idempotencyKey: `${customer}:grant` });
    const occurredAt = new Date(Date.now() - 10 * 60 * 1000).toISOString();
    const charge = await credits.charge(customer, { amount: 5, occurred_at: occurredAt });
    assert.equal(String(charge.amount), "5");
  });
});
