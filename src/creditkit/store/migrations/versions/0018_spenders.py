"""Spenders, budgets, scoped grants and debt.

- ``spenders``: a tree of who spends under each customer; ``transactions.spender`` records who
  spent (NULL: the customer itself).
- ``budgets`` and ``budget_usage``: caps per spender, unit and period, and what each period
  used. Member spend caps become month budgets on member spenders (every workspace member is a
  spender of kind ``member``); what members spent before is counted into the calendar months
  it was spent in, and ``member_spend_caps`` goes.
- ``grants.applies_to``: the actions or categories a grant pays for.
- ``debt_limits`` and the account kind ``debt``: the one account that may go below zero.
- ``setting_writes``: idempotency of writes that set a budget or a debt limit.
- ``customers.budgeted``: whether a charge naming no spender must read budgets.

PostgreSQL: the locking read of migration 0016 returns ``budgeted`` and ``applies_to`` too.
SQLite: the accounts' CHECK is rewritten in place (SQLite's documented procedure for a change
that leaves the stored rows as they are), since a rebuild of ``accounts`` would copy every row.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from creditkit.store.tables import UtcDateTime

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")

_OLD_SHAPE = (
    "(kind IN ('grant', 'hold') AND customer_id IS NOT NULL AND balance IS NOT NULL"
    " AND balance >= 0) OR (kind IN ('issuance', 'consumption', 'expiry') AND customer_id IS NULL"
    " AND balance IS NULL)"
)
_NEW_SHAPE = (
    _OLD_SHAPE + " OR (kind = 'debt' AND customer_id IS NOT NULL AND balance IS NOT NULL"
    " AND balance <= 0)"
)

_LOCK_FUNCTION = """CREATE FUNCTION creditkit_lock_customers_with_grants(external_ids text[])
RETURNS TABLE (customer_id bigint, external_id text, customer_kind text,
    next_due_at timestamptz, budgeted boolean, account_id bigint, unit text, remaining bigint,
    source text, priority integer, effective_at timestamptz, expires_at timestamptz,
    transferable boolean, applies_to text)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM 1 FROM customers c WHERE c.external_id = ANY(external_ids)
        ORDER BY c.id FOR NO KEY UPDATE OF c;
    RETURN QUERY
        SELECT c.id::bigint, c.external_id::text, c.kind::text, c.next_due_at, c.budgeted,
            a.id::bigint, a.unit::text, a.balance::bigint, g.source::text, g.priority::integer,
            g.effective_at, g.expires_at, g.transferable, g.applies_to
        FROM customers c
        LEFT JOIN accounts a ON a.customer_id = c.id AND a.kind = 'grant' AND a.balance > 0
        LEFT JOIN grants g ON g.account_id = a.id
        WHERE c.external_id = ANY(external_ids)
        ORDER BY c.id;
END $$"""

_LOCK_FUNCTION_0016 = """CREATE FUNCTION creditkit_lock_customers_with_grants(external_ids text[])
RETURNS TABLE (customer_id bigint, external_id text, customer_kind text,
    next_due_at timestamptz, account_id bigint, unit text, remaining bigint, source text,
    priority integer, effective_at timestamptz, expires_at timestamptz, transferable boolean)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
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


def _month_start(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _set_account_shape(old: str, new: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE accounts DROP CONSTRAINT ck_accounts_kind_shape")
        op.execute(f"ALTER TABLE accounts ADD CONSTRAINT ck_accounts_kind_shape CHECK ({new})")
        return
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'accounts'"
    ).scalar_one()
    if sql.count(old) != 1:
        raise RuntimeError("creditkit: the accounts table's CHECK is not the one expected")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'accounts'",
        (sql.replace(old, new),),
    )
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def _move_member_caps() -> None:
    """Every member becomes a spender of kind member; each cap a month budget; what members
    spent is counted into the calendar months it was spent in."""
    bind = op.get_bind()
    now = datetime.now(UTC)
    members = sa.table(
        "workspace_members", sa.column("workspace_id"), sa.column("user_id"), sa.column("added_at")
    )
    customers = sa.table("customers", sa.column("id"), sa.column("external_id"))
    spenders = sa.table(
        "spenders",
        sa.column("customer_id"),
        sa.column("external_id"),
        sa.column("kind"),
        sa.column("parent_id"),
        sa.column("depth"),
        sa.column("path"),
        sa.column("ancestors"),
        sa.column("created_at", UtcDateTime),
    )
    rows = bind.execute(
        sa.select(members.c.workspace_id, customers.c.external_id, members.c.added_at).join(
            customers, customers.c.id == members.c.user_id
        )
    ).fetchall()
    for row in rows:
        added_at = row.added_at
        if not isinstance(added_at, datetime):
            added_at = datetime.fromtimestamp(int(added_at) / 1_000_000, UTC)
        bind.execute(
            spenders.insert().values(
                customer_id=row.workspace_id,
                external_id=row.external_id,
                kind="member",
                parent_id=None,
                depth=1,
                path="/",
                ancestors="[]",
                created_at=added_at,
            )
        )
    caps = sa.table(
        "member_spend_caps",
        sa.column("workspace_id"),
        sa.column("user_id"),
        sa.column("unit"),
        sa.column("cap"),
    )
    budgets = sa.table(
        "budgets",
        sa.column("customer_id"),
        sa.column("spender"),
        sa.column("unit"),
        sa.column("period"),
        sa.column("cap"),
        sa.column("updated_at", UtcDateTime),
    )
    for cap in bind.execute(
        sa.select(caps.c.workspace_id, customers.c.external_id, caps.c.unit, caps.c.cap).join(
            customers, customers.c.id == caps.c.user_id
        )
    ).fetchall():
        bind.execute(
            budgets.insert().values(
                customer_id=cap.workspace_id,
                spender=cap.external_id,
                unit=cap.unit,
                period="month",
                cap=cap.cap,
                updated_at=now,
            )
        )
    transactions = sa.table(
        "transactions",
        sa.column("customer_id"),
        sa.column("member"),
        sa.column("unit"),
        sa.column("amount"),
        sa.column("kind"),
        sa.column("status"),
        sa.column("created_at", UtcDateTime),
    )
    used: dict[tuple[int, str, str, datetime], int] = {}
    result = bind.execute(
        sa.select(
            transactions.c.customer_id,
            transactions.c.member,
            transactions.c.unit,
            transactions.c.amount,
            transactions.c.created_at,
        ).where(
            transactions.c.member.is_not(None),
            transactions.c.status == "applied",
            transactions.c.kind.in_(("charge", "commit")),
        )
    )
    for spend in result:
        key = (spend.customer_id, spend.member, spend.unit, _month_start(spend.created_at))
        used[key] = used.get(key, 0) + spend.amount
    usage = sa.table(
        "budget_usage",
        sa.column("customer_id"),
        sa.column("spender"),
        sa.column("unit"),
        sa.column("period"),
        sa.column("period_start", UtcDateTime),
        sa.column("used"),
    )
    if used:
        bind.execute(
            usage.insert(),
            [
                {
                    "customer_id": customer_id,
                    "spender": member,
                    "unit": unit,
                    "period": "month",
                    "period_start": start,
                    "used": steps,
                }
                for (customer_id, member, unit, start), steps in used.items()
            ],
        )


def upgrade() -> None:
    op.add_column(
        "customers",
        sa.Column("budgeted", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("transactions", sa.Column("spender", sa.String(length=255), nullable=True))
    op.create_index(
        "ix_transactions_spender_history",
        "transactions",
        ["customer_id", "spender", "id"],
        sqlite_where=sa.text("spender IS NOT NULL"),
        postgresql_where=sa.text("spender IS NOT NULL"),
    )
    op.add_column("grants", sa.Column("applies_to", sa.Text(), nullable=True))
    op.create_table(
        "spenders",
        sa.Column("id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("parent_id", _ID, nullable=True),
        sa.Column("depth", sa.SmallInteger(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("ancestors", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("depth BETWEEN 1 AND 8", name=op.f("ck_spenders_depth_range")),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_spenders_customer_id")
        ),
        sa.ForeignKeyConstraint(["parent_id"], ["spenders.id"], name=op.f("fk_spenders_parent_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spenders")),
        sa.UniqueConstraint(
            "customer_id", "external_id", name=op.f("uq_spenders_customer_id_external_id")
        ),
    )
    op.create_table(
        "budgets",
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("spender", sa.String(length=255), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("cap", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("cap >= 0", name=op.f("ck_budgets_cap_not_negative")),
        sa.CheckConstraint(
            "period IN ('hour', 'day', 'week', 'month', 'lifetime')",
            name=op.f("ck_budgets_period_known"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_budgets_customer_id")
        ),
        sa.ForeignKeyConstraint(["unit"], ["units.name"], name=op.f("fk_budgets_unit")),
        sa.PrimaryKeyConstraint(
            "customer_id", "spender", "unit", "period", name=op.f("pk_budgets")
        ),
    )
    op.create_table(
        "budget_usage",
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("spender", sa.String(length=255), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("period_start", UtcDateTime(), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("used >= 0", name=op.f("ck_budget_usage_used_not_negative")),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_budget_usage_customer_id")
        ),
        sa.ForeignKeyConstraint(["unit"], ["units.name"], name=op.f("fk_budget_usage_unit")),
        sa.PrimaryKeyConstraint(
            "customer_id", "spender", "unit", "period", "period_start", name=op.f("pk_budget_usage")
        ),
    )
    op.create_table(
        "debt_limits",
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_debt_limits_amount_not_negative")),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_debt_limits_customer_id")
        ),
        sa.ForeignKeyConstraint(["unit"], ["units.name"], name=op.f("fk_debt_limits_unit")),
        sa.PrimaryKeyConstraint("customer_id", "unit", name=op.f("pk_debt_limits")),
    )
    op.create_table(
        "setting_writes",
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_setting_writes_customer_id")
        ),
        sa.PrimaryKeyConstraint("idempotency_key", name=op.f("pk_setting_writes")),
    )
    _set_account_shape(_OLD_SHAPE, _NEW_SHAPE)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION creditkit_lock_customers_with_grants(text[])")
        op.execute(_LOCK_FUNCTION)
    _move_member_caps()
    op.drop_table("member_spend_caps")


def downgrade() -> None:
    op.create_table(
        "member_spend_caps",
        sa.Column("workspace_id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("cap", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("cap >= 0", name=op.f("ck_member_spend_caps_cap_not_negative")),
        sa.ForeignKeyConstraint(["unit"], ["units.name"], name=op.f("fk_member_spend_caps_unit")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["customers.id"], name=op.f("fk_member_spend_caps_user_id")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["customers.id"], name=op.f("fk_member_spend_caps_workspace_id")
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id", "user_id", "unit", name=op.f("pk_member_spend_caps")
        ),
    )
    op.execute(
        "INSERT INTO member_spend_caps (workspace_id, user_id, unit, cap, updated_at)"
        " SELECT b.customer_id, c.id, b.unit, b.cap, b.updated_at FROM budgets b"
        " JOIN customers c ON c.external_id = b.spender"
        " JOIN workspace_members m ON m.workspace_id = b.customer_id AND m.user_id = c.id"
        " WHERE b.period = 'month'"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION creditkit_lock_customers_with_grants(text[])")
        op.execute(_LOCK_FUNCTION_0016)
    _set_account_shape(_NEW_SHAPE, _OLD_SHAPE)
    for table in ("setting_writes", "debt_limits", "budget_usage", "budgets", "spenders"):
        op.drop_table(table)
    # Not batch rebuilds: on SQLite those would recreate the tables without their triggers.
    op.execute("ALTER TABLE grants DROP COLUMN applies_to")
    op.drop_index("ix_transactions_spender_history", table_name="transactions")
    op.execute("ALTER TABLE transactions DROP COLUMN spender")
    op.execute("ALTER TABLE customers DROP COLUMN budgeted")
