"""The ledger's tables (SQLAlchemy Core). Alembic migrations create them; a test checks that the
migrations and this module never drift apart.

Shape of the double entry: every balance lives in an ``accounts`` row. A customer's credits are
``grant`` accounts (one per grant) and ``hold`` accounts (one per hold: the credits it sets
aside); ``issuance``, ``consumption`` and ``expiry`` are system accounts, one of each per
unit. Every movement is a ``transactions`` row with ``entries`` that sum to zero per unit.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

from creditkit.errors import InvariantViolation

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_epoch_microseconds(value: datetime) -> int:
    if value.tzinfo is None:
        raise ValueError("naive datetime: creditkit stores aware UTC datetimes only")
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_epoch_microseconds(value: int) -> datetime:
    # Integer arithmetic on a timedelta: exact, and a third of the cost of fromtimestamp and
    # replace (a charge reads a few of these per grant).
    return _EPOCH + timedelta(microseconds=int(value))


class UtcDateTime(sa.TypeDecorator[datetime]):
    """An aware UTC datetime: ``timestamptz`` on PostgreSQL, integer microseconds since the
    epoch on SQLite (which has no time type: integers compare correctly and exactly in SQL,
    where text timestamps compare correctly only while every writer formats them alike)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.BigInteger())
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return to_epoch_microseconds(value)
        if value.tzinfo is None:
            raise ValueError("naive datetime: creditkit stores aware UTC datetimes only")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return from_epoch_microseconds(value)
        if not isinstance(value, datetime):
            raise InvariantViolation(
                "a timestamp column reads back as a datetime", type(value).__name__
            )
        return value.astimezone(UTC)


Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

units = sa.Table(
    "units",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("scale", sa.SmallInteger, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.CheckConstraint("scale BETWEEN 0 AND 6", name="scale_range"),
)

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("external_id", sa.String(255), nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    # The earliest moment at which a hold or grant of this customer may fall due (expire). A lower
    # bound, never later than the truth: a write or read sweeps the customer only when now has
    # reached it, which keeps the hot path to one customer lookup when nothing is due.
    sa.Column("next_due_at", UtcDateTime, nullable=True),
    sa.Column("metadata", Json, nullable=False),
    # True once a budget is set on the customer itself: a charge that names no spender reads
    # budgets only then, so that a customer without one pays nothing for them.
    sa.Column("budgeted", sa.Boolean, nullable=False, server_default=sa.false()),
    # The IANA zone the customer states: its calendar-anchored periods follow it (NULL: none).
    sa.Column("time_zone", sa.String(64), nullable=True),
    sa.CheckConstraint("kind IN ('user', 'workspace')", name="kind_known"),
)

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("unit", sa.String(64), sa.ForeignKey("units.name"), nullable=False),
    sa.Column("customer_id", _ID, sa.ForeignKey("customers.id"), nullable=True),
    # Cached sum of the account's entries, kept by a database trigger on every entry insert
    # (PostgreSQL: once per statement, by the sum of the statement's entries per account).
    # NULL for system accounts: a cached balance there would be one row every write in the
    # whole ledger updates, serializing all customers behind one lock.
    sa.Column("balance", sa.BigInteger, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("id", "unit"),
    # Only a customer's debt account may go below zero (and never above it): what the customer
    # owes, taken on purpose within its debt limit, which the posting primitive checked.
    sa.CheckConstraint(
        "(kind IN ('grant', 'hold') AND customer_id IS NOT NULL"
        " AND balance IS NOT NULL AND balance >= 0)"
        " OR (kind IN ('issuance', 'consumption', 'expiry') AND customer_id IS NULL"
        " AND balance IS NULL)"
        " OR (kind = 'debt' AND customer_id IS NOT NULL AND balance IS NOT NULL"
        " AND balance <= 0)",
        name="kind_shape",
    ),
    sa.Index(
        "ix_accounts_system",
        "kind",
        "unit",
        unique=True,
        sqlite_where=sa.text("customer_id IS NULL"),
        postgresql_where=sa.text("customer_id IS NULL"),
    ),
    # Balance reads and burn-down touch a customer's grants, never its entries. The predicate
    # leaves ``balance`` out on purpose: an indexed column (predicates included) makes every
    # balance update on PostgreSQL a non-HOT update, so one account updated many times in a
    # transaction (a batch charging one customer) would leave a dead index entry per update.
    sa.Index(
        "ix_accounts_customer_grants",
        "customer_id",
        "unit",
        sqlite_where=sa.text("kind = 'grant'"),
        postgresql_where=sa.text("kind = 'grant'"),
    ),
)

transactions = sa.Table(
    "transactions",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("idempotency_key", sa.String(255), nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),
    # 'applied' wrote entries; 'refused' recorded a refusal (no entries) so that a replay of the
    # key gives the same refusal.
    sa.Column("status", sa.String(8), nullable=False),
    sa.Column("customer_id", _ID, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("counterparty_id", _ID, sa.ForeignKey("customers.id"), nullable=True),
    sa.Column("unit", sa.String(64), sa.ForeignKey("units.name"), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("action", sa.String(128), nullable=True),
    sa.Column("hold_id", _ID, nullable=True),
    # The workspace member who spent (a charge of a workspace may name one), by external id.
    sa.Column("member", sa.String(255), nullable=True),
    # The spender (by external id, under the customer) that spent, moved or held; NULL: the
    # customer itself.
    sa.Column("spender", sa.String(255), nullable=True),
    # The request as canonical JSON, to tell a replay from a different request under one key.
    sa.Column("request", sa.Text, nullable=False),
    # A refusal's error as JSON, so a replay raises it again. NULL when applied: an applied
    # outcome is rebuilt from the rows it wrote, which the ledger keeps forever anyway.
    sa.Column("outcome", sa.Text, nullable=True),
    sa.Column("metadata", Json, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    # When the usage a charge (late usage) or a reversal counts for happened, when that is not
    # ``created_at``: usage rollups and reads count it there. NULL: at ``created_at``.
    sa.Column("occurred_at", UtcDateTime, nullable=True),
    # The charge a reversal gives back (by transaction id; no foreign key, see migration 0024).
    sa.Column("reverses_id", _ID, nullable=True),
    sa.CheckConstraint("status IN ('applied', 'refused')", name="status_known"),
    sa.CheckConstraint("(status = 'refused') = (outcome IS NOT NULL)", name="outcome_shape"),
    sa.CheckConstraint("amount >= 0", name="amount_not_negative"),
    sa.Index("ix_transactions_customer_history", "customer_id", "unit", "id"),
    sa.Index(
        "ix_transactions_spender_history",
        "customer_id",
        "spender",
        "id",
        sqlite_where=sa.text("spender IS NOT NULL"),
        postgresql_where=sa.text("spender IS NOT NULL"),
    ),
    sa.Index(
        "ix_transactions_occurred",
        "customer_id",
        "unit",
        "occurred_at",
        sqlite_where=sa.text("occurred_at IS NOT NULL"),
        postgresql_where=sa.text("occurred_at IS NOT NULL"),
    ),
    sa.Index(
        "ix_transactions_reversals",
        "reverses_id",
        sqlite_where=sa.text("reverses_id IS NOT NULL"),
        postgresql_where=sa.text("reverses_id IS NOT NULL"),
    ),
    sa.Index(
        "ix_transactions_counterparty_history",
        "counterparty_id",
        "unit",
        "id",
        sqlite_where=sa.text("counterparty_id IS NOT NULL"),
        postgresql_where=sa.text("counterparty_id IS NOT NULL"),
    ),
    # A hold's extends (what it drew beyond its reserve) and commits (what it spent in parts).
    sa.Index(
        "ix_transactions_hold_writes",
        "hold_id",
        sqlite_where=sa.text("kind IN ('extend', 'commit')"),
        postgresql_where=sa.text("kind IN ('extend', 'commit')"),
    ),
)

entries = sa.Table(
    "entries",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("transaction_id", _ID, sa.ForeignKey("transactions.id"), nullable=False),
    sa.Column("account_id", _ID, nullable=False),
    sa.Column("unit", sa.String(64), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    # The unit is repeated from the account so that balance checks group by it without a join;
    # the composite key makes the database refuse an entry whose unit is not its account's.
    sa.ForeignKeyConstraint(["account_id", "unit"], ["accounts.id", "accounts.unit"]),
    sa.CheckConstraint("amount <> 0", name="amount_not_zero"),
    # No index on account_id: nothing reads one account's entries but the audit, which scans
    # them all anyway, and every index is paid for on every entry insert.
    # SQLite has no such index: there the table is clustered by (transaction_id, id) (WITHOUT
    # ROWID, migration 0030), so a transaction's entries are its key's range, and a charge's
    # commit writes one page for its entries instead of two.
    sa.Index("ix_entries_transaction_id", "transaction_id").ddl_if(dialect="postgresql"),
)

#: What spending is summed to: per customer, unit, hour (UTC, the bucket's start), action,
#: member and spender, the steps that charges and hold commits spent, how many they were, the
#: steps they issued beyond the grants (net: a commit gives back what its hold issued and did not
#: use) and the held steps they gave to the expiry account. Kept in each spending transaction by
#: ``usage/rollups.py``, so that usage reads sum buckets instead of every charge. ``action``,
#: ``member`` and ``spender`` are '' for none: a primary key column cannot be NULL, and '' is
#: neither an action, a member nor a spender (all are checked to be non-empty).
usage_rollups = sa.Table(
    "usage_rollups",
    metadata,
    sa.Column("customer_id", _ID, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("unit", sa.String(64), sa.ForeignKey("units.name"), nullable=False),
    sa.Column("bucket_start", UtcDateTime, nullable=False),
    sa.Column("action", sa.String(128), nullable=False),
    sa.Column("member", sa.String(255), nullable=False),
    # The spender that spent ('' for the customer itself): usage by spender and by subtree.
    sa.Column("spender", sa.String(255), nullable=False),
    sa.Column("steps", sa.BigInteger, nullable=False),
    sa.Column("charges", sa.BigInteger, nullable=False),
    sa.Column("issued", sa.BigInteger, nullable=False),
    sa.Column("expired", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("customer_id", "unit", "bucket_start", "action", "member", "spender"),
    sa.CheckConstraint("steps >= 0 AND charges > 0 AND expired >= 0", name="sums_shape"),
)

#: Spending by the value of a usage dimension the catalog declares (a key of the charges'
#: ``metadata``, or for a hold's commit of the hold's), per customer, unit and hour: the steps
#: and count of the spends that have a value (a string, or a number as its text); the others
#: are the rest of ``usage_rollups``. Kept with ``usage_rollups``, for each dimension listed in
#: ``usage_dimensions``.
usage_dimension_rollups = sa.Table(
    "usage_dimension_rollups",
    metadata,
    sa.Column("customer_id", _ID, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("unit", sa.String(64), sa.ForeignKey("units.name"), nullable=False),
    sa.Column("bucket_start", UtcDateTime, nullable=False),
    sa.Column("dimension", sa.String(64), nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("steps", sa.BigInteger, nullable=False),
    sa.Column("charges", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("customer_id", "unit", "bucket_start", "dimension", "value"),
    sa.CheckConstraint("steps >= 0 AND charges > 0", name="sums_shape"),
)

#: The dimensions whose rollups are complete: filled from the ledger's rows when a kit whose
#: catalog declares one first opened the database, and kept since by every write.
usage_dimensions = sa.Table(
    "usage_dimensions",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("filled_at", UtcDateTime, nullable=False),
)

grants = sa.Table(
    "grants",
    metadata,
    sa.Column("account_id", _ID, sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("effective_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=True),
    sa.Column("transferable", sa.Boolean, nullable=False),
    sa.Column("amount_granted", sa.BigInteger, nullable=False),
    sa.Column("cost_basis_minor", sa.BigInteger, nullable=True),
    sa.Column("currency", sa.String(3), nullable=True),
    sa.Column("transaction_id", _ID, sa.ForeignKey("transactions.id"), nullable=False),
    sa.Column("metadata", Json, nullable=False),
    # The actions or categories the grant pays for, as a sorted JSON list; NULL: any spending.
    sa.Column("applies_to", sa.Text, nullable=True),
    sa.CheckConstraint("amount_granted > 0", name="amount_granted_positive"),
    sa.CheckConstraint(
        "expires_at IS NULL OR expires_at > effective_at", name="expires_after_start"
    ),
    sa.CheckConstraint(
        "(cost_basis_minor IS NULL AND currency IS NULL)"
        " OR (cost_basis_minor >= 0 AND currency IS NOT NULL)",
        name="cost_basis_shape",
    ),
)

holds = sa.Table(
    "holds",
    metadata,
    sa.Column("account_id", _ID, sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("customer_id", _ID, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("unit", sa.String(64), nullable=False),
    sa.Column("amount_held", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("action", sa.String(128), nullable=True),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("amount_committed", sa.BigInteger, nullable=True),
    sa.Column("reserve_transaction_id", _ID, sa.ForeignKey("transactions.id"), nullable=False),
    sa.Column("settle_transaction_id", _ID, sa.ForeignKey("transactions.id"), nullable=True),
    sa.Column("metadata", Json, nullable=False),
    # A hold taken under another draws from it (a tree of at most HOLD_TREE_LEVELS_MAX levels):
    # its parent, the tree's root (none for a root) and its depth (0 for a root).
    sa.Column("parent_id", _ID, sa.ForeignKey("holds.account_id"), nullable=True),
    sa.Column("root_id", _ID, sa.ForeignKey("holds.account_id"), nullable=True),
    sa.Column("depth", sa.SmallInteger, nullable=False, server_default="0"),
    sa.CheckConstraint("amount_held > 0", name="amount_held_positive"),
    sa.CheckConstraint(
        "status IN ('active', 'committed', 'released', 'expired')", name="status_known"
    ),
    # A hold settled in parts has committed some while still active; a committed one always has.
    sa.CheckConstraint(
        "(status <> 'committed' OR amount_committed IS NOT NULL)"
        " AND (amount_committed IS NULL OR amount_committed BETWEEN 0 AND amount_held)",
        name="committed_shape",
    ),
    sa.CheckConstraint(
        "depth BETWEEN 0 AND 3 AND (parent_id IS NULL) = (depth = 0)"
        " AND (parent_id IS NULL) = (root_id IS NULL)"
        " AND (parent_id IS NULL OR parent_id <> account_id)",
        name="tree_shape",
    ),
    sa.Index(
        "ix_holds_active",
        "customer_id",
        sqlite_where=sa.text("status = 'active'"),
        postgresql_where=sa.text("status = 'active'"),
    ),
    sa.Index(
        "ix_holds_parent_active",
        "parent_id",
        sqlite_where=sa.text("status = 'active' AND parent_id IS NOT NULL"),
        postgresql_where=sa.text("status = 'active' AND parent_id IS NOT NULL"),
    ),
    sa.Index(
        "ix_holds_root_active",
        "root_id",
        sqlite_where=sa.text("status = 'active' AND root_id IS NOT NULL"),
        postgresql_where=sa.text("status = 'active' AND root_id IS NOT NULL"),
    ),
)

# -- spenders, budgets, debt ------------------------------------------------------------------

#: Who spends a customer's credits on its behalf, as a tree under the customer. ``path`` is the
#: ids of its ancestors as ``/1/7/`` ('/' for a spender right under the customer): a subtree is a
#: prefix, read with one range condition.
spenders = sa.Table(
    "spenders",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("customer_id", _ID, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("external_id", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("parent_id", _ID, sa.ForeignKey("spenders.id"), nullable=True),
    sa.Column("depth", sa.SmallInteger, nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    # The external ids of its ancestors, from the top, as a JSON list: a spend reads its whole
    # path with the spender's own row.
    sa.Column("ancestors", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("customer_id", "external_id"),
    sa.CheckConstraint("depth BETWEEN 1 AND 8", name="depth_range"),
)

#: A cap per spender ('' for the customer itself), unit and period.
budgets = sa.Table(
    "budgets",
    metadata,
    sa.Column("customer_id", _ID, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("spender", sa.String(255), nullable=False),
    sa.Column("unit", sa.String(64), sa.ForeignKey("units.name"), nullable=False),
    sa.Column("period", sa.String(8), nullable=False),
    sa.Column("cap", sa.BigInteger, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint("customer_id", "spender", "unit", "period"),
    sa.CheckConstraint("cap >= 0", name="cap_not_negative"),
    sa.CheckConstraint(
        "period IN ('hour', 'day', 'week', 'month', 'lifetime')", name="period_known"
    ),
)

#: What a spender ('' the customer) spent of a unit in one period that starts at
#: ``period_start``, counted in each spending transaction (open holds included).
budget_usage = sa.Table(
    "budget_usage",
    metadata,
    sa.Column("customer_id", _ID, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("spender", sa.String(255), nullable=False),
    sa.Column("unit", sa.String(64), sa.ForeignKey("units.name"), nullable=False),
    sa.Column("period", sa.String(8), nullable=False),
    sa.Column("period_start", UtcDateTime, nullable=False),
    sa.Column("used", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("customer_id", "spender", "unit", "period", "period_start"),
    sa.CheckConstraint("used >= 0", name="used_not_negative"),
)

#: How far below zero a customer may go in a unit, on purpose (``allow_debt``).
debt_limits = sa.Table(
    "debt_limits",
    metadata,
    sa.Column("customer_id", _ID, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("unit", sa.String(64), sa.ForeignKey("units.name"), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint("customer_id", "unit"),
    sa.CheckConstraint("amount >= 0", name="amount_not_negative"),
)

#: Writes that set something rather than move credits (a budget, a debt limit), under their
#: idempotency keys: the same key and request is answered again, a different request conflicts.
setting_writes = sa.Table(
    "setting_writes",
    metadata,
    sa.Column("idempotency_key", sa.String(255), primary_key=True),
    sa.Column("customer_id", _ID, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("request", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

# -- subscriptions ----------------------------------------------------------------------------

plan_versions = sa.Table(
    "plan_versions",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("plan_id", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    # SHA-256 of the plan's terms: an edited plan is a new version, an unchanged one is not.
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("rank", sa.Integer, nullable=False),
    # The terms as sold, so that a grandfathered subscription reads them after the catalog
    # has moved on (catalog.schemas.plan_from_terms).
    sa.Column("terms", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("plan_id", "version"),
    sa.UniqueConstraint("plan_id", "fingerprint"),
)

subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("customer_id", _ID, sa.ForeignKey("customers.id"), nullable=False, unique=True),
    sa.Column("plan_version_id", _ID, sa.ForeignKey("plan_versions.id"), nullable=False),
    sa.Column("interval", sa.String(8), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    # Periods are computed from the anchor (anniversary), never from the previous period.
    sa.Column("anchor_at", UtcDateTime, nullable=False),
    sa.Column("period_index", sa.Integer, nullable=False),
    sa.Column("allowance_index", sa.Integer, nullable=True),
    sa.Column("trial_ends_at", UtcDateTime, nullable=True),
    sa.Column("cancel_at_period_end", sa.Boolean, nullable=False),
    sa.Column("scheduled_plan_version_id", _ID, sa.ForeignKey("plan_versions.id"), nullable=True),
    sa.Column("scheduled_interval", sa.String(8), nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    # 'money': each period's fee is a billing line; 'credits': it is charged from the balance.
    sa.Column("pay_with", sa.String(8), nullable=False, server_default="money"),
    # Where allowance periods are counted from after an operator's ``reset_period``; NULL: from
    # ``anchor_at``.
    sa.Column("allowance_anchor_at", UtcDateTime, nullable=True),
    # The customer's zone the current run of allowance periods is counted in (NULL: the
    # plan's); a change of the customer's zone starts a new run at the next boundary.
    sa.Column("allowance_time_zone", sa.String(64), nullable=True),
    sa.CheckConstraint("interval IN ('month', 'year')", name="interval_known"),
    sa.CheckConstraint(
        "status IN ('trialing', 'active', 'past_due', 'canceled')", name="status_known"
    ),
    sa.CheckConstraint("period_index >= 0 AND allowance_index >= 0", name="indexes_not_negative"),
)

billing_lines = sa.Table(
    "billing_lines",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("idempotency_key", sa.String(255), nullable=False, unique=True),
    sa.Column("customer_id", _ID, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("subscription_id", _ID, sa.ForeignKey("subscriptions.id"), nullable=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("description", sa.String(255), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("period_start", UtcDateTime, nullable=True),
    sa.Column("period_end", UtcDateTime, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.CheckConstraint("kind IN ('subscription', 'proration', 'overage')", name="kind_known"),
    sa.Index("ix_billing_lines_customer", "customer_id", "id"),
)

# -- entitlements -------------------------------------------------------------------------------

#: A live thing counted against a ``count`` limit (a task, an agent, a social account): a row
#: while it exists. The unique key is what makes acquiring the same resource twice count once.
limit_resources = sa.Table(
    "limit_resources",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("customer_id", _ID, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("limit_name", sa.String(64), nullable=False),
    sa.Column("resource_id", sa.String(255), nullable=False),
    sa.Column("acquired_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("customer_id", "limit_name", "resource_id"),
)

#: One ``track`` call against a ``per_period`` limit, allowed or refused, with its outcome: the
#: key makes it exactly-once, and a replay answers with the recorded outcome. The period's usage
#: is the sum of the allowed rows of that period.
limit_events = sa.Table(
    "limit_events",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("customer_id", _ID, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("limit_name", sa.String(64), nullable=False),
    sa.Column("idempotency_key", sa.String(255), nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("allowed", sa.Boolean, nullable=False),
    # The outcome as first answered: usage after the call (before it, when refused), the cap
    # (NULL: unlimited), the reason and the suggested plan.
    sa.Column("used", sa.BigInteger, nullable=False),
    sa.Column("limit_value", sa.BigInteger, nullable=True),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("upgrade_to", sa.String(64), nullable=True),
    sa.Column("period_start", UtcDateTime, nullable=False),
    sa.Column("period_end", UtcDateTime, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("customer_id", "idempotency_key"),
    sa.CheckConstraint("quantity > 0", name="quantity_positive"),
    sa.CheckConstraint("used >= 0", name="used_not_negative"),
    sa.CheckConstraint("period_end > period_start", name="period_shape"),
    sa.Index("ix_limit_events_period", "customer_id", "limit_name", "period_start"),
)

#: A workspace's members: users with a role. The partial unique index lets a workspace have at
#: most one owner (the service keeps it at exactly one once the workspace has members).
workspace_members = sa.Table(
    "workspace_members",
    metadata,
    sa.Column("workspace_id", _ID, sa.ForeignKey("customers.id"), primary_key=True),
    sa.Column("user_id", _ID, sa.ForeignKey("customers.id"), primary_key=True),
    sa.Column("role", sa.String(8), nullable=False),
    sa.Column("added_at", UtcDateTime, nullable=False),
    sa.CheckConstraint("role IN ('owner', 'admin', 'editor', 'viewer')", name="role_known"),
    sa.CheckConstraint("workspace_id <> user_id", name="not_itself"),
    sa.Index(
        "ix_workspace_members_one_owner",
        "workspace_id",
        unique=True,
        sqlite_where=sa.text("role = 'owner'"),
        postgresql_where=sa.text("role = 'owner'"),
    ),
    sa.Index("ix_workspace_members_user_id", "user_id"),
)

# -- outbound events ------------------------------------------------------------------------------

outbox_events = sa.Table(
    "outbox_events",
    metadata,
    # The outbox: every event is written in the same transaction as the change it reports, so an
    # event exists exactly when its change does. Delivery (notify/) reads it in id order.
    sa.Column("id", _ID, primary_key=True),
    sa.Column("event_id", sa.String(40), nullable=False, unique=True),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("customer_id", _ID, sa.ForeignKey("customers.id"), nullable=True),
    sa.Column("data", Json, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    # When the worker made the event's webhook deliveries; NULL until then. Marking each event
    # (not keeping a cursor of ids) is what keeps fan-out gap-free on PostgreSQL, where ids are
    # taken at insert but may commit out of order.
    sa.Column("fanned_out_at", UtcDateTime, nullable=True),
    sa.Index("ix_outbox_events_customer_id", "customer_id", "id"),
    # Only the events still to fan out: small, whatever the outbox's size.
    sa.Index(
        "ix_outbox_events_pending",
        "id",
        sqlite_where=sa.text("fanned_out_at IS NULL"),
        postgresql_where=sa.text("fanned_out_at IS NULL"),
    ),
)

# -- notify: webhooks and alerts ------------------------------------------------------------------

webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    # A replay of the registration returns the first endpoint (and its secret) again.
    sa.Column("idempotency_key", sa.String(255), nullable=False, unique=True),
    sa.Column("url", sa.String(2048), nullable=False),
    # The signing secret, encrypted with the server's secret key (notify/sealing.py): opened
    # to sign each delivery, shown in clear only at registration and rotation. The empty
    # default only filled the rows migration 0014 sealed at once; every insert sets it.
    sa.Column("secret_sealed", sa.Text, nullable=False, server_default=""),
    # The secret a rotation replaced, encrypted too: deliveries are signed with it as well until
    # ``previous_secret_expires_at``, so receivers can move to the new one without a gap.
    sa.Column("previous_secret_sealed", sa.Text, nullable=True),
    sa.Column("previous_secret_expires_at", UtcDateTime, nullable=True),
    # The event types it receives, as a JSON list; NULL: every type.
    sa.Column("event_types", Json, nullable=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("deleted_at", UtcDateTime, nullable=True),
)

webhook_secret_rotations = sa.Table(
    "webhook_secret_rotations",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("endpoint_id", _ID, sa.ForeignKey("webhook_endpoints.id"), nullable=False),
    # A replay of the newest rotation returns its secret again; an older one is refused.
    sa.Column("idempotency_key", sa.String(255), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("event_id", _ID, sa.ForeignKey("outbox_events.id"), nullable=False),
    sa.Column("endpoint_id", _ID, sa.ForeignKey("webhook_endpoints.id"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    # When a worker may next try it. A worker that claims it moves this past the attempt (a
    # lease), so a worker that dies mid-attempt leaves it due again, not lost.
    sa.Column("next_attempt_at", UtcDateTime, nullable=False),
    sa.Column("last_error", sa.String(1024), nullable=True),
    sa.Column("last_status_code", sa.Integer, nullable=True),
    sa.Column("delivered_at", UtcDateTime, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("event_id", "endpoint_id"),
    sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status_known"),
    sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    sa.CheckConstraint(
        "(status = 'delivered') = (delivered_at IS NOT NULL)", name="delivered_shape"
    ),
    sa.Index(
        "ix_webhook_deliveries_due",
        "next_attempt_at",
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    ),
    sa.Index("ix_webhook_deliveries_endpoint_id", "endpoint_id", "id"),
)

#: A customer's own alert thresholds for a unit, in place of its plan's. A row with neither
#: threshold turns the plan's alerts off for the customer.
customer_alerts = sa.Table(
    "customer_alerts",
    metadata,
    sa.Column("customer_id", _ID, sa.ForeignKey("customers.id"), primary_key=True),
    sa.Column("unit", sa.String(64), sa.ForeignKey("units.name"), primary_key=True),
    # Steps of the unit.
    sa.Column("credits_left", sa.BigInteger, nullable=True),
    # Increasing whole percentages of the period's allowance, as a JSON list.
    sa.Column("percent_used", Json, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.CheckConstraint("credits_left IS NULL OR credits_left > 0", name="credits_left_positive"),
)

#: Each alert fired, once per customer, unit, alert and period: the unique key is what makes a
#: replay or a concurrent writer unable to fire it twice.
alert_firings = sa.Table(
    "alert_firings",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("customer_id", _ID, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("unit", sa.String(64), nullable=False),
    # "depleted", "credits_left:<steps>" or "percent_used:<percent>".
    sa.Column("alert", sa.String(64), nullable=False),
    sa.Column("period_start", UtcDateTime, nullable=False),
    sa.Column("event_id", sa.String(40), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("customer_id", "unit", "alert", "period_start"),
)

#: Grants whose coming expiry was announced (grant.expiring): once per grant.
grant_expiry_notices = sa.Table(
    "grant_expiry_notices",
    metadata,
    sa.Column("grant_id", _ID, sa.ForeignKey("grants.account_id"), primary_key=True),
    sa.Column("event_id", sa.String(40), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

# The worker's scan for grants about to expire reads a few days of expiries, not every grant.
sa.Index(
    "ix_grants_expires_at",
    grants.c.expires_at,
    sqlite_where=sa.text("expires_at IS NOT NULL"),
    postgresql_where=sa.text("expires_at IS NOT NULL"),
)

# -- API keys and service state -------------------------------------------------------------------

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    # What a key is shown as (in lists, logs): never the secret itself.
    sa.Column("key_id", sa.String(40), nullable=False, unique=True),
    # SHA-256 of the whole secret key. The key carries 256 random bits, so a fast hash is as
    # safe as a slow one here, and it keeps authentication to one indexed lookup.
    sa.Column("secret_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("scopes", sa.String(255), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime, nullable=True),
)

service_secrets = sa.Table(
    "service_secrets",
    metadata,
    # Secrets every API process must share (the key that signs customer session tokens), and
    # where serve answers (for creditkit link): kept in the database so that several processes
    # agree without a config file in common. Sealed with the ledger's secret key
    # (keys/secrets.py), as webhook secrets are: the database alone gives none of them away.
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("secret_sealed", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    # The secret a rotation replaced, still verifying until ``previous_expires_at``.
    sa.Column("previous_secret_sealed", sa.Text, nullable=True),
    sa.Column("previous_expires_at", UtcDateTime, nullable=True),
)

auth_failures = sa.Table(
    "auth_failures",
    metadata,
    # Failed authentications counted per client address per minute, in the database so that
    # every serving process counts into the same window (api/throttle.py).
    sa.Column("client_address", sa.String(64), primary_key=True),
    sa.Column("window_start", UtcDateTime, primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
)

session_revocations = sa.Table(
    "session_revocations",
    metadata,
    # A customer's session tokens issued until ``revoked_at`` are refused (logout, revoke):
    # those of one member (``user``), or of every member and the customer itself (``user`` '').
    sa.Column("customer", sa.String(255), primary_key=True),
    sa.Column("user", sa.String(255), primary_key=True),
    sa.Column("revoked_at", UtcDateTime, nullable=False),
)

session_codes = sa.Table(
    "session_codes",
    metadata,
    # Session links' exchange codes: single-use, short-lived, stored as their SHA-256 only.
    sa.Column("code_sha256", sa.String(64), primary_key=True),
    sa.Column("customer", sa.String(255), nullable=False),
    sa.Column("user", sa.String(255), nullable=True),
    sa.Column("permissions", sa.String(64), nullable=False),
    sa.Column("ttl_seconds", sa.Integer, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("used_at", UtcDateTime, nullable=True),
)

rate_windows = sa.Table(
    "rate_windows",
    metadata,
    # Requests counted per customer per minute, in the database so that every API process counts
    # into the same window.
    sa.Column("customer_id", _ID, sa.ForeignKey("customers.id"), primary_key=True),
    sa.Column("window_start", UtcDateTime, primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
)

api_responses = sa.Table(
    "api_responses",
    metadata,
    # The first response to each Idempotency-Key of the writes the ledger does not key itself
    # (subscriptions, members): a retry gets it again instead of a second write.
    sa.Column("idempotency_key", sa.String(255), primary_key=True),
    sa.Column("request_sha256", sa.String(64), nullable=False),
    sa.Column("status_code", sa.SmallInteger, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

# -- payments -------------------------------------------------------------------------------------

#: A customer's account at a payment provider: its id there, the payment method saved by its
#: last checkout (what off-session charges use: auto top-ups, renewals) and the provider's
#: subscription when the provider bills the plan itself.
payment_accounts = sa.Table(
    "payment_accounts",
    metadata,
    sa.Column("customer_id", _ID, sa.ForeignKey("customers.id"), primary_key=True),
    sa.Column("provider", sa.String(16), primary_key=True),
    sa.Column("provider_customer_id", sa.String(255), nullable=True),
    sa.Column("payment_method", sa.String(255), nullable=True),
    sa.Column("provider_subscription_id", sa.String(255), nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index(
        "ix_payment_accounts_subscription",
        "provider",
        "provider_subscription_id",
        unique=True,
        sqlite_where=sa.text("provider_subscription_id IS NOT NULL"),
        postgresql_where=sa.text("provider_subscription_id IS NOT NULL"),
    ),
)

#: One payment: a checkout of a pack or a plan, an auto top-up, or a subscription's renewal. Its
#: status moves pending -> succeeded | failed (a failed renewal may still succeed in its grace
#: period), and succeeded -> refunding -> refunded; each move is a guarded update under the
#: customer's lock, which is what makes fulfilment exactly-once.
payments = sa.Table(
    "payments",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("idempotency_key", sa.String(255), nullable=False, unique=True),
    sa.Column("customer_id", _ID, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("provider", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("pack_id", sa.String(64), nullable=True),
    sa.Column("plan_id", sa.String(64), nullable=True),
    sa.Column("interval", sa.String(8), nullable=True),
    sa.Column("coupon_id", sa.String(64), nullable=True),
    sa.Column("discount_id", sa.String(64), nullable=True),
    sa.Column("subtotal_minor", sa.BigInteger, nullable=False),
    sa.Column("discount_minor", sa.BigInteger, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    # What the receipt will list: the item at its price, then each discount as a negative line.
    sa.Column("lines", Json, nullable=False),
    sa.Column("provider_session_id", sa.String(255), nullable=True),
    sa.Column("checkout_url", sa.Text, nullable=True),
    # Where a checkout sends the customer back (paid, or given up): the provider's page needs
    # them, and the sandbox, which keeps no state of its own, reads them here.
    sa.Column("success_url", sa.Text, nullable=True),
    sa.Column("cancel_url", sa.Text, nullable=True),
    # The provider's id of the money movement (a PaymentIntent, an invoice): refunds name it.
    sa.Column("provider_payment_id", sa.String(255), nullable=True),
    sa.Column("grant_id", _ID, sa.ForeignKey("accounts.id"), nullable=True),
    # A renewal: the start of the billing period it pays.
    sa.Column("period_start", UtcDateTime, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    # An off-session charge to make (or retry) from then on; NULL once none is due.
    sa.Column("next_attempt_at", UtcDateTime, nullable=True),
    sa.Column("grace_ends_at", UtcDateTime, nullable=True),
    sa.Column("failure_reason", sa.String(255), nullable=True),
    sa.Column("refunded_minor", sa.BigInteger, nullable=True),
    # How many of the pack the payment buys: 1, or more for a top-up to a target.
    sa.Column("quantity", sa.Integer, nullable=False, server_default="1"),
    sa.Column("provider_refund_id", sa.String(255), nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("succeeded_at", UtcDateTime, nullable=True),
    sa.CheckConstraint("kind IN ('pack', 'plan', 'top_up', 'renewal')", name="kind_known"),
    sa.CheckConstraint(
        "status IN ('pending', 'succeeded', 'failed', 'refunding', 'refunded')",
        name="status_known",
    ),
    sa.CheckConstraint(
        "subtotal_minor >= 0 AND discount_minor BETWEEN 0 AND subtotal_minor"
        " AND amount_minor = subtotal_minor - discount_minor",
        name="amounts_shape",
    ),
    sa.CheckConstraint(
        "(kind IN ('pack', 'top_up')) = (pack_id IS NOT NULL)"
        " AND (kind IN ('plan', 'renewal')) = (plan_id IS NOT NULL)",
        name="item_shape",
    ),
    sa.CheckConstraint(
        "refunded_minor IS NULL OR refunded_minor BETWEEN 0 AND amount_minor",
        name="refund_shape",
    ),
    sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    sa.Index(
        "ix_payments_session",
        "provider",
        "provider_session_id",
        unique=True,
        sqlite_where=sa.text("provider_session_id IS NOT NULL"),
        postgresql_where=sa.text("provider_session_id IS NOT NULL"),
    ),
    sa.Index(
        "ix_payments_provider_payment",
        "provider",
        "provider_payment_id",
        sqlite_where=sa.text("provider_payment_id IS NOT NULL"),
        postgresql_where=sa.text("provider_payment_id IS NOT NULL"),
    ),
    sa.Index(
        "ix_payments_due",
        "next_attempt_at",
        sqlite_where=sa.text("next_attempt_at IS NOT NULL"),
        postgresql_where=sa.text("next_attempt_at IS NOT NULL"),
    ),
    sa.Index("ix_payments_customer_kind", "customer_id", "kind", "created_at"),
)

#: Every provider event applied: the unique key is what makes a replayed or concurrent duplicate
#: webhook apply nothing twice.
provider_events = sa.Table(
    "provider_events",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("provider", sa.String(16), nullable=False),
    sa.Column("event_id", sa.String(255), nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("payment_id", _ID, sa.ForeignKey("payments.id"), nullable=True),
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("provider", "event_id"),
)

#: How many checkouts have redeemed each coupon or discount (succeeded, or in progress). One row
#: per catalog id, updated only by a conditional increment, so that two customers racing for a
#: coupon's last redemption cannot both get it.
coupon_counters = sa.Table(
    "coupon_counters",
    metadata,
    sa.Column("coupon_id", sa.String(64), primary_key=True),
    sa.Column("redeemed", sa.BigInteger, nullable=False),
    sa.CheckConstraint("redeemed >= 0", name="redeemed_not_negative"),
)

#: A customer's auto top-up: buy ``pack_id`` when its unit's available balance falls under
#: ``threshold`` (steps), at most ``per_day_max`` times a UTC day.
auto_top_ups = sa.Table(
    "auto_top_ups",
    metadata,
    sa.Column("customer_id", _ID, sa.ForeignKey("customers.id"), primary_key=True),
    sa.Column("pack_id", sa.String(64), nullable=False),
    sa.Column("unit", sa.String(64), sa.ForeignKey("units.name"), nullable=False),
    sa.Column("threshold", sa.BigInteger, nullable=False),
    sa.Column("per_day_max", sa.Integer, nullable=False),
    # The balance to fill to, buying as many packs as that takes; NULL: one pack.
    sa.Column("target", sa.BigInteger, nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.CheckConstraint("threshold > 0", name="threshold_positive"),
    sa.CheckConstraint("per_day_max >= 1", name="per_day_max_positive"),
)

#: A numbered receipt: for a succeeded payment, or an overage statement (a billing line). The
#: number comes from ``receipt_numbers`` in the receipt's own transaction, so numbers have no
#: gaps (an id sequence skips the ids of rolled-back inserts).
receipts = sa.Table(
    "receipts",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("number", sa.BigInteger, nullable=False, unique=True),
    sa.Column("source_key", sa.String(255), nullable=False, unique=True),
    sa.Column("customer_id", _ID, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("payment_id", _ID, sa.ForeignKey("payments.id"), nullable=True),
    sa.Column("billing_line_id", _ID, sa.ForeignKey("billing_lines.id"), nullable=True),
    sa.Column("lines", Json, nullable=False),
    sa.Column("subtotal_minor", sa.BigInteger, nullable=False),
    sa.Column("discount_minor", sa.BigInteger, nullable=False),
    sa.Column("total_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.CheckConstraint(
        "kind IN ('purchase', 'subscription', 'top_up', 'overage')", name="kind_known"
    ),
    sa.CheckConstraint(
        "discount_minor >= 0 AND total_minor = subtotal_minor - discount_minor",
        name="amounts_shape",
    ),
    sa.Index("ix_receipts_customer", "customer_id", "id"),
    # Which overage statements have their receipt: read at each sweep of the customer.
    sa.Index(
        "ix_receipts_billing_line",
        "billing_line_id",
        unique=True,
        sqlite_where=sa.text("billing_line_id IS NOT NULL"),
        postgresql_where=sa.text("billing_line_id IS NOT NULL"),
    ),
)

#: The last receipt number given: one row, incremented in each receipt's transaction.
receipt_numbers = sa.Table(
    "receipt_numbers",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("last_number", sa.BigInteger, nullable=False),
)

# -- usage ----------------------------------------------------------------------------------------

# Usage views sum a customer's applied transactions of some kinds over a time range (charges and
# commits for spending; expiries and hold settlements for breakage). The history index is by id,
# so without this one such a sum reads every transaction the customer ever made; with it, an
# index range per kind reads only the period's rows.
sa.Index(
    "ix_transactions_customer_usage",
    transactions.c.customer_id,
    transactions.c.unit,
    transactions.c.kind,
    transactions.c.created_at,
)

#: The condition of ``ix_transactions_customer_kind_history``, as the history query writes it
#: (SQLite uses a partial index only for a query that states its condition).
CHARGES_LEFT_OUT = "kind <> 'charge'"

# History pages filtered by kind (a "gifts sent and received" list, a customer's grants) read
# the newest transactions of each kind asked. The history index would walk the customer's
# other transactions to find them (all of its charges, to find its few transfers), and the usage
# index is in time order, not id order, so each page would sort all the rows of the kind; with
# this one each kind is an index range in id order that stops at the page's size.
sa.Index(
    "ix_transactions_customer_kind_history",
    transactions.c.customer_id,
    transactions.c.unit,
    transactions.c.kind,
    transactions.c.id,
    # Charges, nearly every row, are left out (a page of charges walks the history index), so
    # that a charge writes one index fewer (migrations 0028 on SQLite, 0029 on PostgreSQL).
    sqlite_where=sa.text(CHARGES_LEFT_OUT),
    postgresql_where=sa.text(CHARGES_LEFT_OUT),
)

# -- usage events parked by the ingest worker ---------------------------------------------------

parked_events = sa.Table(
    "parked_events",
    metadata,
    # A usage event that came through JetStream and could not be charged (an unknown customer, a
    # malformed event, insufficient credits, ...), kept with its reason for the operator: the
    # worker acknowledged it, so nothing else holds it. One row per event key: a redelivery parks
    # nothing twice.
    sa.Column("id", _ID, primary_key=True),
    sa.Column("idempotency_key", sa.String(255), nullable=False, unique=True),
    sa.Column("customer", sa.String(255), nullable=True),
    sa.Column("event", Json, nullable=False),
    sa.Column("reason", sa.String(64), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("parked_at", UtcDateTime, nullable=False),
)
