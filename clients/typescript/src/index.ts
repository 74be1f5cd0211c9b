export * from "./amount.js";
export * from "./client.js";
export * from "./errors.js";
export type { Meter, Metered, MeteredOptions } from "./metered.js";
export { LEASE_WRITES_MAX, Lease, type LeaseOptions, withLease } from "./lease.js";
export { BACKOFF_SECONDS_FIRST, BACKOFF_SECONDS_MAX, RETRIES_MAX_DEFAULT, RETRIES_MAX_LIMIT, RETRY_AFTER_SECONDS_MAX } from "./retry.js";
export type { Sleep } from "./retry.js";
export type { components, operations, paths } from "./openapi.js";
