// Retries through a real HTTP proxy in front of the served creditkit: the proxy refuses the
// first attempts the way a busy server or a broken network does, then passes requests on. The
// client waits as told (Retry-After, else a bounded backoff), sends the same Idempotency-Key
// each time, and the charge applies once.
import assert from "node:assert/strict";
import { type IncomingMessage, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";

import { BACKOFF_SECONDS_FIRST, CreditKitError, RETRIES_MAX_DEFAULT, RateLimitedError, ServiceUnreachableError } from "../src/index.js";
import { baseUrl, client, unique } from "./served.js";

type Refusal = "503" | "429-short" | "429-long" | "drop";

/** A proxy to the served creditkit that answers the next requests with `refusals`, in order. */
class FlakyProxy {
  readonly refusals: Refusal[] = [];
  readonly keys: (string | undefined)[] = [];
  private readonly server = createServer((request, response) => void this.handle(request, response));
  url = "";

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    this.keys.push(request.headers["idempotency-key"] as string | undefined);
    const refusal = this.refusals.shift();
    if (refusal === "drop") {
      request.socket.destroy();
      return;
    }
    if (refusal !== undefined) {
      const status = refusal === "503" ? 503 : 429;
      const code = refusal === "503" ? "ledger_busy" : "rate_limited";
      const retryAfter = refusal === "429-long" ? 120 : 2;
      const problem = { type: "about:blank", title: code, status, detail: "try again", code, limit_per_minute: 30, retry_after_seconds: retryAfter };
      response.writeHead(status, { "Content-Type": "application/problem+json", "Retry-After": String(retryAfter) });
      response.end(JSON.stringify(problem));
      return;
    }
    const headers = Object.fromEntries(Object.entries(request.headers).filter(([name]) => name !== "host" && name !== "content-length")) as Record<string, string>;
    const method = request.method ?? "GET";
    const passed = await fetch(`${baseUrl}${request.url ?? "/"}`, { method, headers, ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}) });
    response.writeHead(passed.status, { "Content-Type": passed.headers.get("content-type") ?? "application/json" });
    response.end(Buffer.from(await passed.arrayBuffer()));
  }
}

describe("retries", () => {
  const proxy = new FlakyProxy();
  const customer = unique("retried");
  before(async () => {
    await proxy.start();
    await client().createCustomer(customer);
    await client().grant(customer, 100n, { source: "promo" });
  });
  after(() => proxy.stop());

  test("a 503, then a dropped connection: the same key each time, Retry-After then backoff, one charge", async () => {
    const waits: number[] = [];
    proxy.refusals.push("503", "drop");
    proxy.keys.length = 0;
    const charge = await client(waits, { random: () => 0.5 }, proxy.url).charge(customer, { amount: "3" });
    assert.equal(proxy.keys.length, 3);
    assert.ok(proxy.keys[0] !== undefined);
    assert.deepEqual(new Set(proxy.keys), new Set([proxy.keys[0]]));
    assert.equal(waits[0], 2); // the 503's Retry-After
    assert.equal(waits[1], BACKOFF_SECONDS_FIRST * 2 * 0.75); // the second retry's backoff, half-jittered
    assert.equal(String(charge.available_after), "97");
    assert.equal(String((await client().balance(customer)).available), "97");
  });

  test("a 429 is waited out when Retry-After is short, and handed back when it is long", async () => {
    const waits: number[] = [];
    proxy.refusals.push("429-short");
    const balance = await client(waits, {}, proxy.url).balance(customer);
    assert.equal(String(balance.available), "97");
    assert.deepEqual(waits, [2]);

    proxy.refusals.push("429-long");
    await assert.rejects(client(waits, {}, proxy.url).balance(customer), (error: unknown) => {
      assert.ok(error instanceof RateLimitedError);
      assert.equal(error.retryAfterSeconds, 120);
      return true;
    });
    assert.deepEqual(waits, [2], "no wait for a Retry-After past the client's limit");
  });

  test("the retries are bounded: a service that never answers is ServiceUnreachableError", async () => {
    const waits: number[] = [];
    proxy.refusals.push("drop", "drop", "drop");
    await assert.rejects(client(waits, { retriesMax: 2 }, proxy.url).charge(customer, { amount: 1 }), (error: unknown) => {
      assert.ok(error instanceof ServiceUnreachableError);
      assert.equal(error.attempts, 3);
      return true;
    });
    assert.equal(waits.length, 2);
    assert.equal(String((await client().balance(customer)).available), "97");
    assert.throws(() => client([], { retriesMax: 11 }), RangeError);
  });

  test("a failover's 503s are ridden through by default, the same key each time, one charge", async () => {
    const waits: number[] = [];
    proxy.refusals.push(...Array<Refusal>(RETRIES_MAX_DEFAULT).fill("503"));
    proxy.keys.length = 0;
    const charge = await client(waits, {}, proxy.url).charge(customer, { amount: 2 });
    assert.equal(proxy.keys.length, RETRIES_MAX_DEFAULT + 1);
    assert.deepEqual(new Set(proxy.keys), new Set([proxy.keys[0]]));
    assert.deepEqual(waits, Array<number>(RETRIES_MAX_DEFAULT).fill(2));
    assert.equal(String(charge.available_after), "95");
  });

  test("the seconds waited are bounded beside the retries: past the budget, the 503 goes back", async () => {
    const waits: number[] = [];
    proxy.refusals.push("503", "503", "503");
    await assert.rejects(client(waits, { retriesMax: 10, retryWaitSecondsMax: 5 }, proxy.url).charge(customer, { amount: 1 }), (error: unknown) => {
      assert.ok(error instanceof CreditKitError);
      assert.equal(error.status, 503);
      return true;
    });
    assert.deepEqual(waits, [2, 2], "a third wait of 2 s would pass the 5 s budget");
    proxy.refusals.length = 0;
    assert.equal(String((await client().balance(customer)).available), "95");
    assert.throws(() => client([], { retryWaitSecondsMax: 301 }), RangeError);
    assert.throws(() => client([], { retryWaitSecondsMax: -1 }), RangeError);
  });
});
