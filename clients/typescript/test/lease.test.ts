// Holds that nest, stretch and settle in parts, through the client; and a lease, a hold a worker
// spends against locally and reports in batches, its overspend bounded by the hold.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { BudgetExceededError, ConflictError, InsufficientCreditsError, Lease, withLease } from "../src/index.js";
import { client, unique } from "./served.js";

describe("holds for agent trees and workers", () => {
  const credits = client();

  async function customerWith(credit: number): Promise<string> {
    const customer = unique("worker");
    await credits.createCustomer(customer);
    await credits.grant(customer, credit, { idempotencyKey: `${customer}:grant` });
    return customer;
  }

  test("a child hold draws from its parent, which cannot commit while it is open", async () => {
    const customer = await customerWith(100);
    const parent = await credits.reserve(customer, 50);
    const child = await credits.reserve(customer, 30, { parent: parent.id });
    assert.equal(child.parent_id, parent.id);
    assert.equal(String((await credits.hold(parent.id)).remaining), "20");
    await assert.rejects(credits.reserve(customer, 21, { parent: parent.id }), (error: unknown) => {
      assert.ok(error instanceof ConflictError);
      assert.equal(error.code, "hold_parent_exceeded");
      return true;
    });
    await assert.rejects(credits.commit(parent.id, 1), (error: unknown) => {
      assert.ok(error instanceof ConflictError);
      assert.equal(error.code, "hold_has_open_children");
      return true;
    });
    await credits.commit(child.id, 5, { final: false });
    await credits.extend(child.id, { amount: 10 });
    await credits.release(parent.id);
    assert.equal((await credits.hold(child.id)).status, "released");
    assert.equal(String((await credits.balance(customer)).available), "95");
  });

  test("a lease counts locally, reports in batches and extends when short", async () => {
    const customer = await customerWith(100);
    const key = unique("job");
    const lease = await Lease.open(credits, customer, 20, { idempotencyKey: key, batch: 10, extendBy: 15 });
    for (let frame = 0; frame < 9; frame += 1) {
      await lease.spend(1);
    }
    assert.equal(lease.reported, "0"); // nine counted, none reported
    assert.equal(String((await credits.balance(customer)).available), "80");
    await lease.spend(2);
    assert.equal(lease.reported, "11");
    await lease.spend(12); // 9 left in the hold: extended by 15 first
    assert.equal(String((await credits.hold(lease.hold.id)).amount), "35");
    await lease.close();
    assert.equal(String((await credits.balance(customer)).available), "77");
  });

  test("a lease never counts past what it holds", async () => {
    const customer = await customerWith(50);
    const outcome = await withLease(credits, customer, 40, { idempotencyKey: unique("job"), batch: 100 }, async (lease) => {
      await lease.spend(35);
      await assert.rejects(lease.spend(20), (error: unknown) => error instanceof InsufficientCreditsError);
      assert.equal(lease.counted, "35");
      return lease.remaining;
    });
    assert.equal(outcome.result, "5");
    assert.equal(String(outcome.charge.amount), "35");
    assert.equal(String((await credits.balance(customer)).available), "15");
  });

  test("a lease for a spender holds against its budgets and reports its spending", async () => {
    const customer = await customerWith(100);
    await credits.createSpender(customer, "bot", { kind: "agent" });
    await credits.setBudget(customer, 30, { spender: "bot", period: "day" });
    const options = { idempotencyKey: unique("job"), batch: 10, extendBy: 10, spender: "bot" };
    const outcome = await withLease(credits, customer, 20, options, async (lease) => {
      assert.equal(lease.hold.spender, "bot");
      await lease.spend(25); // past the 20 held: the hold extends to 30, the budget's whole day
      await assert.rejects(lease.spend(6), (error: unknown) => {
        assert.ok(error instanceof BudgetExceededError);
        assert.equal(error.spender, "bot");
        return true;
      });
      return lease.reported;
    });
    assert.equal(outcome.result, "25");
    assert.equal(outcome.charge.spender, "bot");
    assert.deepEqual((await credits.budgets(customer, { spender: "bot" })).map((budget) => String(budget.used)), ["25"]);
  });
});
