// Verifies webhooks as a TypeScript/JavaScript receiver would, with the npm standardwebhooks
// package. Reads one JSON object from stdin: {"deliveries": [{"secret", "body_base64",
// "headers"}]}; writes, for each, {"verified": true, "payload": ...} or {"verified": false,
// "error": ...}. The package checks the timestamp against this machine's clock.
import { Webhook } from "standardwebhooks";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const { deliveries } = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const results = deliveries.map(({ secret, body_base64, headers }) => {
  const body = Buffer.from(body_base64, "base64").toString("utf8");
  try {
    return { verified: true, payload: new Webhook(secret).verify(body, headers) };
  } catch (error) {
    return { verified: false, error: String(error.message ?? error) };
  }
});
process.stdout.write(JSON.stringify(results));
