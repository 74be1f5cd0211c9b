// A customer's time zone through the TypeScript client: stated at creation, moved, cleared; an
// unknown zone is a ValidationError naming `time_zone`.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { ValidationError } from "../src/index.js";
import { client, unique } from "./served.js";

describe("a customer's time zone", () => {
  const credits = client();

  test("stated, read, moved and cleared", async () => {
    const customer = unique("tokyo");
    assert.equal((await credits.createCustomer(customer, { time_zone: "Asia/Tokyo" })).time_zone, "Asia/Tokyo");
    assert.equal((await credits.customer(customer)).time_zone, "Asia/Tokyo");
    const moved = await credits.setTimeZone(customer, "Europe/Paris", { idempotencyKey: `${customer}:z1` });
    assert.equal(moved.time_zone, "Europe/Paris");
    assert.equal((await credits.setTimeZone(customer, null)).time_zone, null);
    assert.equal((await credits.customer(customer)).time_zone, null);
  });

  test("an unknown zone is refused naming time_zone", async () => {
    const customer = unique("mars");
    await credits.createCustomer(customer);
    await assert.rejects(credits.setTimeZone(customer, "Mars/Olympus_Mons"), (error: unknown) => {
      assert.ok(error instanceof ValidationError);
      assert.equal(error.field, "time_zone");
      return true;
    });
    await assert.rejects(credits.createCustomer(unique("mars"), { time_zone: "Mars/Olympus_Mons" }), ValidationError);
  });
});
