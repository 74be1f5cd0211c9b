// Exact amounts: decimal strings and bigints in, canonical decimal strings out, floats refused.
import assert from "node:assert/strict";
import { test } from "node:test";

import { addAmounts, amount, amountToBigInt, compareAmounts, subtractAmounts, wireAmount } from "../src/index.js";

test("amounts are canonical decimal strings, exact past 2^53", () => {
  assert.equal(amount(40), "40");
  assert.equal(amount("12.50"), "12.5");
  assert.equal(amount(-2n), "-2");
  assert.equal(amount("-0.0"), "0");
  assert.equal(addAmounts("9007199254740993", 1), "9007199254740994");
  assert.equal(addAmounts("0.1", "0.2"), "0.3");
  assert.equal(subtractAmounts(5, "7.25"), "-2.25");
  assert.equal(amountToBigInt("40.000"), 40n);
  assert.equal(compareAmounts("5", 5n), 0);
  assert.equal(compareAmounts("4.99", 5), -1);
  assert.equal(compareAmounts(6, "5.999"), 1);
});

test("the wire takes a safe integer as a number and anything else as a string", () => {
  assert.equal(wireAmount(3n), 3);
  assert.equal(wireAmount("12.5"), "12.5");
  assert.equal(wireAmount(9007199254740993n), "9007199254740993");
});

test("floats, unsafe integers and malformed strings are refused, naming the field", () => {
  assert.throws(() => amount(0.1), /amount: 0.1 is not an exact amount/);
  assert.throws(() => amount(2 ** 53), /not an exact amount/);
  assert.throws(() => amount("1e3", "estimate"), /estimate: "1e3" is not a decimal amount/);
  assert.throws(() => amountToBigInt("2.5"), /not a whole amount/);
});
