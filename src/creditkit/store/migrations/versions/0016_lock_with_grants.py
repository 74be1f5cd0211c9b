"""PostgreSQL: a charge's read in one round trip. A function locks the customers (in id order,
as the ledger always locks them) and then reads their grants with credits left.

Why a function: in READ COMMITTED a statement that waited for a row lock still reads every other
table as of before the wait, so the grants cannot be joined into the locking statement (they
would be as the writer before us left them, not as it committed them). Each statement of a
VOLATILE function takes a snapshot of its own, so the grants read inside it, after the lock, see
what the writer before committed. SQLite needs none of this: a write transaction there is the
only writer, and its locking read joins the grants already.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The columns are those of ``flavor.lock_statement(count, with_grants=True)``, in its order, so
# that one parser reads both.
_CREATE = """CREATE FUNCTION creditkit_lock_customers_with_grants(external_ids text[])
RETURNS TABLE (customer_id bigint, external_id text, customer_kind text,
    next_due_at timestamptz, account_id bigint, unit text, remaining bigint, source text,
    priority integer, effective_at timestamptz, expires_at timestamptz, transferable boolean)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    -- NO KEY UPDATE: conflicts with other ledger writers of these customers, not with
    -- foreign-key checks of rows that merely reference them.
    PERFORM 1 FROM customers c WHERE c.external_id = ANY(external_ids)
        ORDER BY c.id FOR NO KEY UPDATE OF c;
    RETURN QUERY
        SELECT c.id::bigint, c.external_id::text, c.kind::text, c.next_due_at,
            a.id::bigint, a.unit::text, a.balance::bigint, g.source::text, g.priority::integer,
            g.effective_at, g.expires_at, g.transferable
        FROM customers c
        LEFT JOIN accounts a ON a.customer_id = c.id AND a.kind = 'grant' AND a.balance > 0
        LEFT JOIN grants g ON g.account_id = a.id
        WHERE c.external_id = ANY(external_ids)
        ORDER BY c.id;
END $$"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_CREATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS creditkit_lock_customers_with_grants(text[])")
