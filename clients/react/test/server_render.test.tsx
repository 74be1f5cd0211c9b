// The components render on a server (Next.js): no window at import or render, and the markup
// carries the roles and labels a screen reader needs. The levels and formats are exact.
import assert from "node:assert/strict";
import { test } from "node:test";

import { renderToString } from "react-dom/server";

import { CreditKitProvider, CreditMeter, CreditBalance, Paywall, PlanTable, UsageBreakdown, formatMoney, meterLevel, plural } from "../src/index.js";

const config = { baseUrl: "http://127.0.0.1:9", token: "ck_session_x", customer: "acme" };

test("no window: the package imports and renders on a server", () => {
  assert.equal(typeof (globalThis as { window?: unknown }).window, "undefined");
  const html = renderToString(
    <CreditKitProvider config={config}>
      <CreditMeter />
      <CreditBalance />
      <PlanTable />
      <UsageBreakdown />
      <Paywall refusal={{ status: 402, code: "insufficient_credits", available: 2, required: 8, packs: [], upgrade_to: null }} />
    </CreditKitProvider>,
  );
  assert.match(html, /aria-busy="true"/);
  assert.match(html, /This needs 8 credits; you have 2\./);
});

test("seed 003's thresholds: green under 50%, yellow to 80%, red above; configurable", () => {
  assert.deepEqual([40, 49, 50, 60, 80, 81, 90].map((percent) => meterLevel(percent)), ["green", "green", "yellow", "yellow", "yellow", "red", "red"]);
  assert.equal(meterLevel(60, { yellowFrom: 70, redAbove: 90 }), "green");
  const html = renderToString(<CreditMeter used="0.6000" />);
  assert.match(html, /role="meter"/);
  assert.match(html, /aria-valuenow="60"/);
  assert.match(html, /data-level="yellow"/);
  assert.match(renderToString(<CreditMeter used="unlimited" />), />Unlimited</);
});

test("a paywall names its packs and the plan with their prices, as buttons", () => {
  const html = renderToString(
    <CreditKitProvider config={config}>
      <Paywall
        refusal={{
          status: 402,
          code: "insufficient_credits",
          available: 0,
          required: 8,
          packs: [{ id: "credits_1000", name: "1,000 credits", amount: 1000, price: { amount_minor: 6000, currency: "USD" } }],
          upgrade_to: "growth",
          upgrade: { id: "growth", name: "Growth", price: { amount_minor: 240000, currency: "USD" }, interval: "month" },
        }}
      />
    </CreditKitProvider>,
  );
  assert.match(html, /<button[^>]*>Buy 1,000 credits for \$60\.00<\/button>/);
  assert.match(html, /Upgrade to Growth for \$2,400\.00 a month/);
  assert.match(html, /role="region"/);
});

test("money from minor units exactly; 1 time, 2 times", () => {
  assert.equal(formatMoney({ amount_minor: 999, currency: "USD" }, "en-US"), "$9.99");
  assert.equal(formatMoney({ amount_minor: 123456789012345, currency: "USD" }, "en-US"), "$1,234,567,890,123.45");
  assert.equal(formatMoney({ amount_minor: 500, currency: "JPY" }, "en-US"), "¥500");
  assert.equal(plural(1, "time", "times"), "1 time");
  assert.equal(plural(2, "time", "times"), "2 times");
});
