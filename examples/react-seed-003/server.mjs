// The demo's server: the page, its bundle and the theme, with the page's settings from the
// environment. The page calls creditkit itself, from the browser, with the customer's session
// token (creditkit must allow this origin: `creditkit serve --cors-origin http://HOST:PORT`).
//
// POST /api/actions/<action> stands for the seed's own backend running an AI action: with
// CREDITKIT_API_KEY set it charges the action's credits and passes creditkit's answer on
// (a 402 problem+json as creditkit wrote it, for the page's Paywall). The secret key stays here.
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";

function required(name) {
  const value = process.env[name];
  if (value === undefined || value === "") {
    console.error(`react-seed-003: set ${name}`);
    process.exit(2);
  }
  return value;
}

const port = Number(process.env.PORT ?? "3000");
const host = process.env.HOST ?? "127.0.0.1";
const creditkit = required("CREDITKIT_URL").replace(/\/+$/, "");
// The page learns its customer from the token itself (GET /v1/session), and reads its plan.
const config = {
  baseUrl: creditkit,
  token: required("CREDITKIT_SESSION_TOKEN"),
  actions: Boolean(process.env.CREDITKIT_API_KEY),
};

let sessionCustomer = null;

/** Whose the session token is, asked of creditkit once (the actions charge that customer). */
async function customer() {
  if (sessionCustomer === null) {
    const answer = await fetch(`${creditkit}/v1/session`, { headers: { Authorization: `Bearer ${config.token}` } });
    if (!answer.ok) {
      throw new Error(`GET /v1/session answered ${answer.status}`);
    }
    sessionCustomer = (await answer.json()).customer;
  }
  return sessionCustomer;
}
const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const files = {
  "/app.js": [here("./public/app.js"), "text/javascript"],
  "/styles.css": [here("../../clients/react/styles.css"), "text/css"],
  "/demo.css": [here("./src/demo.css"), "text/css"],
};
const ACTION = /^\/api\/actions\/([a-z0-9_]{1,64})$/;
const BODY_MAX_BYTES = 64 * 1024;

function page() {
  // The settings as JSON in a script element the page reads; `<` escaped so no value ends it.
  const settings = JSON.stringify(config).replace(/</g, "\\u003c");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Credits · seed 003</title>
<link rel="stylesheet" href="/styles.css">
<link rel="stylesheet" href="/demo.css">
</head>
<body>
<div id="root"></div>
<script id="settings" type="application/json">${settings}</script>
<script type="module" src="/app.js"></script>
</body>
</html>`;
}

async function runAction(action, response) {
  const answer = await customer()
    .then((id) =>
      fetch(`${creditkit}/v1/charges`, {
        method: "POST",
        headers: {
          Authorization: `Bearer ${process.env.CREDITKIT_API_KEY}`,
          "Content-Type": "application/json",
          "Idempotency-Key": globalThis.crypto.randomUUID(),
        },
        body: JSON.stringify({ customer: id, action }),
      }),
    )
    .catch(() => null);
  if (answer === null) {
    const problem = { type: "about:blank", title: "Service Unavailable", status: 503, code: "credits_unavailable", detail: "the credits service did not answer" };
    response.writeHead(503, { "Content-Type": "application/problem+json" }).end(JSON.stringify(problem));
    return;
  }
  const text = (await answer.text()).slice(0, BODY_MAX_BYTES);
  response.writeHead(answer.status, { "Content-Type": answer.headers.get("content-type") ?? "application/json" }).end(text);
}

createServer(async (request, response) => {
  const path = new URL(request.url ?? "/", "http://demo").pathname;
  try {
    if (request.method === "GET" && path === "/") {
      response.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" }).end(page());
      return;
    }
    const file = files[path];
    if (request.method === "GET" && file !== undefined) {
      response.writeHead(200, { "Content-Type": file[1] }).end(await readFile(file[0]));
      return;
    }
    const action = ACTION.exec(path);
    if (request.method === "POST" && action !== null && config.actions) {
      await runAction(action[1], response);
      return;
    }
    response.writeHead(404, { "Content-Type": "text/plain" }).end("not found");
  } catch (error) {
    console.error(error);
    response.writeHead(500, { "Content-Type": "text/plain" }).end("error");
  }
}).listen(port, host, () => {
  console.log(`react-seed-003: http://${host}:${port} (creditkit at ${creditkit}, customer ${config.customer})`);
});
