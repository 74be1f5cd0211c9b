// The integrations answer every failure as problem+json with the status a caller can act on:
// 404 for a customer creditkit does not know, 503 when creditkit does not answer (never
// Express's HTML page with a stack trace, never an HTML 500).
import assert from "node:assert/strict";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { describe, test } from "node:test";

import express from "express";

import { requireCredits } from "../src/express.js";
import { sessionLinkHandler } from "../src/next.js";
import { client, unique } from "./served.js";

/** A loopback URL where nothing listens: a port taken then given back. */
async function closedUrl(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

async function served(app: express.Express, run: (url: string) => Promise<void>): Promise<void> {
  const listening = app.listen(0, "127.0.0.1");
  await new Promise((resolve) => listening.once("listening", resolve));
  try {
    await run(`http://127.0.0.1:${(listening.address() as AddressInfo).port}`);
  } finally {
    listening.close();
  }
}

function appOver(credits: ReturnType<typeof client>): express.Express {
  const app = express();
  const customer = (request: express.Request) => request.header("x-tenant");
  app.post("/api/ask-anything", requireCredits(credits, "ask_anything", { customer, amount: 2 }), (_request, response) => {
    response.json({ answer: 42 });
  });
  return app;
}

describe("requireCredits and sessionLinkHandler: every error is problem+json", () => {
  test("Express: an unknown customer is a 404 problem", async () => {
    await served(appOver(client()), async (url) => {
      const answer = await fetch(`${url}/api/ask-anything`, { method: "POST", headers: { "x-tenant": unique("nobody") } });
      assert.equal(answer.status, 404);
      assert.equal(answer.headers.get("content-type"), "application/problem+json; charset=utf-8");
      const problem = (await answer.json()) as { status: number; code: string };
      assert.equal(problem.status, 404);
      assert.equal(problem.code, "unknown_customer");
    });
  });

  test("Express: creditkit unreachable is a 503 problem with Retry-After", async () => {
    const down = client([], { retriesMax: 1 }, await closedUrl());
    await served(appOver(down), async (url) => {
      const answer = await fetch(`${url}/api/ask-anything`, { method: "POST", headers: { "x-tenant": "stark" } });
      assert.equal(answer.status, 503);
      assert.equal(answer.headers.get("content-type"), "application/problem+json; charset=utf-8");
      assert.equal(answer.headers.get("retry-after"), "5");
      const problem = (await answer.json()) as { status: number; code: string; detail: string };
      assert.equal(problem.status, 503);
      assert.equal(problem.code, "credits_unavailable");
      assert.doesNotMatch(problem.detail, /127\.0\.0\.1|Error/);
    });
  });

  test("Next.js route handler: 404 for an unknown customer, 503 when creditkit is down", async () => {
    const request = new Request("https://app.test/billing/link", { method: "POST" });
    const unknown = await sessionLinkHandler(client(), { identify: () => ({ customer: unique("nobody") }) })(request);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.headers.get("content-type"), "application/problem+json");
    const down = client([], { retriesMax: 1 }, await closedUrl());
    const unreachable = await sessionLinkHandler(down, { identify: () => ({ customer: "stark" }) })(request);
    assert.equal(unreachable.status, 503);
    assert.equal(((await unreachable.json()) as { code: string }).code, "credits_unavailable");
  });
});
