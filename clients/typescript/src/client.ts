// creditkit's HTTP API with the Python `creditkit.client.Client`'s methods (docs/typescript.md).
// Requests and answers are typed from the OpenAPI document (src/openapi.ts, generated); their
// fields are spelled as the API spells them. Every write sends an Idempotency-Key, made per call
// unless given, and its retries send the same one.
import createClient from "openapi-fetch";

import { type AmountLike, wireAmount } from "./amount.js";
import { CreditKitError, errorFromProblem } from "./errors.js";
import { type Metered, type MeteredOptions, type Meter, metered } from "./metered.js";
import { type MeteredTokens, type MeteredTokensOptions, type TokenMeter, type Usage, meteredTokens } from "./metered_tokens.js";
import type { components, paths } from "./openapi.js";
import {
  ATTEMPT_TIMEOUT_SECONDS_DEFAULT,
  RETRIES_MAX_DEFAULT,
  RETRY_WAIT_SECONDS_MAX_DEFAULT,
  type Sleep,
  realSleep,
  retryingFetch,
} from "./retry.js";

type Schemas = components["schemas"];
export type Balance = Schemas["Balance"];
export type Charge = Schemas["ChargeAnswer"];
export type Hold = Schemas["Hold"];
export type Grant = Schemas["Grant"];
export type Transfer = Schemas["Transfer"];
export type Customer = Schemas["Customer"];
export type Subscription = Schemas["Subscription"];
export type Decision = Schemas["Decision"];
export type LimitUsage = Schemas["LimitUsage"];
export type Member = Schemas["Member"];
export type HistoryPage = Schemas["HistoryPage"];
export type UsageSummary = Schemas["UsageSummary"];
export type UsageBreakdown = Schemas["UsageBreakdown"];
export type UsageSeries = Schemas["UsageSeries"];
export type CheckoutSession = Schemas["CheckoutSession"];
export type WebhookOutcome = Schemas["WebhookOutcome"];
export type Payment = Schemas["Payment"];
export type Receipt = Schemas["Receipt"];
export type ReceiptPage = Schemas["ReceiptPage"];
export type TopUpSettings = Schemas["TopUpSettings"];
export type Event = Schemas["Event"];
export type Reversal = Schemas["Reversal"];
export type Refund = Schemas["Refund"];
export type Quota = Schemas["Quota"];
/** One usage event's outcome in `ingest`: its charge, or its problem; from a server with an
 * events stream, `{status: 202, idempotency_key}` (charged later by an ingest worker). */
export type IngestResult = Schemas["IngestResults"]["results"][number];
/** A catalog action's price, as GET /v1/catalog/action-costs lists it. */
export type ActionCost = Schemas["ActionCost"];
export type WebhookEndpoint = Schemas["WebhookEndpoint"];
export type RegisteredWebhookEndpoint = Schemas["RegisteredWebhookEndpoint"];
export type Delivery = Schemas["Delivery"];
export type IngestLag = Schemas["IngestLag"];
export type ParkedEventsPage = Schemas["ParkedEventsPage"];
export type Alerts = Schemas["Alerts"];
export type SessionToken = Schemas["SessionToken"];
export type SessionPermission = Schemas["SessionPermission"];
export type SessionInfo = Schemas["SessionInfo"];
export type HistoryItem = Schemas["HistoryItem"];
export type HistoryHold = Schemas["HistoryHold"];
export type BillingLine = Schemas["BillingLine"];
export type Spender = Schemas["Spender"];
export type Budget = Schemas["Budget"];
export type DebtLimit = Schemas["DebtLimit"];
/** A model call's usage: creditkit's own counts, or an OpenAI- or Anthropic-style usage object. */
export type TokenUsage = Schemas["QuoteCreate"]["usage"];
/** What a usage costs under a token-priced action, and the price record it was computed at. */
export type Quote = Schemas["Quote"];
export type TokenPrice = Schemas["TokenPrice"];
export type ModelUsage = Schemas["ModelUsage"];
export type BudgetPeriod = "hour" | "day" | "week" | "month" | "lifetime";
export type Metadata = Record<string, unknown>;

/** What every write takes: the key that makes it exactly-once (default: a new one per call). */
export interface WriteOptions {
  readonly idempotencyKey?: string;
}

export interface ClientOptions {
  /** Retries after the first attempt (0 to 10; default 6). */
  readonly retriesMax?: number;
  /** The seconds one call may wait between its attempts, in all (0 to 300; default 30). */
  readonly retryWaitSecondsMax?: number;
  readonly attemptTimeoutSeconds?: number;
  /** The fetch to send with (default: the global one). */
  readonly fetch?: typeof fetch;
  /** How the client waits between attempts (a test passes one that does not sleep). */
  readonly sleep?: Sleep;
  readonly random?: () => number;
  readonly now?: () => number;
}

/** The sandbox's test card that pays; 4000000000000002 is declined. */
export const CARD_SUCCEEDS = "4242424242424242";
/** How long the catalog's action prices are kept before `metered` and `requireCredits` read them again. */
export const ACTION_COSTS_TTL_SECONDS = 60;

type Answer<T> = { data?: T; error?: unknown; response: Response };

export class Client {
  readonly baseUrl: string;
  private readonly api: ReturnType<typeof createClient<paths>>;
  private readonly now: () => number;
  private actionCosts_: { readonly readAt: number; readonly costs: ReadonlyMap<string, ActionCost> } | null = null;

  constructor(baseUrl: string, secret: string, options: ClientOptions = {}) {
    if (secret === "") {
      throw new TypeError("secret: an API key (ck_secret_…) or a session token is required");
    }
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    const send = retryingFetch(this.baseUrl, options.fetch ?? globalThis.fetch, {
      retriesMax: options.retriesMax ?? RETRIES_MAX_DEFAULT,
      retryWaitSecondsMax: options.retryWaitSecondsMax ?? RETRY_WAIT_SECONDS_MAX_DEFAULT,
      attemptTimeoutSeconds: options.attemptTimeoutSeconds ?? ATTEMPT_TIMEOUT_SECONDS_DEFAULT,
      sleep: options.sleep ?? realSleep,
      random: options.random ?? Math.random,
      now: options.now ?? Date.now,
    });
    this.now = options.now ?? Date.now;
    this.api = createClient<paths>({ baseUrl: this.baseUrl, fetch: send, headers: { Authorization: `Bearer ${secret}` } });
  }

  // -- customers and grants --

  async createCustomer(id: string, options: Omit<Schemas["CustomerCreate"], "id"> & WriteOptions = {}): Promise<Customer> {
    const { idempotencyKey, ...body } = options;
    return data(await this.api.POST("/v1/customers", { params: { header: key(idempotencyKey) }, body: { id, ...body } }));
  }

  async customer(customer: string): Promise<Customer> {
    return data(await this.api.GET("/v1/customers/{customer}", { params: { path: { customer } } }));
  }

  /** States the customer's IANA time zone (`null` clears it: the plan's applies again); its
   * calendar-anchored periods follow it from the end of the period in force. */
  async setTimeZone(customer: string, timeZone: string | null, options: WriteOptions = {}): Promise<Customer> {
    return data(
      await this.api.PUT("/v1/customers/{customer}/time-zone", {
        params: { path: { customer }, header: key(options.idempotencyKey) },
        body: { time_zone: timeZone },
      }),
    );
  }

  /** Grants `amount` credits (a purchase by default; a promotion, a refund… by `source`). */
  async grant(
    customer: string,
    amount: AmountLike,
    options: Omit<Schemas["GrantCreate"], "amount" | "pack"> & WriteOptions = {},
  ): Promise<Grant> {
    const { idempotencyKey, ...body } = options;
    return data(
      await this.api.POST("/v1/customers/{customer}/grants", {
        params: { path: { customer }, header: key(idempotencyKey) },
        body: { ...body, amount: wireAmount(amount) },
      }),
    );
  }

  /** Grants a catalog pack's credits as a purchase (once its payment succeeded elsewhere). */
  async grantPack(customer: string, pack: string, options: WriteOptions = {}): Promise<Grant> {
    return data(
      await this.api.POST("/v1/customers/{customer}/grants", {
        params: { path: { customer }, header: key(options.idempotencyKey) },
        body: { pack },
      }),
    );
  }

  // -- the ledger --

  /** Spends credits now: an `amount`, a catalog `action` times `quantity`, or a token-priced
   * `action`'s price of a model call's `usage` (recorded in the answer's `metadata.token_price`). An
   * `InsufficientCreditsError` (with `packs` and `upgradeTo`) when the balance is short. The
   * answer's `available_after` is the balance left. */
  async charge(
    customer: string,
    options: Omit<Schemas["ChargeCreate"], "customer" | "amount"> & { readonly amount?: AmountLike } & WriteOptions,
  ): Promise<Charge> {
    const { idempotencyKey, amount, ...body } = options;
    return data(
      await this.api.POST("/v1/charges", {
        params: { header: key(idempotencyKey) },
        body: { ...body, customer, ...(amount === undefined ? {} : { amount: wireAmount(amount) }) },
      }),
    );
  }

  /**
   * Gives back `amount` (all not reversed yet when absent) of the charge made with the idempotency
   * key `chargeKey`, with a `reason` kept in the history: to the grants that paid, in the reverse of
   * the burn-down (breakage for those expired since).
   */
  async reverseCharge(
    chargeKey: string,
    options: { readonly amount?: AmountLike; readonly reason: string } & WriteOptions,
  ): Promise<Reversal> {
    const { idempotencyKey, amount, reason } = options;
    return data(
      await this.api.POST("/v1/reversals", {
        params: { header: key(idempotencyKey) },
        body: { charge_key: chargeKey, reason, ...(amount === undefined ? {} : { amount: wireAmount(amount) }) },
      }),
    );
  }

  /** Sets credits aside for work whose cost is not known yet. */
  async reserve(
    customer: string,
    amount: AmountLike,
    options: Omit<Schemas["HoldCreate"], "customer" | "amount"> & WriteOptions = {},
  ): Promise<Hold> {
    const { idempotencyKey, ...body } = options;
    return data(
      await this.api.POST("/v1/holds", {
        params: { header: key(idempotencyKey) },
        body: { ...body, customer, amount: wireAmount(amount) },
      }),
    );
  }

  /**
   * Spends `amount` (at most what the hold has left) of the hold. `final` (default true): the rest
   * goes back and the hold closes; `final: false` keeps the rest open for more commits. Above what
   * the hold has left only with `allow_debt`: the excess is spent as a charge, debt within the limit.
   */
  async commit(
    holdId: number,
    amount: AmountLike | undefined,
    options: {
      readonly metadata?: Metadata;
      readonly final?: boolean;
      readonly allow_debt?: boolean;
      /** Instead of `amount`: a model call's usage, priced by the hold's token-priced action. */
      readonly usage?: TokenUsage;
    } & WriteOptions = {},
  ): Promise<Charge> {
    return data(
      await this.api.POST("/v1/holds/{hold_id}/commit", {
        params: { path: { hold_id: rowId(holdId, "holdId") }, header: key(options.idempotencyKey) },
        body: {
          ...(amount === undefined ? {} : { amount: wireAmount(amount) }),
          ...(options.usage === undefined ? {} : { usage: options.usage }),
          metadata: options.metadata ?? {},
          final: options.final ?? true,
          allow_debt: options.allow_debt ?? false,
        },
      }),
    );
  }

  /** What a model call's `usage` would cost under the token-priced `action` at `at` (default
   * now): the credits, rounded up to the unit's scale, and the price record. Writes nothing. */
  async quote(action: string, usage: TokenUsage, options: { readonly at?: string } = {}): Promise<Quote> {
    return data(await this.api.POST("/v1/quotes", { body: { action, usage, at: options.at ?? null } }));
  }

  /** Raises the hold by `amount` and/or pushes its timeout to `timeout_seconds` from now. */
  async extend(
    holdId: number,
    options: { readonly amount?: AmountLike; readonly timeout_seconds?: number } & WriteOptions,
  ): Promise<Hold> {
    return data(
      await this.api.POST("/v1/holds/{hold_id}/extend", {
        params: { path: { hold_id: rowId(holdId, "holdId") }, header: key(options.idempotencyKey) },
        body: {
          ...(options.amount === undefined ? {} : { amount: wireAmount(options.amount) }),
          ...(options.timeout_seconds === undefined ? {} : { timeout_seconds: options.timeout_seconds }),
        },
      }),
    );
  }

  /** Gives everything the hold set aside back. */
  async release(holdId: number, options: WriteOptions = {}): Promise<Hold> {
    return data(
      await this.api.POST("/v1/holds/{hold_id}/release", {
        params: { path: { hold_id: rowId(holdId, "holdId") }, header: key(options.idempotencyKey) },
      }),
    );
  }

  async hold(holdId: number): Promise<Hold> {
    return data(await this.api.GET("/v1/holds/{hold_id}", { params: { path: { hold_id: rowId(holdId, "holdId") } } }));
  }

  /** Reserves the action's price (or `estimate`), runs `work`, then commits what it `use`d, or
   * releases the hold when `work` throws. */
  async metered<T>(customer: string, action: string, work: (meter: Meter) => Promise<T>, options: MeteredOptions = {}): Promise<Metered<T>> {
    return metered(this, customer, action, work, options);
  }

  /** Reserves the price of a model call's request `usage` (its input tokens and max_tokens, or a
   * guess), runs `work`, which tells the meter the tokens it streams (`seen`, which grows the
   * hold) and the provider's final usage, then commits that usage; see docs/streams.md. */
  async meteredTokens<T>(
    customer: string,
    action: string,
    usage: Usage,
    work: (meter: TokenMeter) => Promise<T>,
    options: MeteredTokensOptions = {},
  ): Promise<MeteredTokens<T>> {
    return meteredTokens(this, customer, action, usage, work, options);
  }

  /** Gifts transferable credits to another customer. */
  async transfer(
    fromCustomer: string,
    toCustomer: string,
    amount: AmountLike,
    options: { readonly unit?: string; readonly metadata?: Metadata } & WriteOptions = {},
  ): Promise<Transfer> {
    const { idempotencyKey, ...rest } = options;
    return data(
      await this.api.POST("/v1/transfers", {
        params: { header: key(idempotencyKey) },
        body: { ...rest, from_customer: fromCustomer, to_customer: toCustomer, amount: wireAmount(amount) },
      }),
    );
  }

  /** The customer's balance; with `action`, only the credits that may pay for it (scoped
   * grants); with `spender`, capped by what the budgets on its path leave. `debt` is what the
   * customer owes. */
  async balance(
    customer: string,
    options: { readonly unit?: string; readonly action?: string; readonly spender?: string } = {},
  ): Promise<Balance> {
    return data(await this.api.GET("/v1/customers/{customer}/balance", { params: { path: { customer }, query: options } }));
  }

  // -- spenders, budgets, debt (docs/spenders.md) --

  /** Adds a spender (a member, an API key, an agent: `kind` is your word) under the customer,
   * or under `parent`. Its id is its own idempotency key. */
  async createSpender(customer: string, spender: string, options: { readonly kind: string; readonly parent?: string | null }): Promise<Spender> {
    return data(
      await this.api.POST("/v1/customers/{customer}/spenders", {
        params: { path: { customer }, header: { "Idempotency-Key": `spender:${customer}:${spender}` } },
        body: { id: spender, kind: options.kind, parent: options.parent ?? null },
      }),
    );
  }

  /** The customer's spenders, oldest first (workspace members among them). */
  async spenders(customer: string): Promise<Spender[]> {
    return data(await this.api.GET("/v1/customers/{customer}/spenders", { params: { path: { customer } } }));
  }

  /** Caps what `spender` (absent: the customer itself) may spend of `unit` per `period`;
   * `amount` null removes the budget (and answers null). A spend past any budget on its path
   * is refused with a `BudgetExceededError` (403). */
  async setBudget(
    customer: string,
    amount: AmountLike | null,
    options: { readonly spender?: string; readonly unit?: string; readonly period?: BudgetPeriod } & WriteOptions = {},
  ): Promise<Budget | null> {
    const { idempotencyKey, ...rest } = options;
    return data(
      await this.api.PUT("/v1/customers/{customer}/budgets", {
        params: { path: { customer }, header: key(idempotencyKey) },
        body: { ...rest, amount: amount === null ? null : wireAmount(amount) },
      }),
    );
  }

  /** The budgets of `spender` (absent: the customer's own), each with what its period used. */
  async budgets(customer: string, options: { readonly spender?: string; readonly unit?: string } = {}): Promise<Budget[]> {
    return data(await this.api.GET("/v1/customers/{customer}/budgets", { params: { path: { customer }, query: options } }));
  }

  /** How far below zero the customer may go when a spend asks for it (`allow_debt`). */
  async setDebtLimit(customer: string, amount: AmountLike, options: { readonly unit?: string } & WriteOptions = {}): Promise<DebtLimit> {
    const { idempotencyKey, ...rest } = options;
    return data(
      await this.api.PUT("/v1/customers/{customer}/debt-limit", {
        params: { path: { customer }, header: key(idempotencyKey) },
        body: { ...rest, amount: wireAmount(amount) },
      }),
    );
  }

  /** Grants, charges, holds and transfers, newest first; pass `next_cursor` for older ones. */
  async history(customer: string, query: NonNullable<paths["/v1/customers/{customer}/history"]["get"]["parameters"]["query"]> = {}): Promise<HistoryPage> {
    return data(await this.api.GET("/v1/customers/{customer}/history", { params: { path: { customer }, query } }));
  }

  // -- subscriptions --

  /** Puts the customer on `plan`: a free plan, one paid with credits, or one whose price the
   * app collects itself (`collected_elsewhere`). A priced plan paid with money answers 409
   * `checkout_required`: start it with `checkout({ plan })`. */
  async subscribe(customer: string, plan: string, options: Omit<Schemas["SubscriptionCreate"], "plan"> & WriteOptions = {}): Promise<Subscription> {
    const { idempotencyKey, ...body } = options;
    return data(
      await this.api.POST("/v1/customers/{customer}/subscription", {
        params: { path: { customer }, header: key(idempotencyKey) },
        body: { ...body, plan },
      }),
    );
  }

  async changePlan(customer: string, plan: string, options: Omit<Schemas["PlanChange"], "plan"> & WriteOptions = {}): Promise<Subscription> {
    const { idempotencyKey, ...body } = options;
    return data(
      await this.api.POST("/v1/customers/{customer}/subscription/change", {
        params: { path: { customer }, header: key(idempotencyKey) },
        body: { ...body, plan },
      }),
    );
  }

  async cancel(customer: string, options: Schemas["Cancellation"] & WriteOptions = {}): Promise<Subscription> {
    const { idempotencyKey, ...body } = options;
    return data(
      await this.api.POST("/v1/customers/{customer}/subscription/cancel", {
        params: { path: { customer }, header: key(idempotencyKey) },
        body,
      }),
    );
  }

  /** Ends the customer's allowance period now and starts a new one, with `reason` kept in the
   *  history; the billing period is unchanged. The same idempotency key again changes nothing. */
  async resetPeriod(customer: string, options: Schemas["PeriodReset"] & WriteOptions): Promise<Subscription> {
    const { idempotencyKey, ...body } = options;
    return data(
      await this.api.POST("/v1/customers/{customer}/period-reset", {
        params: { path: { customer }, header: key(idempotencyKey) },
        body,
      }),
    );
  }

  /** The customer's subscription; null when they have none. */
  async subscription(customer: string): Promise<Subscription | null> {
    try {
      return data(await this.api.GET("/v1/customers/{customer}/subscription", { params: { path: { customer } } }));
    } catch (error) {
      if (error instanceof CreditKitError && error.code === "no_subscription") {
        return null;
      }
      throw error;
    }
  }

  async billingLines(customer: string, options: { readonly limit?: number } = {}): Promise<BillingLine[]> {
    return data(await this.api.GET("/v1/customers/{customer}/billing-lines", { params: { path: { customer }, query: options } }));
  }

  // -- entitlements and limits --

  async entitled(customer: string, feature: string): Promise<Decision> {
    return data(await this.api.GET("/v1/customers/{customer}/entitlements/{feature}", { params: { path: { customer, feature } } }));
  }

  /** Every limit of the customer's plan with what is used of it. */
  async limits(customer: string): Promise<LimitUsage[]> {
    return data(await this.api.GET("/v1/customers/{customer}/limits", { params: { path: { customer } } }));
  }

  async acquire(customer: string, limit: string, resourceId: string, options: WriteOptions = {}): Promise<Decision> {
    return decided(
      await this.api.POST("/v1/customers/{customer}/limits/{limit}/resources", {
        params: { path: { customer, limit }, header: key(options.idempotencyKey) },
        body: { resource_id: resourceId },
      }),
    );
  }

  async releaseResource(customer: string, limit: string, resourceId: string): Promise<boolean> {
    const answer = data(
      await this.api.DELETE("/v1/customers/{customer}/limits/{limit}/resources/{resource_id}", {
        params: { path: { customer, limit, resource_id: resourceId } },
      }),
    );
    return answer["removed"] === true;
  }

  async track(customer: string, limit: string, options: { readonly quantity?: number } & WriteOptions = {}): Promise<Decision> {
    return decided(
      await this.api.POST("/v1/customers/{customer}/limits/{limit}/usage", {
        params: { path: { customer, limit }, header: key(options.idempotencyKey) },
        body: { quantity: options.quantity ?? 1 },
      }),
    );
  }

  /** A number of the plan in force (`max_file_mb`), or `"unlimited"`. */
  async quota(customer: string, name: string): Promise<Quota> {
    return data(await this.api.GET("/v1/customers/{customer}/quotas/{name}", { params: { path: { customer, name } } }));
  }

  // -- workspaces --

  async members(workspace: string): Promise<Member[]> {
    return data(await this.api.GET("/v1/customers/{customer}/members", { params: { path: { customer: workspace } } }));
  }

  async addMember(workspace: string, user: string, options: { readonly role?: Schemas["MemberPut"]["role"] } & WriteOptions = {}): Promise<Decision> {
    return decided(
      await this.api.PUT("/v1/customers/{customer}/members/{user}", {
        params: { path: { customer: workspace, user }, header: key(options.idempotencyKey) },
        body: { role: options.role ?? "editor" },
      }),
    );
  }

  async removeMember(workspace: string, user: string): Promise<boolean> {
    const answer = data(await this.api.DELETE("/v1/customers/{customer}/members/{user}", { params: { path: { customer: workspace, user } } }));
    return answer["removed"] === true;
  }

  async transferOwnership(workspace: string, user: string, options: WriteOptions = {}): Promise<Member[]> {
    return data(
      await this.api.PUT("/v1/customers/{customer}/owner", {
        params: { path: { customer: workspace }, header: key(options.idempotencyKey) },
        body: { user },
      }),
    );
  }

  /** Caps what a member may spend of the workspace's credits (null: no cap). */
  async setMemberSpendCap(workspace: string, user: string, amount: AmountLike | null, options: { readonly unit?: string } = {}): Promise<void> {
    noContent(
      await this.api.PUT("/v1/customers/{customer}/members/{user}/spend-cap", {
        params: { path: { customer: workspace, user } },
        body: { ...options, amount: amount === null ? null : wireAmount(amount) },
      }),
    );
  }

  // -- usage --

  async usageSummary(customer: string, query: NonNullable<paths["/v1/customers/{customer}/usage/summary"]["get"]["parameters"]["query"]> = {}): Promise<UsageSummary> {
    return data(await this.api.GET("/v1/customers/{customer}/usage/summary", { params: { path: { customer }, query } }));
  }

  async usageBreakdown(customer: string, query: paths["/v1/customers/{customer}/usage/breakdown"]["get"]["parameters"]["query"]): Promise<UsageBreakdown> {
    return data(await this.api.GET("/v1/customers/{customer}/usage/breakdown", { params: { path: { customer }, query } }));
  }

  /** Tokens, cost in USD and credits per model in [start, end), costliest first, each with the
   * spender that spent most on it. */
  async usageByModel(customer: string, query: paths["/v1/customers/{customer}/usage/models"]["get"]["parameters"]["query"]): Promise<ModelUsage> {
    return data(await this.api.GET("/v1/customers/{customer}/usage/models", { params: { path: { customer }, query } }));
  }

  async usageSeries(customer: string, query: paths["/v1/customers/{customer}/usage/series"]["get"]["parameters"]["query"]): Promise<UsageSeries> {
    return data(await this.api.GET("/v1/customers/{customer}/usage/series", { params: { path: { customer }, query } }));
  }

  // -- payments --

  /** Starts paying for a `pack` or a `plan`: send the customer to the session's `url`. Retry with
   * the same key to resume. */
  async checkout(customer: string, options: Schemas["CheckoutCreate"] & WriteOptions): Promise<CheckoutSession> {
    const { idempotencyKey, ...body } = options;
    return data(
      await this.api.POST("/v1/customers/{customer}/checkout", {
        params: { path: { customer }, header: key(idempotencyKey) },
        body,
      }),
    );
  }

  /** Pays a sandbox checkout with a test card; `applied` is false when it was paid before. */
  async completeSandboxCheckout(sessionId: string, options: { readonly card?: string } & WriteOptions = {}): Promise<WebhookOutcome> {
    return data(
      await this.api.POST("/v1/sandbox/checkouts/{session_id}/pay", {
        params: { path: { session_id: sessionId }, header: key(options.idempotencyKey) },
        body: { card: options.card ?? CARD_SUCCEEDS },
      }),
    );
  }

  async payment(paymentId: number): Promise<Payment> {
    return data(await this.api.GET("/v1/payments/{payment_id}", { params: { path: { payment_id: rowId(paymentId, "paymentId") } } }));
  }

  /** Refunds a pack or top-up within the refund window; once per payment. */
  async refund(paymentId: number, options: WriteOptions = {}): Promise<Refund> {
    return data(
      await this.api.POST("/v1/payments/{payment_id}/refund", {
        params: { path: { payment_id: rowId(paymentId, "paymentId") }, header: key(options.idempotencyKey) },
      }),
    );
  }

  async savePaymentMethod(customer: string, paymentMethod: string): Promise<void> {
    noContent(await this.api.PUT("/v1/customers/{customer}/payment-method", { params: { path: { customer } }, body: { payment_method: paymentMethod } }));
  }

  /** Buys `pack` with the saved payment method when the balance falls to `threshold`. */
  async setAutoTopUp(customer: string, pack: string, threshold: AmountLike, options: { readonly per_day_max?: number } = {}): Promise<TopUpSettings> {
    return data(
      await this.api.PUT("/v1/customers/{customer}/auto-top-up", {
        params: { path: { customer } },
        body: { ...options, pack, threshold: wireAmount(threshold, "threshold") },
      }),
    );
  }

  async autoTopUp(customer: string): Promise<TopUpSettings | null> {
    return data(await this.api.GET("/v1/customers/{customer}/auto-top-up", { params: { path: { customer } } }));
  }

  async disableAutoTopUp(customer: string): Promise<boolean> {
    const answer = data(await this.api.DELETE("/v1/customers/{customer}/auto-top-up", { params: { path: { customer } } }));
    return answer["removed"] === true;
  }

  async receipts(customer: string, options: { readonly limit?: number; readonly cursor?: string } = {}): Promise<ReceiptPage> {
    return data(await this.api.GET("/v1/customers/{customer}/receipts", { params: { path: { customer }, query: options } }));
  }

  async receipt(receiptId: number): Promise<Receipt> {
    return data(await this.api.GET("/v1/receipts/{receipt_id}", { params: { path: { receipt_id: rowId(receiptId, "receiptId") } } }));
  }

  // -- events, webhooks and alerts --

  /** Usage events, each charged once by its own `idempotency_key`; one result per event, in
   * order: its charge, or its problem (status 202: accepted by the events stream). */
  async ingest(events: Schemas["UsageEvent"][], options: WriteOptions = {}): Promise<IngestResult[]> {
    const { results } = data(await this.api.POST("/v1/events", { params: { header: key(options.idempotencyKey) }, body: { events } }));
    if (!Array.isArray(results) || results.length !== events.length) {
      throw new CreditKitError(200, "response_invalid", "not one result per event", {});
    }
    return results;
  }

  async events(query: NonNullable<paths["/v1/events"]["get"]["parameters"]["query"]> = {}): Promise<Event[]> {
    return data(await this.api.GET("/v1/events", { params: { query } }));
  }

  /** A new webhook endpoint; its `secret` (whsec_…) is shown in this answer only. */
  async registerWebhookEndpoint(url: string, options: { readonly event_types?: string[] | null } & WriteOptions = {}): Promise<RegisteredWebhookEndpoint> {
    const { idempotencyKey, ...rest } = options;
    return data(await this.api.POST("/v1/webhook-endpoints", { params: { header: key(idempotencyKey) }, body: { ...rest, url } }));
  }

  async webhookEndpoints(): Promise<WebhookEndpoint[]> {
    return data(await this.api.GET("/v1/webhook-endpoints", {}));
  }

  async webhookEndpoint(endpointId: number): Promise<WebhookEndpoint> {
    return data(await this.api.GET("/v1/webhook-endpoints/{endpoint_id}", { params: { path: { endpoint_id: rowId(endpointId, "endpointId") } } }));
  }

  /** A new signing secret (in this answer only); the old one signs for 24 hours more. */
  async rotateWebhookSecret(endpointId: number, options: WriteOptions = {}): Promise<RegisteredWebhookEndpoint> {
    return data(
      await this.api.POST("/v1/webhook-endpoints/{endpoint_id}/rotate-secret", {
        params: { path: { endpoint_id: rowId(endpointId, "endpointId") }, header: key(options.idempotencyKey) },
      }),
    );
  }

  async disableWebhookEndpoint(endpointId: number, options: WriteOptions = {}): Promise<WebhookEndpoint> {
    return data(
      await this.api.POST("/v1/webhook-endpoints/{endpoint_id}/disable", {
        params: { path: { endpoint_id: rowId(endpointId, "endpointId") }, header: key(options.idempotencyKey) },
      }),
    );
  }

  async enableWebhookEndpoint(endpointId: number, options: WriteOptions = {}): Promise<WebhookEndpoint> {
    return data(
      await this.api.POST("/v1/webhook-endpoints/{endpoint_id}/enable", {
        params: { path: { endpoint_id: rowId(endpointId, "endpointId") }, header: key(options.idempotencyKey) },
      }),
    );
  }

  async deleteWebhookEndpoint(endpointId: number): Promise<void> {
    noContent(await this.api.DELETE("/v1/webhook-endpoints/{endpoint_id}", { params: { path: { endpoint_id: rowId(endpointId, "endpointId") } } }));
  }

  async webhookDeliveries(query: NonNullable<paths["/v1/webhook-deliveries"]["get"]["parameters"]["query"]> = {}): Promise<Delivery[]> {
    return data(await this.api.GET("/v1/webhook-deliveries", { params: { query } }));
  }

  /** The ingest workers' lag, read from JetStream through the server's events stream (an admin
   * key; a server without `--events` answers 404 `events_not_configured`). */
  async ingestLag(): Promise<IngestLag> {
    return data(await this.api.GET("/v1/ingest/lag", {}));
  }

  /** The usage events the ingest workers parked, newest first, each with its reason; pass
   * `next_before_id` as `before_id` for older ones (an admin key). */
  async parkedEvents(query: NonNullable<paths["/v1/ingest/parked-events"]["get"]["parameters"]["query"]> = {}): Promise<ParkedEventsPage> {
    return data(await this.api.GET("/v1/ingest/parked-events", { params: { query } }));
  }

  async setAlerts(customer: string, alerts: Omit<Schemas["AlertsPut"], "credits_left"> & { readonly credits_left?: AmountLike | null }): Promise<Alerts> {
    const { credits_left, ...rest } = alerts;
    const body = { ...rest, ...(credits_left === undefined ? {} : { credits_left: credits_left === null ? null : wireAmount(credits_left, "credits_left") }) };
    return data(await this.api.PUT("/v1/customers/{customer}/alerts", { params: { path: { customer } }, body }));
  }

  async alerts(customer: string, options: { readonly unit?: string } = {}): Promise<Alerts> {
    return data(await this.api.GET("/v1/customers/{customer}/alerts", { params: { path: { customer }, query: options } }));
  }

  async clearAlerts(customer: string, options: { readonly unit?: string } = {}): Promise<Alerts> {
    return data(await this.api.DELETE("/v1/customers/{customer}/alerts", { params: { path: { customer }, query: options } }));
  }

  // -- sessions --

  /** A short-lived token for one customer's browser; for a workspace, `user` names the member. */
  async issueSession(customer: string, options: Schemas["SessionTokenCreate"] & WriteOptions = {}): Promise<SessionToken> {
    const { idempotencyKey, ...body } = options;
    return data(
      await this.api.POST("/v1/customers/{customer}/session-tokens", {
        params: { path: { customer }, header: key(idempotencyKey) },
        body,
      }),
    );
  }

  /**
   * Whose this client's session token is: its customer, the member acting, what it may do and
   * until when (a browser holding only the token learns its customer here). A secret key is
   * refused: 403 `session_token_required`.
   */
  async session(): Promise<SessionInfo> {
    return data(await this.api.GET("/v1/session", {}));
  }

  /** The address that opens the customer's usage, billing and credits pages until `expires_at`. */
  async sessionLink(customer: string, options: Schemas["SessionTokenCreate"] & WriteOptions = {}): Promise<{ url: string; expires_at: string }> {
    const token = await this.issueSession(customer, options);
    return { url: `${this.baseUrl}/app/session?token=${encodeURIComponent(token.token)}`, expires_at: token.expires_at };
  }

  // -- the catalog --

  /** The catalog's price of `action`, null when it prices none; read at most once a minute. */
  async actionCost(action: string): Promise<ActionCost | null> {
    const now = this.now();
    const cached = this.actionCosts_;
    // A clock set back makes the cache's age unknown: read again.
    if (cached === null || now < cached.readAt || now - cached.readAt >= ACTION_COSTS_TTL_SECONDS * 1000) {
      const costs = await this.actionCosts();
      this.actionCosts_ = { readAt: now, costs: new Map(costs.map((cost) => [cost.action, cost])) };
    }
    return this.actionCosts_?.costs.get(action) ?? null;
  }

  /** Every catalog action's price (seed 003's seven AI actions, seed 001's generation). */
  async actionCosts(): Promise<ActionCost[]> {
    return data(await this.api.GET("/v1/catalog/action-costs", {}));
  }
}

/** A new Idempotency-Key unless the caller gave one; the retries of this call send the same. */
function key(idempotencyKey: string | undefined): { "Idempotency-Key": string } {
  return { "Idempotency-Key": idempotencyKey ?? globalThis.crypto.randomUUID() };
}

function rowId(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new TypeError(`${field}: must be a positive integer`);
  }
  return value;
}

/** The answer's body, or the error it stands for thrown. */
function data<T>(answer: Answer<T>): T {
  if (answer.error !== undefined || !answer.response.ok) {
    throw errorFromProblem(answer.response.status, answer.error, typeof answer.error === "string" ? answer.error : "");
  }
  if (answer.data === undefined) {
    throw new CreditKitError(answer.response.status, "response_invalid", "an answer without a body", {});
  }
  return answer.data;
}

function noContent(answer: Answer<unknown>): void {
  if (answer.error !== undefined || !answer.response.ok) {
    throw errorFromProblem(answer.response.status, answer.error, typeof answer.error === "string" ? answer.error : "");
  }
}

/** An entitlement write: the API's 403 `limit_reached` is a refused Decision, as in Python. */
function decided(answer: Answer<Decision>): Decision {
  if (answer.response.status === 403 && typeof answer.error === "object" && answer.error !== null) {
    const problem = answer.error as Record<string, unknown>;
    if (problem["code"] === "limit_reached") {
      return {
        allowed: false,
        reason: String(problem["reason"] ?? problem["detail"] ?? ""),
        upgrade_to: typeof problem["upgrade_to"] === "string" ? problem["upgrade_to"] : null,
        used: typeof problem["used"] === "number" ? problem["used"] : null,
        limit: typeof problem["limit"] === "number" || problem["limit"] === "unlimited" ? problem["limit"] : null,
      };
    }
  }
  return data(answer);
}
