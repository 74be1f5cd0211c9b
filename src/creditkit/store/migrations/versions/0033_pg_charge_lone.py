"""PostgreSQL: a charge alone goes to a function of scalar parameters, and the accounts' guard
runs only when an update would break it.

``creditkit_charge_lone`` is ``creditkit_charge_one`` (0027's body, 0031) for a batch of exactly
one charge, with each argument a scalar instead of a one-element array: the client dumps six
arrays fewer (psycopg builds every array element by element, in Python; for one charge that was
most of the call's client CPU) and the server parses none. The bounds of the budget periods are
worked out by the function from ``p_now`` (``date_trunc`` in UTC: the hour, the day, the ISO
week from Monday, the month, and 1970 for ``lifetime``, as ``creditkit.ledger.spending`` does),
and only when the charge has budgets to check. What it decides, reads, writes and returns is
``creditkit_charge_one``'s for the same charge: the same lock, the same first charge left to the
Python path (here: the only one), the same rows; it returns a row with position 1 when it
applied the charge, 0 when the customer has due work, none otherwise.

``accounts_guard`` (migration 0001) was a plpgsql call on every update of an account, that is on
every balance the entries' trigger moves: it refuses a balance changed other than by that
trigger, and any change of an account's identity. It now has a ``WHEN`` condition that is true
exactly when the function would refuse, so the function runs only to refuse. A ``WHEN``
condition is evaluated before the trigger's call raises the trigger depth, so the entries'
trigger's update is at depth 1 there (2 inside the function, as before).

Revision ID: 0033
Revises: 0031
Create Date: 2026-12-08
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0033"
down_revision: str | Sequence[str] | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One OUT row: position 1 and 'applied', or position 0 and 'due' (a customer with due work,
# nothing written); none when the Python path is to decide the charge.
_LONE = """CREATE FUNCTION creditkit_charge_lone(
    p_now timestamptz, p_key text, p_customer text, p_unit text, p_amount bigint,
    p_action text, p_spender text, p_request text, p_metadata text, p_occurred timestamptz,
    p_scope text, p_consumption bigint)
RETURNS TABLE (charge_position integer, status text, transaction_id bigint, customer_id bigint,
    customer_kind text, next_due_at timestamptz, budgeted boolean, draw_accounts bigint[],
    draw_amounts bigint[], available_after bigint)
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    c_id bigint;
    c_kind text;
    c_due timestamptz;
    c_budgeted boolean;
    ancestors_text text;
    budget_path text[];
    starts timestamptz[];
    scope_names text[];
    accounts_live bigint[];
    balances_live bigint[];
    applying boolean[];
    spendable bigint := 0;
    total bigint := 0;
    left_steps bigint;
    part bigint;
    j integer;
    tid bigint;
BEGIN
    SELECT x.id, x.kind, x.next_due_at, x.budgeted INTO c_id, c_kind, c_due, c_budgeted
        FROM customers x WHERE x.external_id = p_customer FOR NO KEY UPDATE OF x;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF c_due <= p_now THEN
        charge_position := 0;
        status := 'due';
        RETURN NEXT;
        RETURN;
    END IF;
    IF p_amount <= 0 THEN
        RETURN;
    END IF;
    IF p_spender IS NOT NULL THEN
        SELECT s.ancestors INTO ancestors_text FROM spenders s
            WHERE s.customer_id = c_id AND s.external_id = p_spender;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        budget_path := ARRAY[p_spender] || ARRAY(
            SELECT a.name FROM json_array_elements_text(ancestors_text::json)
                WITH ORDINALITY AS a(name, level) ORDER BY a.level DESC) || ARRAY[''];
    ELSIF c_budgeted THEN
        budget_path := ARRAY[''];
    END IF;
    IF budget_path IS NOT NULL THEN
        starts := ARRAY[date_trunc('hour', p_now, 'UTC'), date_trunc('day', p_now, 'UTC'),
            date_trunc('week', p_now, 'UTC'), date_trunc('month', p_now, 'UTC'),
            timestamptz '1970-01-01 00:00:00+00'];
        IF EXISTS (
            SELECT 1 FROM budgets b LEFT JOIN budget_usage u ON u.customer_id = b.customer_id
                AND u.spender = b.spender AND u.unit = b.unit AND u.period = b.period
                AND u.period_start = CASE b.period WHEN 'hour' THEN starts[1]
                    WHEN 'day' THEN starts[2] WHEN 'week' THEN starts[3]
                    WHEN 'month' THEN starts[4] ELSE starts[5] END
            WHERE b.customer_id = c_id AND b.unit = p_unit AND b.spender = ANY(budget_path)
                AND p_amount > greatest(0, b.cap - coalesce(u.used, 0))) THEN
            RETURN;
        END IF;
    END IF;
    scope_names := CASE WHEN p_scope = '[]' THEN '{}'::text[]
        ELSE ARRAY(SELECT json_array_elements_text(p_scope::json)) END;
    SELECT coalesce(array_agg(a.id ORDER BY g.priority, g.expires_at IS NULL,
                coalesce(g.expires_at, g.effective_at), g.effective_at, a.id), '{}'),
            coalesce(array_agg(a.balance ORDER BY g.priority, g.expires_at IS NULL,
                coalesce(g.expires_at, g.effective_at), g.effective_at, a.id), '{}'),
            coalesce(array_agg(g.applies_to IS NULL OR EXISTS (
                    SELECT 1 FROM json_array_elements_text(g.applies_to::json) AS s(name)
                    WHERE s.name = ANY(scope_names))
                ORDER BY g.priority, g.expires_at IS NULL,
                coalesce(g.expires_at, g.effective_at), g.effective_at, a.id), '{}')
        INTO accounts_live, balances_live, applying
        FROM accounts a JOIN grants g ON g.account_id = a.id
        WHERE a.customer_id = c_id AND a.unit = p_unit AND a.kind = 'grant'
            AND a.balance > 0 AND g.effective_at <= p_now
            AND (g.expires_at IS NULL OR p_now < g.expires_at);
    FOR j IN 1 .. coalesce(array_length(accounts_live, 1), 0) LOOP
        total := total + balances_live[j];
        IF applying[j] THEN
            spendable := spendable + balances_live[j];
        END IF;
    END LOOP;
    IF p_amount > spendable THEN
        RETURN;
    END IF;
    draw_accounts := '{}';
    draw_amounts := '{}';
    left_steps := p_amount;
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
        VALUES (p_key, 'charge', 'applied', c_id, NULL, p_unit, p_amount, p_action, NULL, NULL,
            p_spender, p_request, NULL, p_metadata::jsonb, p_now, p_occurred, NULL)
        RETURNING id INTO tid;
    INSERT INTO entries (transaction_id, account_id, unit, amount)
        SELECT tid, leg.account_id, p_unit, leg.amount
        FROM unnest(draw_accounts || p_consumption,
                ARRAY(SELECT -d FROM unnest(draw_amounts) AS d) || p_amount)
            WITH ORDINALITY AS leg(account_id, amount, ordinal)
        ORDER BY leg.ordinal;
    IF budget_path IS NOT NULL THEN
        INSERT INTO budget_usage (customer_id, spender, unit, period, period_start, used)
            SELECT b.customer_id, b.spender, b.unit, b.period,
                CASE b.period WHEN 'hour' THEN starts[1] WHEN 'day' THEN starts[2]
                    WHEN 'week' THEN starts[3] WHEN 'month' THEN starts[4]
                    ELSE starts[5] END, p_amount
            FROM budgets b
            WHERE b.customer_id = c_id AND b.unit = p_unit AND b.spender = ANY(budget_path)
            ORDER BY b.spender, b.period
        ON CONFLICT (customer_id, spender, unit, period, period_start)
            DO UPDATE SET used = budget_usage.used + EXCLUDED.used;
    END IF;
    INSERT INTO usage_rollups (customer_id, unit, bucket_start, action, member, spender,
            steps, charges, issued, expired)
        VALUES (c_id, p_unit,
            date_bin(interval '3600 seconds', coalesce(p_occurred, p_now),
                timestamptz '1970-01-01 00:00:00+00'), coalesce(p_action, ''), '',
            coalesce(p_spender, ''), p_amount, 1, 0, 0)
    ON CONFLICT (customer_id, unit, bucket_start, action, member, spender) DO UPDATE SET
        steps = usage_rollups.steps + EXCLUDED.steps,
        charges = usage_rollups.charges + EXCLUDED.charges;
    charge_position := 1;
    status := 'applied';
    transaction_id := tid;
    customer_id := c_id;
    customer_kind := c_kind;
    next_due_at := c_due;
    budgeted := c_budgeted;
    available_after := total - p_amount;
    RETURN NEXT;
END $$"""

_LONE_DROP = (
    "DROP FUNCTION IF EXISTS creditkit_charge_lone(timestamptz, text, text, text, bigint, text,"
    " text, text, text, timestamptz, text, bigint)"
)

_GUARD_WHEN = """CREATE TRIGGER accounts_guard BEFORE UPDATE ON accounts
    FOR EACH ROW
    WHEN ((NEW.balance IS DISTINCT FROM OLD.balance AND pg_trigger_depth() < 1)
        OR NEW.kind <> OLD.kind OR NEW.unit <> OLD.unit
        OR NEW.customer_id IS DISTINCT FROM OLD.customer_id)
    EXECUTE FUNCTION creditkit_accounts_guard()"""

# Migration 0001's trigger, as it was.
_GUARD_ALWAYS = """CREATE TRIGGER accounts_guard BEFORE UPDATE ON accounts
    FOR EACH ROW EXECUTE FUNCTION creditkit_accounts_guard()"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_LONE)
    op.execute("DROP TRIGGER accounts_guard ON accounts")
    op.execute(_GUARD_WHEN)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER accounts_guard ON accounts")
    op.execute(_GUARD_ALWAYS)
    op.execute(_LONE_DROP)
