// An operator's manual reset of a customer's allowance period through the client: the new period
// starts now, the reason is in the history, and the same idempotency key changes nothing.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { client, unique } from "./served.js";

describe("resetting a customer's period", () => {
  const credits = client();

  test("a reset starts a new allowance period, once per key, with its reason", async () => {
    const customer = unique("reset");
    await credits.createCustomer(customer);
    await credits.subscribe(customer, "starter", { idempotencyKey: `${customer}:subscribe` });
    await credits.charge(customer, { amount: 10, idempotencyKey: `${customer}:charge` });
    const options = { reason: "goodwill after an outage", idempotencyKey: `${customer}:reset` };
    const reset = await credits.resetPeriod(customer, options);
    assert.ok(reset.allowance_period_start !== null);
    assert.equal(String((await credits.balance(customer)).available), "25");
    assert.deepEqual(await credits.resetPeriod(customer, options), reset);
    const resets = (await credits.history(customer)).items.filter((item) => item.kind === "period_reset");
    assert.equal(resets.length, 1);
    assert.equal(resets[0]?.metadata["reason"], "goodwill after an outage");
  });
});
