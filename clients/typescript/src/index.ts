export * from "./amount.js";
export * from "./client.js";
export * from "./errors.js";
export type { Meter, Metered, MeteredOptions } from "./metered.js";
export { BACKOFF_SECONDS_FIRST, BACKOFF_SECONDS_MAX, RETRIES_MAX_DEFAULT, RETRIES_MAX_LIMIT, RETRY_AFTER_SECONDS_MAX } from "./retry.js";
export type { Sleep } from "./retry.js";
export type { components, operations, paths } from "./openapi.js";
export { PROBLEM_CONTENT_TYPE, problemAnswer, problemResponse } from "./problems.js";
export type { ProblemAnswer } from "./problems.js";
