"""Payments' SQL. Functions here read and write rows; they decide nothing (service.py does)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from creditkit.errors import require
from creditkit.store.tables import (
    auto_top_ups,
    billing_lines,
    coupon_counters,
    customers,
    payment_accounts,
    payments,
    plan_versions,
    provider_events,
    receipt_numbers,
    receipts,
    subscriptions,
    transactions,
    workspace_members,
)

#: The one row of ``receipt_numbers`` (inserted by migration 0010).
RECEIPTS_SEQUENCE = "receipts"


# -- payments -----------------------------------------------------------------------------------


def _payment_query() -> sa.Select[Any]:
    return sa.select(payments, customers.c.external_id).join(
        customers, customers.c.id == payments.c.customer_id
    )


def insert_payment(connection: Connection, values: dict[str, Any]) -> int:
    payment_id: int = connection.execute(
        payments.insert().values(**values).returning(payments.c.id)
    ).scalar_one()
    return payment_id


def payment_by_id(connection: Connection, payment_id: int) -> sa.Row[Any] | None:
    return connection.execute(_payment_query().where(payments.c.id == payment_id)).first()


def read_payment(connection: Connection, payment_id: int) -> sa.Row[Any]:
    """A payment known to exist (its id was read before, or just inserted)."""
    return connection.execute(_payment_query().where(payments.c.id == payment_id)).one()


def payment_by_key(connection: Connection, key: str) -> sa.Row[Any] | None:
    return connection.execute(_payment_query().where(payments.c.idempotency_key == key)).first()


def payment_by_session(
    connection: Connection, provider: str, session_id: str
) -> sa.Row[Any] | None:
    return connection.execute(
        _payment_query().where(
            payments.c.provider == provider, payments.c.provider_session_id == session_id
        )
    ).first()


def payment_by_reference(
    connection: Connection, provider: str, reference: str
) -> sa.Row[Any] | None:
    """The payment whose money movement the provider calls ``reference``."""
    return connection.execute(
        _payment_query()
        .where(payments.c.provider == provider, payments.c.provider_payment_id == reference)
        .order_by(payments.c.id)
    ).first()


def update_payment(
    connection: Connection, payment_id: int, status: str, values: dict[str, Any]
) -> None:
    """Updates a payment known (under its customer's lock) to be in ``status``."""
    result = connection.execute(
        payments.update()
        .where(payments.c.id == payment_id, payments.c.status == status)
        .values(**values)
    )
    require(
        result.rowcount == 1,
        "a payment stays in its status under its customer's lock",
        f"payment {payment_id} left {status}",
    )


def set_session(connection: Connection, payment_id: int, session_id: str, url: str) -> None:
    connection.execute(
        payments.update()
        .where(payments.c.id == payment_id, payments.c.provider_session_id.is_(None))
        .values(provider_session_id=session_id, checkout_url=url)
    )


def count_payments(
    connection: Connection, customer_id: int, kind: str, since: datetime, until: datetime
) -> int:
    count = connection.execute(
        sa.select(sa.func.count()).where(
            payments.c.customer_id == customer_id,
            payments.c.kind == kind,
            payments.c.created_at >= since,
            payments.c.created_at < until,
        )
    ).scalar_one()
    return int(count)


def has_pending(connection: Connection, customer_id: int, kind: str) -> bool:
    found = connection.execute(
        sa.select(payments.c.id)
        .where(
            payments.c.customer_id == customer_id,
            payments.c.kind == kind,
            payments.c.status == "pending",
        )
        .limit(1)
    ).first()
    return found is not None


def latest_plan_payment(connection: Connection, customer_id: int) -> sa.Row[Any] | None:
    return connection.execute(
        sa.select(payments)
        .where(
            payments.c.customer_id == customer_id,
            payments.c.kind == "plan",
            payments.c.succeeded_at.is_not(None),
        )
        .order_by(payments.c.id.desc())
        .limit(1)
    ).first()


def renewals_in_grace(connection: Connection, customer_id: int) -> list[sa.Row[Any]]:
    return list(
        connection.execute(
            sa.select(payments).where(
                payments.c.customer_id == customer_id,
                payments.c.kind == "renewal",
                payments.c.status == "failed",
                payments.c.grace_ends_at.is_not(None),
            )
        )
    )


def due_payments(connection: Connection, kind: str, now: datetime, limit: int) -> list[int]:
    rows = connection.execute(
        sa.select(payments.c.id)
        .where(payments.c.next_attempt_at <= now, payments.c.kind == kind)
        .order_by(payments.c.next_attempt_at, payments.c.id)
        .limit(limit)
    )
    return [row.id for row in rows]


def claim(connection: Connection, payment_id: int, now: datetime, lease_until: datetime) -> bool:
    """Takes a due charge for one attempt: pushes its next attempt to ``lease_until`` and counts
    the attempt, only if it is still due (so one of two workers gets it)."""
    result = connection.execute(
        payments.update()
        .where(
            payments.c.id == payment_id,
            payments.c.next_attempt_at <= now,
            payments.c.status.in_(("pending", "failed")),
        )
        .values(attempts=payments.c.attempts + 1, next_attempt_at=lease_until, updated_at=now)
    )
    return result.rowcount == 1


# -- provider accounts and events -----------------------------------------------------------------


def account(connection: Connection, customer_id: int, provider: str) -> sa.Row[Any] | None:
    return connection.execute(
        sa.select(payment_accounts).where(
            payment_accounts.c.customer_id == customer_id, payment_accounts.c.provider == provider
        )
    ).first()


def save_account(
    connection: Connection, customer_id: int, provider: str, values: dict[str, Any], now: datetime
) -> None:
    """Sets the given columns of the customer's account (under its lock), creating it."""
    if account(connection, customer_id, provider) is None:
        connection.execute(
            payment_accounts.insert().values(
                customer_id=customer_id, provider=provider, updated_at=now, **values
            )
        )
        return
    connection.execute(
        payment_accounts.update()
        .where(
            payment_accounts.c.customer_id == customer_id, payment_accounts.c.provider == provider
        )
        .values(updated_at=now, **values)
    )


def customer_by_subscription(connection: Connection, provider: str, reference: str) -> str | None:
    external_id: str | None = connection.execute(
        sa.select(customers.c.external_id)
        .join(payment_accounts, payment_accounts.c.customer_id == customers.c.id)
        .where(
            payment_accounts.c.provider == provider,
            payment_accounts.c.provider_subscription_id == reference,
        )
    ).scalar()
    return external_id


def subscriptions_on_plan(
    connection: Connection, provider: str, plan_id: str, limit: int
) -> list[tuple[str, str]]:
    """(customer, provider subscription) of customers on ``plan_id`` (any version) whose
    account still names a provider subscription."""
    rows = connection.execute(
        sa.select(customers.c.external_id, payment_accounts.c.provider_subscription_id)
        .join(payment_accounts, payment_accounts.c.customer_id == customers.c.id)
        .join(subscriptions, subscriptions.c.customer_id == customers.c.id)
        .join(plan_versions, plan_versions.c.id == subscriptions.c.plan_version_id)
        .where(
            payment_accounts.c.provider == provider,
            payment_accounts.c.provider_subscription_id.is_not(None),
            plan_versions.c.plan_id == plan_id,
        )
        .order_by(customers.c.id)
        .limit(limit)
    ).all()
    return [(str(row[0]), str(row[1])) for row in rows]


def record_event(
    connection: Connection,
    provider: str,
    event_id: str,
    event_type: str,
    payment_id: int | None,
    now: datetime,
) -> bool:
    """Records the event as applied; False when it was already (a replay). Called under the
    lock of the event's customer, so that a concurrent duplicate waits and then finds it."""
    seen = connection.execute(
        sa.select(provider_events.c.id).where(
            provider_events.c.provider == provider, provider_events.c.event_id == event_id
        )
    ).first()
    if seen is not None:
        return False
    connection.execute(
        provider_events.insert().values(
            provider=provider,
            event_id=event_id,
            type=event_type,
            payment_id=payment_id,
            received_at=now,
        )
    )
    return True


# -- coupons ------------------------------------------------------------------------------------


def registered_coupons(connection: Connection) -> set[str]:
    return {row.coupon_id for row in connection.execute(sa.select(coupon_counters.c.coupon_id))}


def register_coupon(connection: Connection, coupon_id: str) -> None:
    connection.execute(coupon_counters.insert().values(coupon_id=coupon_id, redeemed=0))


def redeem(connection: Connection, coupon_id: str, redemptions_max: int | None) -> bool:
    """Counts one redemption, unless it would exceed ``redemptions_max``: one conditional
    update, so concurrent checkouts cannot both take the last one."""
    query = coupon_counters.update().where(coupon_counters.c.coupon_id == coupon_id)
    if redemptions_max is not None:
        query = query.where(coupon_counters.c.redeemed < redemptions_max)
    result = connection.execute(query.values(redeemed=coupon_counters.c.redeemed + 1))
    return result.rowcount == 1


def release(connection: Connection, coupon_id: str) -> None:
    result = connection.execute(
        coupon_counters.update()
        .where(coupon_counters.c.coupon_id == coupon_id, coupon_counters.c.redeemed > 0)
        .values(redeemed=coupon_counters.c.redeemed - 1)
    )
    require(
        result.rowcount == 1,
        "a coupon is released at most as often as it was redeemed",
        f"coupon {coupon_id}",
    )


def redeemed(connection: Connection, coupon_id: str) -> int:
    count = connection.execute(
        sa.select(coupon_counters.c.redeemed).where(coupon_counters.c.coupon_id == coupon_id)
    ).scalar()
    return int(count or 0)


def owned_workspaces(connection: Connection, workspace_id: int) -> int:
    """How many workspaces the owner of this one owns (0 when it has no owner)."""
    owner = (
        sa.select(workspace_members.c.user_id)
        .where(
            workspace_members.c.workspace_id == workspace_id, workspace_members.c.role == "owner"
        )
        .scalar_subquery()
    )
    count = connection.execute(
        sa.select(sa.func.count()).where(
            workspace_members.c.user_id == owner, workspace_members.c.role == "owner"
        )
    ).scalar_one()
    return int(count)


# -- auto top-ups -------------------------------------------------------------------------------


def top_up(connection: Connection, customer_id: int) -> sa.Row[Any] | None:
    return connection.execute(
        sa.select(auto_top_ups).where(auto_top_ups.c.customer_id == customer_id)
    ).first()


def customers_with_top_ups(connection: Connection, limit: int) -> list[int]:
    """Ids of customers with an auto top-up, at most ``limit``."""
    query = sa.select(auto_top_ups.c.customer_id).order_by(auto_top_ups.c.customer_id).limit(limit)
    return [row.customer_id for row in connection.execute(query)]


def save_top_up(connection: Connection, customer_id: int, values: dict[str, Any]) -> None:
    if top_up(connection, customer_id) is None:
        connection.execute(auto_top_ups.insert().values(customer_id=customer_id, **values))
    else:
        connection.execute(
            auto_top_ups.update().where(auto_top_ups.c.customer_id == customer_id).values(**values)
        )


def delete_top_up(connection: Connection, customer_id: int) -> bool:
    result = connection.execute(
        auto_top_ups.delete().where(auto_top_ups.c.customer_id == customer_id)
    )
    return result.rowcount == 1


# -- receipts -----------------------------------------------------------------------------------


def next_receipt_number(connection: Connection) -> int:
    """The next number, taken in the caller's transaction: the row stays locked until it
    commits, so numbers are given in order and a rolled-back receipt gives its number back."""
    number: int = connection.execute(
        receipt_numbers.update()
        .where(receipt_numbers.c.name == RECEIPTS_SEQUENCE)
        .values(last_number=receipt_numbers.c.last_number + 1)
        .returning(receipt_numbers.c.last_number)
    ).scalar_one()
    return number


def insert_receipt(connection: Connection, values: dict[str, Any]) -> None:
    connection.execute(receipts.insert().values(**values))


def _receipt_query() -> sa.Select[Any]:
    return sa.select(receipts, customers.c.external_id).join(
        customers, customers.c.id == receipts.c.customer_id
    )


def receipt_by_id(connection: Connection, receipt_id: int) -> sa.Row[Any] | None:
    return connection.execute(_receipt_query().where(receipts.c.id == receipt_id)).first()


def receipts_of(
    connection: Connection, customer_id: int, before_id: int | None, limit: int
) -> list[sa.Row[Any]]:
    query = _receipt_query().where(receipts.c.customer_id == customer_id)
    if before_id is not None:
        query = query.where(receipts.c.id < before_id)
    return list(connection.execute(query.order_by(receipts.c.id.desc()).limit(limit)))


def overage_lines_without_receipt(connection: Connection, customer_id: int) -> list[sa.Row[Any]]:
    return list(
        connection.execute(
            sa.select(billing_lines)
            .outerjoin(receipts, receipts.c.billing_line_id == billing_lines.c.id)
            .where(
                billing_lines.c.customer_id == customer_id,
                billing_lines.c.kind == "overage",
                receipts.c.id.is_(None),
            )
            .order_by(billing_lines.c.id)
        )
    )


def earlier_plan_payment(connection: Connection, customer_id: int, payment_id: int) -> int | None:
    """The id of a plan payment (a checkout or a renewal) the customer paid before
    ``payment_id``, refunded or not; None when that one was its first."""
    earlier: int | None = connection.execute(
        sa.select(sa.func.min(payments.c.id)).where(
            payments.c.customer_id == customer_id,
            payments.c.id < payment_id,
            payments.c.kind.in_(("plan", "renewal")),
            payments.c.succeeded_at.is_not(None),
        )
    ).scalar_one()
    return earlier


def taken_back_under(connection: Connection, customer_id: int, unit: str, key_prefix: str) -> int:
    """The steps the customer's applied refunds in ``unit`` whose keys start with ``key_prefix``
    took back: what a plan refund took back, grant by grant."""
    pattern = key_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    total = connection.execute(
        sa.select(sa.func.coalesce(sa.func.sum(transactions.c.amount), 0)).where(
            transactions.c.customer_id == customer_id,
            transactions.c.unit == unit,
            transactions.c.kind == "refund",
            transactions.c.idempotency_key.like(pattern, escape="\\"),
            transactions.c.status == "applied",
        )
    ).scalar_one()
    return int(total)
