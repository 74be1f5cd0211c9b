// A model call billed by its tokens through the client: an OpenAI-style and an Anthropic-style
// stream from the fake model provider (examples/llm_streams/fake_model_server.py, served by
// tests/api/test_typescript_client.py at MODEL_URL) on a hold that grows as the answer streams.
// `streamed_chat` is priced by tokens at 1 credit an input token and 2 an output token (catalog.yaml).
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { InsufficientCreditsError, TOKEN_METER_EXTENDS_MAX } from "../src/index.js";
import { client, unique } from "./served.js";

const modelUrl = process.env["MODEL_URL"] ?? "";

/** The server-sent events of a POST to the provider: [event name or null, parsed data]. */
async function* events(path: string, body: Record<string, unknown>): AsyncGenerator<[string | null, any]> {
  const response = await fetch(`${modelUrl}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  assert.equal(response.status, 200);
  const text = await response.text(); // the fake provider sends the whole stream at once
  for (const block of text.split("\n\n")) {
    let name: string | null = null;
    for (const line of block.split("\n")) {
      if (line.startsWith("event: ")) name = line.slice(7);
      if (line.startsWith("data: ")) yield [name, line.slice(6) === "[DONE]" ? "[DONE]" : JSON.parse(line.slice(6))];
    }
  }
}

const PROMPT = "Say something about ledgers please"; // five input tokens at the fake provider

describe("meteredTokens", () => {
  const credits = client();

  async function customerWith(credit: number): Promise<string> {
    const customer = unique("chatter");
    await credits.createCustomer(customer);
    await credits.grant(customer, credit, { idempotencyKey: `${customer}:grant` });
    return customer;
  }

  test("an OpenAI-style stream: the hold grows past the guess, the final usage is charged", async () => {
    const customer = await customerWith(100);
    const request = { model: "house-model", input_tokens: 5, output_tokens: 4 }; // 13 held
    const body = { model: "house-model", stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: PROMPT }] };
    const { result, charge, uncovered, extends: grown } = await credits.meteredTokens(
      customer,
      "streamed_chat",
      request,
      async (meter) => {
        assert.equal(String(meter.hold.amount), "13");
        const words: string[] = [];
        for await (const [, chunk] of events("/v1/chat/completions", body)) {
          if (chunk === "[DONE]") break;
          for (const choice of chunk.choices) {
            if (choice.delta.content) {
              words.push(choice.delta.content);
              await meter.seen(1);
            }
          }
          if (chunk.usage) meter.usage(chunk.usage);
        }
        return words.join("");
      },
      { extendTokens: 3 },
    );
    assert.equal(result, "The fake model streams ten words of answer for you.");
    assert.equal(grown, 3); // 4 held; at 4 seen 7, at 7 seen 10, at 10 seen 13
    assert.equal(String(charge.amount), String(5 + 2 * 10));
    assert.equal(uncovered, "0");
    assert.equal(String((await credits.balance(customer)).available), String(100 - 25));
  });

  test("an Anthropic-style stream holding max_tokens: nothing extended, the rest goes back", async () => {
    const customer = await customerWith(100);
    const body = { model: "house-model", stream: true, max_tokens: 30, messages: [{ role: "user", content: PROMPT }] };
    const { charge, extends: grown } = await credits.meteredTokens(customer, "streamed_chat", { model: "house-model", input_tokens: 5, output_tokens: 30 }, async (meter) => {
      assert.equal(String((await credits.balance(customer)).available), String(100 - 65));
      const usage: Record<string, unknown> = {};
      for await (const [event, data] of events("/v1/messages", body)) {
        if (event === "message_start") Object.assign(usage, data.message.usage);
        if (event === "content_block_delta") await meter.seen(1);
        if (event === "message_delta") Object.assign(usage, data.usage);
      }
      meter.usage(usage);
    });
    assert.equal(grown, 0);
    assert.equal(String(charge.amount), "25");
    assert.equal(String((await credits.balance(customer)).available), "75");
  });

  test("an extend the customer cannot cover stops the stream; what streamed is charged", async () => {
    const customer = await customerWith(20);
    const request = { model: "house-model", input_tokens: 5, output_tokens: 4 }; // 13 held, 7 left
    await assert.rejects(
      credits.meteredTokens(customer, "streamed_chat", request, async (meter) => {
        for (let token = 0; token < 10; token += 1) await meter.seen(1); // at 4: 8 more needed
      }),
      (error: unknown) => error instanceof InsufficientCreditsError,
    );
    assert.equal(String((await credits.balance(customer)).available), "7");
  });

  test("a call that fails before any output is released", async () => {
    const customer = await customerWith(20);
    await assert.rejects(
      credits.meteredTokens(customer, "streamed_chat", { model: "house-model", input_tokens: 5, output_tokens: 4 }, async () => {
        throw new Error("the provider is down");
      }),
      /the provider is down/,
    );
    assert.equal(String((await credits.balance(customer)).available), "20");
  });

  test("usage the customer cannot cover: the hold without debt, the rest owed with allow_debt", async () => {
    const request = { model: "house-model", input_tokens: 5, output_tokens: 4 }; // 13 held
    const usage = { input_tokens: 5, output_tokens: 10 }; // 25
    const plain = await customerWith(20);
    const capped = await credits.meteredTokens(plain, "streamed_chat", request, async (meter) => meter.usage(usage));
    assert.deepEqual([String(capped.charge.amount), capped.uncovered], ["13", "12"]);
    const owing = await customerWith(20);
    await credits.setDebtLimit(owing, 10);
    const owed = await credits.meteredTokens(owing, "streamed_chat", request, async (meter) => meter.usage(usage), { allow_debt: true });
    assert.deepEqual([String(owed.charge.amount), owed.uncovered], ["25", "0"]);
    assert.equal(String((await credits.balance(owing)).debt), "5");
  });

  test("one key bills the call once; extends are bounded", async () => {
    const customer = await customerWith(1000);
    const request = { model: "house-model", input_tokens: 5, output_tokens: 4 };
    const key = unique("call");
    for (let run = 0; run < 2; run += 1) {
      await credits.meteredTokens(customer, "streamed_chat", request, async (meter) => meter.seen(6), { idempotencyKey: key });
    }
    assert.equal(String((await credits.balance(customer)).available), String(1000 - 17));
    await assert.rejects(
      credits.meteredTokens(customer, "streamed_chat", { ...request, output_tokens: 1 }, async (meter) => {
        for (let token = 0; token <= TOKEN_METER_EXTENDS_MAX + 1; token += 1) await meter.seen(1);
      }),
      /extendTokens/,
    );
  });
});
