// Token-priced charges through the client: a usage object in, its price and record out, the same
// for a hold's commit; an unknown model is a 422 naming `usage.model`.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { CreditKitError } from "../src/index.js";
import { client, unique } from "./served.js";

describe("charges priced by tokens", () => {
  const credits = client();
  const usage = { model: "my-model", input_tokens: 40_000, output_tokens: 20_000 };

  test("a charge, a quote and a commit price the usage alike", async () => {
    const customer = unique("tokens");
    await credits.createCustomer(customer);
    await credits.grant(customer, 1000, { idempotencyKey: `${customer}:grant` });
    const quote = await credits.quote("chat", usage);
    // $0.02 + $0.03 = $0.05, * 1.25 * 1000 = 62.5 credits, rounded up.
    assert.equal(String(quote.amount), "63");
    assert.equal(quote.price.source, "catalog");
    assert.equal(quote.price.cost_usd, "0.05");
    const charge = await credits.charge(customer, { action: "chat", usage });
    assert.equal(String(charge.amount), "63");
    const recorded = (charge.metadata as { token_price: Record<string, unknown> }).token_price;
    assert.equal(recorded.cost_usd, "0.05");
    assert.deepEqual(recorded.tokens, quote.price.tokens);
    // OpenAI-style usage, as the SDK returns it: the cached tokens are part of prompt_tokens.
    const openai = { model: "my-model", prompt_tokens: 50_000, completion_tokens: 20_000, prompt_tokens_details: { cached_tokens: 10_000 } };
    const hold = await credits.reserve(customer, 100, { action: "chat" });
    const committed = await credits.commit(hold.id, undefined, { usage: openai });
    assert.equal(String(committed.amount), "69"); // $0.055 * 1250 = 68.75, rounded up
    assert.equal(String((await credits.balance(customer)).available), String(1000 - 63 - 69));
    const start = new Date(Date.now() - 3_600_000).toISOString();
    const end = new Date(Date.now() + 3_600_000).toISOString();
    const byModel = await credits.usageByModel(customer, { start, end });
    assert.deepEqual(byModel.models.map((line) => [line.model, line.calls, String(line.spent), line.cost_usd]), [["my-model", 2, "132", "0.105"]]);
  });

  test("an unknown model is a 422 naming usage.model", async () => {
    const customer = unique("tokens");
    await credits.createCustomer(customer);
    await assert.rejects(credits.charge(customer, { action: "chat", usage: { ...usage, model: "no-such-model-xyz" } }), (error: unknown) => {
      assert.ok(error instanceof CreditKitError);
      assert.equal(error.status, 422);
      assert.equal(error.code, "unknown_model");
      assert.deepEqual((error.problem.invalid_params as { name: string }[])[0]?.name, "usage.model");
      return true;
    });
  });
});
