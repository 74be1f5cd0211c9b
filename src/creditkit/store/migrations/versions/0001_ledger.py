"""The ledger: units, customers, accounts, transactions, entries, grants, holds, and the
triggers through which the database itself keeps cached balances and refuses to rewrite history.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from creditkit.store.tables import UtcDateTime

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Both databases: an entry insert adds its amount to its account's cached balance (where the
# account caches one), so the cache cannot drift from the entries even for raw SQL, and the
# accounts' CHECK (balance >= 0) turns an overdraft into an error. Entries and transactions are
# append-only: nothing may update or delete them.
SQLITE_TRIGGERS = [
    """CREATE TRIGGER entries_apply AFTER INSERT ON entries BEGIN
        UPDATE accounts SET balance = balance + NEW.amount
        WHERE id = NEW.account_id AND balance IS NOT NULL;
    END""",
    """CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries BEGIN
        SELECT RAISE(ABORT, 'creditkit: ledger entries are immutable');
    END""",
    """CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries BEGIN
        SELECT RAISE(ABORT, 'creditkit: ledger entries are immutable');
    END""",
    """CREATE TRIGGER transactions_no_update BEFORE UPDATE ON transactions BEGIN
        SELECT RAISE(ABORT, 'creditkit: ledger transactions are immutable');
    END""",
    """CREATE TRIGGER transactions_no_delete BEFORE DELETE ON transactions BEGIN
        SELECT RAISE(ABORT, 'creditkit: ledger transactions are immutable');
    END""",
]

# PostgreSQL adds what SQLite cannot express: a deferred constraint trigger that, at commit,
# refuses any transaction whose entries do not sum to zero per unit, and a guard that refuses a
# cached balance changed by anything but the entry trigger.
POSTGRESQL_TRIGGERS = [
    """CREATE FUNCTION creditkit_entries_apply() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE accounts SET balance = balance + NEW.amount
        WHERE id = NEW.account_id AND balance IS NOT NULL;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER entries_apply AFTER INSERT ON entries
        FOR EACH ROW EXECUTE FUNCTION creditkit_entries_apply()""",
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
    """CREATE FUNCTION creditkit_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'creditkit: % rows are immutable', TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END $$""",
    """CREATE TRIGGER entries_immutable BEFORE UPDATE OR DELETE ON entries
        FOR EACH ROW EXECUTE FUNCTION creditkit_immutable()""",
    """CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries
        FOR EACH STATEMENT EXECUTE FUNCTION creditkit_immutable()""",
    """CREATE TRIGGER transactions_immutable BEFORE UPDATE OR DELETE ON transactions
        FOR EACH ROW EXECUTE FUNCTION creditkit_immutable()""",
    """CREATE TRIGGER transactions_no_truncate BEFORE TRUNCATE ON transactions
        FOR EACH STATEMENT EXECUTE FUNCTION creditkit_immutable()""",
    """CREATE FUNCTION creditkit_accounts_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- Depth 1 is a statement from outside; the entry trigger's own update runs at depth 2.
        IF NEW.balance IS DISTINCT FROM OLD.balance AND pg_trigger_depth() < 2 THEN
            RAISE EXCEPTION 'creditkit: account % balance changes only through entries', OLD.id
                USING ERRCODE = 'restrict_violation';
        END IF;
        IF NEW.kind <> OLD.kind OR NEW.unit <> OLD.unit
            OR NEW.customer_id IS DISTINCT FROM OLD.customer_id THEN
            RAISE EXCEPTION 'creditkit: account % identity is immutable', OLD.id
                USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER accounts_guard BEFORE UPDATE ON accounts
        FOR EACH ROW EXECUTE FUNCTION creditkit_accounts_guard()""",
]

POSTGRESQL_DROPS = [
    "DROP FUNCTION IF EXISTS creditkit_entries_apply() CASCADE",
    "DROP FUNCTION IF EXISTS creditkit_entries_balanced() CASCADE",
    "DROP FUNCTION IF EXISTS creditkit_immutable() CASCADE",
    "DROP FUNCTION IF EXISTS creditkit_accounts_guard() CASCADE",
]


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("next_due_at", UtcDateTime(), nullable=True),
        sa.Column(
            "metadata", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.CheckConstraint("kind IN ('user', 'workspace')", name=op.f("ck_customers_kind_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("external_id", name=op.f("uq_customers_external_id")),
    )
    op.create_table(
        "units",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("scale", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("scale BETWEEN 0 AND 6", name=op.f("ck_units_scale_range")),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_units")),
    )
    op.create_table(
        "accounts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("balance", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint(
            "(kind IN ('grant', 'hold') AND customer_id IS NOT NULL AND balance IS NOT NULL AND balance >= 0) OR (kind IN ('issuance', 'consumption', 'expiry') AND customer_id IS NULL AND balance IS NULL)",
            name=op.f("ck_accounts_kind_shape"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_accounts_customer_id")
        ),
        sa.ForeignKeyConstraint(["unit"], ["units.name"], name=op.f("fk_accounts_unit")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("id", "unit", name=op.f("uq_accounts_id_unit")),
    )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_accounts_live_grants",
            ["customer_id", "unit"],
            unique=False,
            sqlite_where=sa.text("kind = 'grant' AND balance > 0"),
            postgresql_where=sa.text("kind = 'grant' AND balance > 0"),
        )
        batch_op.create_index(
            "ix_accounts_system",
            ["kind", "unit"],
            unique=True,
            sqlite_where=sa.text("customer_id IS NULL"),
            postgresql_where=sa.text("customer_id IS NULL"),
        )

    op.create_table(
        "transactions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "counterparty_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=128), nullable=True),
        sa.Column("hold_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column(
            "metadata", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint(
            "(status = 'refused') = (outcome IS NOT NULL)",
            name=op.f("ck_transactions_outcome_shape"),
        ),
        sa.CheckConstraint(
            "status IN ('applied', 'refused')", name=op.f("ck_transactions_status_known")
        ),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_transactions_amount_not_negative")),
        sa.ForeignKeyConstraint(
            ["counterparty_id"], ["customers.id"], name=op.f("fk_transactions_counterparty_id")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_transactions_customer_id")
        ),
        sa.ForeignKeyConstraint(["unit"], ["units.name"], name=op.f("fk_transactions_unit")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transactions")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_transactions_idempotency_key")),
    )
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_transactions_counterparty_history",
            ["counterparty_id", "unit", "id"],
            unique=False,
            sqlite_where=sa.text("counterparty_id IS NOT NULL"),
            postgresql_where=sa.text("counterparty_id IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_transactions_customer_history", ["customer_id", "unit", "id"], unique=False
        )

    op.create_table(
        "entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "transaction_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_entries_amount_not_zero")),
        sa.ForeignKeyConstraint(
            ["account_id", "unit"],
            ["accounts.id", "accounts.unit"],
            name=op.f("fk_entries_account_id_unit"),
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"], ["transactions.id"], name=op.f("fk_entries_transaction_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entries")),
    )
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.create_index("ix_entries_transaction_id", ["transaction_id"], unique=False)

    op.create_table(
        "grants",
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("effective_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=True),
        sa.Column("transferable", sa.Boolean(), nullable=False),
        sa.Column("amount_granted", sa.BigInteger(), nullable=False),
        sa.Column("cost_basis_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column(
            "transaction_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "metadata", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.CheckConstraint(
            "(cost_basis_minor IS NULL AND currency IS NULL) OR (cost_basis_minor >= 0 AND currency IS NOT NULL)",
            name=op.f("ck_grants_cost_basis_shape"),
        ),
        sa.CheckConstraint("amount_granted > 0", name=op.f("ck_grants_amount_granted_positive")),
        sa.CheckConstraint(
            "expires_at IS NULL OR expires_at > effective_at",
            name=op.f("ck_grants_expires_after_start"),
        ),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_grants_account_id")),
        sa.ForeignKeyConstraint(
            ["transaction_id"], ["transactions.id"], name=op.f("fk_grants_transaction_id")
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_grants")),
    )
    op.create_table(
        "holds",
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("amount_held", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=128), nullable=True),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("amount_committed", sa.BigInteger(), nullable=True),
        sa.Column(
            "reserve_transaction_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "settle_transaction_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column(
            "metadata", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.CheckConstraint(
            "(status = 'committed') = (amount_committed IS NOT NULL) AND (amount_committed IS NULL OR amount_committed BETWEEN 0 AND amount_held)",
            name=op.f("ck_holds_committed_shape"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'committed', 'released', 'expired')",
            name=op.f("ck_holds_status_known"),
        ),
        sa.CheckConstraint("amount_held > 0", name=op.f("ck_holds_amount_held_positive")),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_holds_account_id")),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_holds_customer_id")
        ),
        sa.ForeignKeyConstraint(
            ["reserve_transaction_id"],
            ["transactions.id"],
            name=op.f("fk_holds_reserve_transaction_id"),
        ),
        sa.ForeignKeyConstraint(
            ["settle_transaction_id"],
            ["transactions.id"],
            name=op.f("fk_holds_settle_transaction_id"),
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_holds")),
    )
    with op.batch_alter_table("holds", schema=None) as batch_op:
        batch_op.create_index(
            "ix_holds_active",
            ["customer_id"],
            unique=False,
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )

    dialect = op.get_bind().dialect.name
    for statement in POSTGRESQL_TRIGGERS if dialect == "postgresql" else SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRESQL_DROPS:
            op.execute(statement)
    with op.batch_alter_table("holds", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_holds_active",
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )

    op.drop_table("holds")
    op.drop_table("grants")
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_index("ix_entries_transaction_id")

    op.drop_table("entries")
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_transactions_customer_history")
        batch_op.drop_index(
            "ix_transactions_counterparty_history",
            sqlite_where=sa.text("counterparty_id IS NOT NULL"),
            postgresql_where=sa.text("counterparty_id IS NOT NULL"),
        )

    op.drop_table("transactions")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_accounts_system",
            sqlite_where=sa.text("customer_id IS NULL"),
            postgresql_where=sa.text("customer_id IS NULL"),
        )
        batch_op.drop_index(
            "ix_accounts_live_grants",
            sqlite_where=sa.text("kind = 'grant' AND balance > 0"),
            postgresql_where=sa.text("kind = 'grant' AND balance > 0"),
        )

    op.drop_table("accounts")
    op.drop_table("units")
    op.drop_table("customers")
