// A small program over the types openapi-typescript generates from creditkit's document with its
// default flags; tests/api/test_contract.py compiles it with `tsc --strict`.
import type { components, operations, paths } from "./openapi.js";

type Schemas = components["schemas"];

// A request gives only what it means: fields with a server default stay optional.
const charge: Schemas["ChargeCreate"] = { customer: "ada", action: "generate" };
const customer: Schemas["CustomerCreate"] = { id: "acme", kind: "workspace" };
const subscription: Schemas["SubscriptionCreate"] = { plan: "pro", pay_with: "credits" };

// A response's fields with defaults are always sent, so they are not optional.
function creditsLeft(balance: Schemas["Balance"]): string {
  const unlimited: boolean = balance.unlimited;
  return unlimited ? "unlimited" : String(balance.available);
}

// Each error has its own body: a 402 carries its facts without a cast.
type ChargeResponses = operations["createCharge"]["responses"];
function upgradeHint(problem: ChargeResponses[402]["content"]["application/problem+json"]): string {
  const packs = problem.packs.map((pack: { id: string; price: Schemas["Money"] }) => `${pack.id}: ${pack.price.amount_minor} ${pack.price.currency}`);
  return `${problem.available} of ${problem.required}; buy ${packs.join(", ")} or ${problem.upgrade_to ?? "no plan"}`;
}
function retryAfter(response: ChargeResponses[429]): number | undefined {
  return response.headers["Retry-After"];
}
const code: Schemas["Problem"]["code"] = "insufficient_credits";

type BalancePath = paths["/v1/customers/{customer}/balance"]["get"];
const query: BalancePath["parameters"]["path"] = { customer: "ada" };

export { charge, code, creditsLeft, customer, query, retryAfter, subscription, upgradeHint };
