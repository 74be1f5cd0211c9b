"""PostgreSQL: a batch of charges in one call (``creditkit_charge``), and the balanced-entries
check once per ledger transaction instead of once per entry.

``creditkit_charge`` is the fast path of ``creditkit.ledger.pg_charge``: it locks the batch's
customers (in id order, NO KEY UPDATE, as every ledger writer does), and, when none of them has
anything due, applies the charges in order: the spender's path and its budgets, the grants that
apply to the action in burn-down order (read after the lock, by a statement of their own, so
that they are what the writer before committed), the transaction row, its entries (grants,
then consumption), the budgets' use and the usage rollup. A key recorded already fails the
row's insert (its unique index), and the caller runs the batch again in replay mode, as it does
for the Python path. It stops at the first charge it does not decide itself (a shortfall, a budget that would
refuse, an unknown customer or spender) and says so; the Python path runs the rest in the same
database transaction. So it never refuses: every refusal is the Python path's, recorded as it
records it.

The balanced check was a deferred constraint trigger per entry, each summing its transaction's
entries again at commit (three sums for a charge of one grant). It is now a deferred constraint
trigger per transaction row: at commit, each transaction inserted by the database transaction
has its entries summed once per unit. Entries are posted in the database transaction that
inserts their transaction row (the ledger never adds entries to a committed transaction), so
every posted entry is still summed at commit.

SQLite gets neither: its writer is the only one, and ``audit()`` checks balance there.

Both drop ``ix_transactions_member_spend``: it served the member spend caps' sums, which budgets
replaced (migration 0018); no query filters transactions by member since, and every charge by a
workspace member paid for its entry. The other indexes on ``transactions`` each serve a read:
the key (idempotency), history by customer, by spender and by counterparty, late usage by
moment, a charge's reversals, a hold's extends and commits; all but the customer's history are
partial, so a plain charge writes three (the primary key, the key, the history).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | Sequence[str] | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One OUT row per charge applied, in order; a single row with position 0 when nothing ran
# ('due': a customer has due work).
_CHARGE = """CREATE FUNCTION creditkit_charge(
    p_now timestamptz, p_starts timestamptz[], p_locked text[], p_keys text[],
    p_customers text[], p_units text[], p_amounts bigint[], p_actions text[], p_spenders text[],
    p_requests text[], p_metadata text[], p_occurred timestamptz[], p_scopes text[],
    p_consumption bigint[])
RETURNS TABLE (charge_position integer, status text, transaction_id bigint, customer_id bigint,
    customer_kind text, next_due_at timestamptz, budgeted boolean, draw_accounts bigint[],
    draw_amounts bigint[], available_after bigint)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    n integer := coalesce(array_length(p_keys, 1), 0);
    i integer;
    j integer;
    ancestors_text text;
    budget_path text[];
    scope text[];
    accounts_live bigint[];
    balances_live bigint[];
    applying boolean[];
    spendable bigint;
    total bigint;
    left_steps bigint;
    part bigint;
    tid bigint;
    k integer;
    c_id bigint;
    any_due boolean;
    locked_ids text[];
    locked_keys bigint[];
    locked_kinds text[];
    locked_dues timestamptz[];
    locked_budgeted boolean[];
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
    -- A key recorded already fails the transaction row's insert (its unique index): the
    -- caller then runs the batch again in replay mode, through the Python path.
    FOR i IN 1 .. n LOOP
        k := array_position(locked_ids, p_customers[i]);
        IF k IS NULL OR p_amounts[i] <= 0 THEN
            RETURN;
        END IF;
        c_id := locked_keys[k];
        -- The budgets on the spender's path up to the customer (''), as check_spend reads them.
        budget_path := NULL;
        IF p_spenders[i] IS NOT NULL THEN
            SELECT s.ancestors INTO ancestors_text FROM spenders s
                WHERE s.customer_id = c_id AND s.external_id = p_spenders[i];
            IF NOT FOUND THEN
                RETURN;
            END IF;
            budget_path := ARRAY[p_spenders[i]] || ARRAY(
                SELECT a.name FROM json_array_elements_text(ancestors_text::json)
                    WITH ORDINALITY AS a(name, level) ORDER BY a.level DESC) || ARRAY[''];
        ELSIF locked_budgeted[k] THEN
            budget_path := ARRAY[''];
        END IF;
        IF budget_path IS NOT NULL AND EXISTS (
            SELECT 1 FROM budgets b LEFT JOIN budget_usage u ON u.customer_id = b.customer_id
                AND u.spender = b.spender AND u.unit = b.unit AND u.period = b.period
                AND u.period_start = CASE b.period WHEN 'hour' THEN p_starts[1]
                    WHEN 'day' THEN p_starts[2] WHEN 'week' THEN p_starts[3]
                    WHEN 'month' THEN p_starts[4] ELSE p_starts[5] END
            WHERE b.customer_id = c_id AND b.unit = p_units[i] AND b.spender = ANY(budget_path)
                AND p_amounts[i] > greatest(0, b.cap - coalesce(u.used, 0))) THEN
            RETURN;
        END IF;
        -- The live grants in burn-down order (kernel.burn_down_key), read after the lock.
        scope := ARRAY(SELECT json_array_elements_text(p_scopes[i]::json));
        SELECT coalesce(array_agg(a.id ORDER BY g.priority, g.expires_at IS NULL,
                    coalesce(g.expires_at, g.effective_at), g.effective_at, a.id), '{}'),
                coalesce(array_agg(a.balance ORDER BY g.priority, g.expires_at IS NULL,
                    coalesce(g.expires_at, g.effective_at), g.effective_at, a.id), '{}'),
                coalesce(array_agg(g.applies_to IS NULL OR EXISTS (
                        SELECT 1 FROM json_array_elements_text(g.applies_to::json) AS s(name)
                        WHERE s.name = ANY(scope))
                    ORDER BY g.priority, g.expires_at IS NULL,
                    coalesce(g.expires_at, g.effective_at), g.effective_at, a.id), '{}')
            INTO accounts_live, balances_live, applying
            FROM accounts a JOIN grants g ON g.account_id = a.id
            WHERE a.customer_id = c_id AND a.unit = p_units[i] AND a.kind = 'grant'
                AND a.balance > 0 AND g.effective_at <= p_now
                AND (g.expires_at IS NULL OR p_now < g.expires_at);
        spendable := 0;
        total := 0;
        FOR j IN 1 .. coalesce(array_length(accounts_live, 1), 0) LOOP
            total := total + balances_live[j];
            IF applying[j] THEN
                spendable := spendable + balances_live[j];
            END IF;
        END LOOP;
        IF p_amounts[i] > spendable THEN
            RETURN;  -- a shortfall: headroom, debt or a refusal, the Python path's to decide
        END IF;
        draw_accounts := '{}';
        draw_amounts := '{}';
        left_steps := p_amounts[i];
        FOR j IN 1 .. coalesce(array_length(accounts_live, 1), 0) LOOP
            EXIT WHEN left_steps = 0;
            IF applying[j] THEN
                part := least(balances_live[j], left_steps);
                draw_accounts := draw_accounts || accounts_live[j];
                draw_amounts := draw_amounts || part;
                left_steps := left_steps - part;
            END IF;
        END LOOP;
        INSERT INTO transactions (idempotency_key, kind, status, customer_id, counterparty_id,
                unit, amount, action, hold_id, member, spender, request, outcome, metadata,
                created_at, occurred_at, reverses_id)
            VALUES (p_keys[i], 'charge', 'applied', c_id, NULL, p_units[i], p_amounts[i],
                p_actions[i], NULL, NULL, p_spenders[i], p_requests[i], NULL,
                p_metadata[i]::jsonb, p_now, p_occurred[i], NULL)
            RETURNING id INTO tid;
        INSERT INTO entries (transaction_id, account_id, unit, amount)
            SELECT tid, leg.account_id, p_units[i], leg.amount
            FROM unnest(draw_accounts || p_consumption[i],
                    ARRAY(SELECT -d FROM unnest(draw_amounts) AS d) || p_amounts[i])
                WITH ORDINALITY AS leg(account_id, amount, ordinal)
            ORDER BY leg.ordinal;
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
        -- The usage rollup (creditkit.usage.rollups) of the charge's hour, action and spender;
        -- a catalog's dimensions are still counted by the rollups' hook. Buckets are hours from
        -- the epoch (creditkit.usage.buckets.BUCKET_SECONDS), at the moment the usage counts.
        INSERT INTO usage_rollups (customer_id, unit, bucket_start, action, member, spender,
                steps, charges, issued, expired)
            VALUES (c_id, p_units[i],
                date_bin(interval '3600 seconds', coalesce(p_occurred[i], p_now),
                    timestamptz '1970-01-01 00:00:00+00'), coalesce(p_actions[i], ''), '',
                coalesce(p_spenders[i], ''), p_amounts[i], 1, 0, 0)
        ON CONFLICT (customer_id, unit, bucket_start, action, member, spender) DO UPDATE SET
            steps = usage_rollups.steps + EXCLUDED.steps,
            charges = usage_rollups.charges + EXCLUDED.charges;
        charge_position := i;
        status := 'applied';
        transaction_id := tid;
        customer_id := c_id;
        customer_kind := locked_kinds[k];
        next_due_at := locked_dues[k];
        budgeted := locked_budgeted[k];
        available_after := total - p_amounts[i];
        RETURN NEXT;
    END LOOP;
END $$"""

_CHARGE_DROP = (
    "DROP FUNCTION IF EXISTS creditkit_charge(timestamptz, timestamptz[], text[], text[],"
    " text[], text[], bigint[], text[], text[], text[], text[], timestamptz[], text[], bigint[])"
)

_BALANCED_PER_TRANSACTION = [
    "DROP TRIGGER entries_balanced ON entries",
    "DROP FUNCTION creditkit_entries_balanced()",
    """CREATE FUNCTION creditkit_transaction_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        unbalanced record;
    BEGIN
        SELECT e.unit, sum(e.amount) AS total INTO unbalanced FROM entries e
        WHERE e.transaction_id = NEW.id GROUP BY e.unit HAVING sum(e.amount) <> 0 LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'creditkit: transaction % is unbalanced in unit %: entries sum to %',
                NEW.id, unbalanced.unit, unbalanced.total
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE CONSTRAINT TRIGGER transactions_balanced AFTER INSERT ON transactions
        DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION creditkit_transaction_balanced()""",
]

_BALANCED_PER_ENTRY = [
    "DROP TRIGGER transactions_balanced ON transactions",
    "DROP FUNCTION creditkit_transaction_balanced()",
    """CREATE FUNCTION creditkit_entries_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        total numeric;
    BEGIN
        SELECT sum(amount) INTO total FROM entries
        WHERE transaction_id = NEW.transaction_id AND unit = NEW.unit;
        IF total <> 0 THEN
            RAISE EXCEPTION 'creditkit: transaction % is unbalanced in unit %: entries sum to %',
                NEW.transaction_id, NEW.unit, total
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE CONSTRAINT TRIGGER entries_balanced AFTER INSERT ON entries
        DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION creditkit_entries_balanced()""",
]


def upgrade() -> None:
    op.drop_index("ix_transactions_member_spend", table_name="transactions")
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_CHARGE)
    for statement in _BALANCED_PER_TRANSACTION:
        op.execute(statement)


def downgrade() -> None:
    op.create_index(
        "ix_transactions_member_spend",
        "transactions",
        ["customer_id", "member", "id"],
        sqlite_where=sa.text("member IS NOT NULL"),
        postgresql_where=sa.text("member IS NOT NULL"),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in _BALANCED_PER_ENTRY:
        op.execute(statement)
    op.execute(_CHARGE_DROP)
