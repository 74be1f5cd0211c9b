// The events stream's operator reads through the TypeScript client, on a server started without
// an events stream: no parked events, and the lag refused naming the setting.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { CreditKitError } from "../src/index.js";
import { client } from "./served.js";

describe("the events stream's operator reads", () => {
  const credits = client();

  test("parked events: a page, newest first, empty here", async () => {
    const page = await credits.parkedEvents({ limit: 10 });
    assert.deepEqual(page, { items: [], next_before_id: null });
  });

  test("the lag without an events stream: 404 events_not_configured naming --events", async () => {
    await assert.rejects(credits.ingestLag(), (error: unknown) => {
      assert.ok(error instanceof CreditKitError);
      assert.equal(error.status, 404);
      assert.equal(error.code, "events_not_configured");
      assert.match(error.message, /--events/);
      return true;
    });
  });
});
