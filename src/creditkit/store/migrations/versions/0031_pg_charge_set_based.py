"""PostgreSQL: ``creditkit_charge`` decides a batch in memory and writes it in a few statements.

Migration 0027's function wrote each charge as it decided it: a statement for its grants, one
for its transaction row, one for its entries (whose statement trigger updated the customer's
grant accounts again for every charge), one for its usage rollup. A hot customer's coalesced
batch paid all of them per charge. The function now:

- reads each customer's live grants of a unit once per batch (after the lock, as before), and
  which of them apply to an action's scope once per scope, and burns them down in memory, charge
  after charge, in the same order and by the same rule as before (a grant burnt down to zero is
  passed over, as a fresh read would leave it out);
- writes the applied charges' transaction rows in one multi-row insert (ids in the charges'
  order), their entries in one (so the balance trigger updates each account once per batch),
  and their usage rollups in one upsert, grouped by row;
- still checks and counts budgets charge by charge against the table (a budgeted charge is
  the rarer one, and a check that reads the counted use cannot drift from it).

What it decides is unchanged: the same charges applied, the same draws, the same rows, the same
first charge it leaves to the Python path; a key recorded already still fails the transaction
rows' insert. Its signature and result are 0027's. A lone charge, for which a statement per
table and charge is the least work, goes to 0027's body, kept as ``creditkit_charge_one``.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07
"""

import importlib
from collections.abc import Sequence

from alembic import op

revision: str = "0031"
down_revision: str | Sequence[str] | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One OUT row per charge applied, in order; a single row with position 0 when nothing ran
# ('due': a customer has due work).
_CHARGE = """CREATE OR REPLACE FUNCTION creditkit_charge(
    p_now timestamptz, p_starts timestamptz[], p_locked text[], p_keys text[],
    p_customers text[], p_units text[], p_amounts bigint[], p_actions text[], p_spenders text[],
    p_requests text[], p_metadata text[], p_occurred timestamptz[], p_scopes text[],
    p_consumption bigint[])
RETURNS TABLE (charge_position integer, status text, transaction_id bigint, customer_id bigint,
    customer_kind text, next_due_at timestamptz, budgeted boolean, draw_accounts bigint[],
    draw_amounts bigint[], available_after bigint)
LANGUAGE plpgsql VOLATILE
-- Its statements' plans are made once per connection: with a custom plan (the planner's
-- choice while a batch's row counts look cheaper than a generic plan's guess) each call would
-- plan them again.
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    n integer := coalesce(array_length(p_keys, 1), 0);
    applied integer := 0;
    i integer;
    j integer;
    k integer;
    c_id bigint;
    any_due boolean;
    ancestors_text text;
    budget_path text[];
    locked_ids text[];
    locked_keys bigint[];
    locked_kinds text[];
    locked_dues timestamptz[];
    locked_budgeted boolean[];
    -- Each (customer, unit)'s live grants in burn-down order, read once: pair_from/pair_count
    -- index the grant_* arrays, whose balances are burnt down in memory.
    pair_keys text[] := '{}';
    pair_from integer[] := '{}';
    pair_count integer[] := '{}';
    grant_accounts bigint[] := '{}';
    grant_balances bigint[] := '{}';
    grant_applies text[] := '{}';
    pair integer;
    first_grant integer;
    grants_n integer;
    -- Which of a pair's grants apply to a scope, once per (pair, scope): scope_from indexes
    -- scope_applying.
    scope_keys text[] := '{}';
    scope_from integer[] := '{}';
    scope_applying boolean[] := '{}';
    scope_at integer;
    read_accounts bigint[];
    read_balances bigint[];
    read_applies text[];
    read_applying boolean[];
    scope_names text[];
    spendable bigint;
    total bigint;
    left_steps bigint;
    part bigint;
    -- The applied charges (by position) and their legs, written after the loop.
    charge_customers bigint[] := '{}';
    charge_locked integer[] := '{}';
    charge_available bigint[] := '{}';
    charge_draw_from integer[] := '{}';
    charge_draw_count integer[] := '{}';
    drawn_accounts bigint[] := '{}';
    drawn_amounts bigint[] := '{}';
    leg_positions integer[] := '{}';
    leg_accounts bigint[] := '{}';
    leg_amounts bigint[] := '{}';
    ids bigint[];
BEGIN
    -- Locked in id order, and read as locked (the latest version of each row).
    SELECT array_agg(l.external_id), array_agg(l.id), array_agg(l.kind),
            array_agg(l.next_due_at), array_agg(l.budgeted), bool_or(l.next_due_at <= p_now)
        INTO locked_ids, locked_keys, locked_kinds, locked_dues, locked_budgeted, any_due
        FROM (SELECT x.external_id, x.id, x.kind, x.next_due_at, x.budgeted FROM customers x
            WHERE x.external_id = ANY(p_locked) ORDER BY x.id FOR NO KEY UPDATE OF x) l;
    IF any_due THEN
        RETURN QUERY SELECT 0, 'due'::text, NULL::bigint, NULL::bigint, NULL::text,
            NULL::timestamptz, NULL::boolean, NULL::bigint[], NULL::bigint[], NULL::bigint;
        RETURN;
    END IF;
    FOR i IN 1 .. n LOOP
        k := array_position(locked_ids, p_customers[i]);
        EXIT WHEN k IS NULL OR p_amounts[i] <= 0;
        c_id := locked_keys[k];
        -- The budgets on the spender's path up to the customer (''), as check_spend reads them.
        budget_path := NULL;
        IF p_spenders[i] IS NOT NULL THEN
            SELECT s.ancestors INTO ancestors_text FROM spenders s
                WHERE s.customer_id = c_id AND s.external_id = p_spenders[i];
            EXIT WHEN NOT FOUND;
            budget_path := ARRAY[p_spenders[i]] || ARRAY(
                SELECT a.name FROM json_array_elements_text(ancestors_text::json)
                    WITH ORDINALITY AS a(name, level) ORDER BY a.level DESC) || ARRAY[''];
        ELSIF locked_budgeted[k] THEN
            budget_path := ARRAY[''];
        END IF;
        -- Apart from the test, so that an unbudgeted charge runs no query for it.
        IF budget_path IS NOT NULL THEN
            EXIT WHEN EXISTS (
                SELECT 1 FROM budgets b LEFT JOIN budget_usage u
                    ON u.customer_id = b.customer_id AND u.spender = b.spender
                    AND u.unit = b.unit AND u.period = b.period
                    AND u.period_start = CASE b.period WHEN 'hour' THEN p_starts[1]
                        WHEN 'day' THEN p_starts[2] WHEN 'week' THEN p_starts[3]
                        WHEN 'month' THEN p_starts[4] ELSE p_starts[5] END
                WHERE b.customer_id = c_id AND b.unit = p_units[i]
                    AND b.spender = ANY(budget_path)
                    AND p_amounts[i] > greatest(0, b.cap - coalesce(u.used, 0)));
        END IF;
        -- The live grants in burn-down order (kernel.burn_down_key), read after the lock, once
        -- per customer and unit, with which of them apply to this charge's scope.
        pair := array_position(pair_keys, c_id::text || '/' || p_units[i]);
        IF pair IS NULL THEN
            scope_names := CASE WHEN p_scopes[i] = '[]' THEN '{}'::text[]
                ELSE ARRAY(SELECT json_array_elements_text(p_scopes[i]::json)) END;
            SELECT coalesce(array_agg(a.id ORDER BY g.priority, g.expires_at IS NULL,
                        coalesce(g.expires_at, g.effective_at), g.effective_at, a.id), '{}'),
                    coalesce(array_agg(a.balance ORDER BY g.priority, g.expires_at IS NULL,
                        coalesce(g.expires_at, g.effective_at), g.effective_at, a.id), '{}'),
                    coalesce(array_agg(g.applies_to::text ORDER BY g.priority,
                        g.expires_at IS NULL, coalesce(g.expires_at, g.effective_at),
                        g.effective_at, a.id), '{}'),
                    coalesce(array_agg(g.applies_to IS NULL OR EXISTS (
                            SELECT 1 FROM json_array_elements_text(g.applies_to::json) AS s(name)
                            WHERE s.name = ANY(scope_names))
                        ORDER BY g.priority, g.expires_at IS NULL,
                        coalesce(g.expires_at, g.effective_at), g.effective_at, a.id), '{}')
                INTO read_accounts, read_balances, read_applies, read_applying
                FROM accounts a JOIN grants g ON g.account_id = a.id
                WHERE a.customer_id = c_id AND a.unit = p_units[i] AND a.kind = 'grant'
                    AND a.balance > 0 AND g.effective_at <= p_now
                    AND (g.expires_at IS NULL OR p_now < g.expires_at);
            pair_keys := pair_keys || (c_id::text || '/' || p_units[i]);
            pair_from := pair_from || (coalesce(array_length(grant_accounts, 1), 0) + 1);
            pair_count := pair_count || coalesce(array_length(read_accounts, 1), 0);
            grant_accounts := grant_accounts || read_accounts;
            grant_balances := grant_balances || read_balances;
            grant_applies := grant_applies || read_applies;
            pair := array_length(pair_keys, 1);
            scope_keys := scope_keys || (pair::text || '/' || p_scopes[i]);
            scope_from := scope_from || (coalesce(array_length(scope_applying, 1), 0) + 1);
            scope_applying := scope_applying || read_applying;
        END IF;
        first_grant := pair_from[pair];
        grants_n := pair_count[pair];
        -- Another scope on grants read already: which of them apply, once per pair and scope.
        scope_at := array_position(scope_keys, pair::text || '/' || p_scopes[i]);
        IF scope_at IS NULL THEN
            scope_names := CASE WHEN p_scopes[i] = '[]' THEN '{}'::text[]
                ELSE ARRAY(SELECT json_array_elements_text(p_scopes[i]::json)) END;
            SELECT coalesce(array_agg(r.applies IS NULL OR EXISTS (
                        SELECT 1 FROM json_array_elements_text(r.applies::json) AS s(name)
                        WHERE s.name = ANY(scope_names))
                    ORDER BY r.ordinal), '{}')
                INTO read_applying
                FROM unnest(grant_applies[first_grant : first_grant + grants_n - 1])
                    WITH ORDINALITY AS r(applies, ordinal);
            scope_keys := scope_keys || (pair::text || '/' || p_scopes[i]);
            scope_from := scope_from || (coalesce(array_length(scope_applying, 1), 0) + 1);
            scope_applying := scope_applying || read_applying;
            scope_at := array_length(scope_keys, 1);
        END IF;
        scope_at := scope_from[scope_at];
        spendable := 0;
        total := 0;
        FOR j IN 0 .. grants_n - 1 LOOP
            total := total + grant_balances[first_grant + j];
            IF scope_applying[scope_at + j] THEN
                spendable := spendable + grant_balances[first_grant + j];
            END IF;
        END LOOP;
        -- A shortfall: headroom, debt or a refusal, the Python path's to decide.
        EXIT WHEN p_amounts[i] > spendable;
        charge_draw_from := charge_draw_from || (coalesce(array_length(drawn_accounts, 1), 0) + 1);
        left_steps := p_amounts[i];
        FOR j IN 0 .. grants_n - 1 LOOP
            EXIT WHEN left_steps = 0;
            -- A grant burnt down to zero by an earlier charge is passed over, as a fresh read
            -- (balance > 0) would leave it out.
            IF scope_applying[scope_at + j] AND grant_balances[first_grant + j] > 0 THEN
                part := least(grant_balances[first_grant + j], left_steps);
                grant_balances[first_grant + j] := grant_balances[first_grant + j] - part;
                drawn_accounts := drawn_accounts || grant_accounts[first_grant + j];
                drawn_amounts := drawn_amounts || part;
                leg_positions := leg_positions || i;
                leg_accounts := leg_accounts || grant_accounts[first_grant + j];
                leg_amounts := leg_amounts || (-part);
                left_steps := left_steps - part;
            END IF;
        END LOOP;
        leg_positions := leg_positions || i;
        leg_accounts := leg_accounts || p_consumption[i];
        leg_amounts := leg_amounts || p_amounts[i];
        charge_draw_count := charge_draw_count
            || (coalesce(array_length(drawn_accounts, 1), 0) + 1 - charge_draw_from[i]);
        charge_customers := charge_customers || c_id;
        charge_locked := charge_locked || k;
        charge_available := charge_available || (total - p_amounts[i]);
        -- Counted at once: the next charge's budget check reads it.
        IF budget_path IS NOT NULL THEN
            INSERT INTO budget_usage (customer_id, spender, unit, period, period_start, used)
                SELECT b.customer_id, b.spender, b.unit, b.period,
                    CASE b.period WHEN 'hour' THEN p_starts[1] WHEN 'day' THEN p_starts[2]
                        WHEN 'week' THEN p_starts[3] WHEN 'month' THEN p_starts[4]
                        ELSE p_starts[5] END, p_amounts[i]
                FROM budgets b
                WHERE b.customer_id = c_id AND b.unit = p_units[i]
                    AND b.spender = ANY(budget_path)
                ORDER BY b.spender, b.period
            ON CONFLICT (customer_id, spender, unit, period, period_start)
                DO UPDATE SET used = budget_usage.used + EXCLUDED.used;
        END IF;
        applied := i;
    END LOOP;
    IF applied = 0 THEN
        RETURN;
    END IF;
    -- The transaction rows in the charges' order, so that their ids are too. A key recorded
    -- already fails this insert (its unique index): the caller then runs the batch again in
    -- replay mode, through the Python path.
    WITH inserted AS (
        INSERT INTO transactions (idempotency_key, kind, status, customer_id, counterparty_id,
                unit, amount, action, hold_id, member, spender, request, outcome, metadata,
                created_at, occurred_at, reverses_id)
            SELECT p_keys[t.at], 'charge', 'applied', charge_customers[t.at], NULL,
                    p_units[t.at], p_amounts[t.at], p_actions[t.at], NULL, NULL,
                    p_spenders[t.at], p_requests[t.at], NULL, p_metadata[t.at]::jsonb, p_now,
                    p_occurred[t.at], NULL
                FROM generate_series(1, applied) AS t(at) ORDER BY t.at
            RETURNING id)
    SELECT array_agg(inserted.id ORDER BY inserted.id) INTO ids FROM inserted;
    -- Every leg in one statement (grants, then consumption, charge after charge): the balance
    -- trigger updates each account once for the batch.
    INSERT INTO entries (transaction_id, account_id, unit, amount)
        SELECT ids[leg.at], leg.account_id, p_units[leg.at], leg.amount
        FROM unnest(leg_positions, leg_accounts, leg_amounts) WITH ORDINALITY
            AS leg(at, account_id, amount, ordinal)
        ORDER BY leg.ordinal;
    -- The usage rollups (creditkit.usage.rollups) of the charges' hours, actions and spenders,
    -- one row per key; a catalog's dimensions are still counted by the rollups' hook. Buckets
    -- are hours from the epoch (creditkit.usage.buckets.BUCKET_SECONDS), at the moment the
    -- usage counts.
    INSERT INTO usage_rollups (customer_id, unit, bucket_start, action, member, spender,
            steps, charges, issued, expired)
        SELECT r.customer_id, r.unit, r.bucket_start, r.action, '', r.spender,
                sum(r.steps)::bigint, count(*), 0, 0
            FROM (SELECT charge_customers[t.at] AS customer_id, p_units[t.at] AS unit,
                    date_bin(interval '3600 seconds', coalesce(p_occurred[t.at], p_now),
                        timestamptz '1970-01-01 00:00:00+00') AS bucket_start,
                    coalesce(p_actions[t.at], '') AS action,
                    coalesce(p_spenders[t.at], '') AS spender, p_amounts[t.at] AS steps
                FROM generate_series(1, applied) AS t(at)) r
            GROUP BY r.customer_id, r.unit, r.bucket_start, r.action, r.spender
            ORDER BY r.customer_id, r.unit, r.bucket_start, r.action, r.spender
    ON CONFLICT (customer_id, unit, bucket_start, action, member, spender) DO UPDATE SET
        steps = usage_rollups.steps + EXCLUDED.steps,
        charges = usage_rollups.charges + EXCLUDED.charges;
    -- Row by row rather than by a query: plain expressions, no statement to plan.
    FOR i IN 1 .. applied LOOP
        k := charge_locked[i];
        charge_position := i;
        status := 'applied';
        transaction_id := ids[i];
        customer_id := charge_customers[i];
        customer_kind := locked_kinds[k];
        next_due_at := locked_dues[k];
        budgeted := locked_budgeted[k];
        draw_accounts := drawn_accounts[charge_draw_from[i] :
            charge_draw_from[i] + charge_draw_count[i] - 1];
        draw_amounts := drawn_amounts[charge_draw_from[i] :
            charge_draw_from[i] + charge_draw_count[i] - 1];
        available_after := charge_available[i];
        RETURN NEXT;
    END LOOP;
END $$"""


_ONE_DROP = (
    "DROP FUNCTION IF EXISTS creditkit_charge_one(timestamptz, timestamptz[], text[], text[],"
    " text[], text[], bigint[], text[], text[], text[], text[], timestamptz[], text[], bigint[])"
)


def _body_0027() -> str:
    """0027's ``creditkit_charge``, as it was (that migration never changes)."""
    before = importlib.import_module("creditkit.store.migrations.versions.0027_pg_charge_function")
    body: str = before._CHARGE
    return body


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_CHARGE)
        # A lone charge keeps 0027's body under a name of its own: a statement per table and
        # charge is the least work for one charge (measured, bench/pg_charge_batch.py: the
        # batch's statements cost a lone charge more server time than they save it).
        op.execute(_body_0027().replace("creditkit_charge(", "creditkit_charge_one(", 1))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_ONE_DROP)
        # 0027's body, as it was (its signature and result are the same).
        op.execute(_body_0027().replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
