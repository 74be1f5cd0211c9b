// What the tests share: the server `creditkit serve --payments sandbox` that
// tests/api/test_typescript_client.py started (its URL and an admin key in the environment),
// and names unique to this run.
import { Client, type ClientOptions } from "../src/index.js";

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") {
    throw new Error(`${name} is not set: run these tests through tests/api/test_typescript_client.py`);
  }
  return value;
}

export const baseUrl = required("CREDITKIT_URL");
export const adminKey = required("CREDITKIT_ADMIN_KEY");

/** A client of `url` that never sleeps: it records in `waits` the waits it was asked for. */
export function client(waits: number[] = [], options: ClientOptions = {}, url: string = baseUrl): Client {
  return new Client(url, adminKey, {
    sleep: async (seconds) => {
      waits.push(seconds);
    },
    ...options,
  });
}

export function unique(name: string): string {
  return `${name}-${globalThis.crypto.randomUUID().slice(0, 8)}`;
}
