"""Auto top-ups: a customer's settings, and the ledger's spend hook that records a pending
top-up when a charge takes the balance under the threshold (charged later by the worker, never
inside the charge's transaction)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Connection

from creditkit.errors import InvalidRequest
from creditkit.ledger import repository as ledger_repository
from creditkit.ledger.repository import CustomerRow
from creditkit.payments import pricing, repository
from creditkit.payments.context import Item, PaymentContext, payment_values
from creditkit.payments.schemas import PaymentKind, TopUpSettings
from creditkit.store.configured import ConfiguredCustomers

TOP_UPS_PER_DAY_MAX = 100


class TopUps:
    def __init__(self, context: PaymentContext) -> None:
        self._ledger = context.ledger
        self._catalog = context.catalog
        self._provider = context.provider
        # Most customers have no auto top-up: known in memory, so their charges ask nothing more.
        self._with_top_up = ConfiguredCustomers(repository.customers_with_top_ups)

    def set_auto_top_up(
        self, customer: str, pack: str, threshold: object, per_day_max: int
    ) -> TopUpSettings:
        offer = self._catalog.pack(pack)
        if offer.price.amount_minor == 0:
            raise InvalidRequest("pack", f"pack {pack!r} is free: there is nothing to charge")
        unit = self._ledger.unit(offer.unit)
        steps = unit.to_steps(threshold, "threshold")
        if isinstance(per_day_max, bool) or not isinstance(per_day_max, int):
            raise InvalidRequest("per_day_max", "must be an int")
        if not 1 <= per_day_max <= TOP_UPS_PER_DAY_MAX:
            raise InvalidRequest("per_day_max", f"must be from 1 to {TOP_UPS_PER_DAY_MAX}")

        def save(connection: Connection, locked: dict[str, CustomerRow], now: datetime) -> None:
            holder = locked[customer]
            account = repository.account(connection, holder.id, self._provider.name)
            if account is None or account.payment_method is None:
                raise InvalidRequest(
                    "customer",
                    "has no saved payment method: pay a checkout first, or save_payment_method",
                )
            values = {
                "pack_id": offer.id,
                "unit": unit.name,
                "threshold": steps,
                "per_day_max": per_day_max,
                "updated_at": now,
            }
            repository.save_top_up(connection, holder.id, values)

        self._ledger.locked_write([customer], save)
        self._with_top_up.forget()
        return TopUpSettings(customer, offer.id, unit.name, unit.to_quantity(steps), per_day_max)

    def auto_top_up(self, customer: str) -> TopUpSettings | None:
        with self._ledger.database.read() as connection:
            holder = ledger_repository.read_customer(connection, customer)
            row = repository.top_up(connection, holder.id)
        if row is None:
            return None
        unit = self._ledger.unit(row.unit)
        return TopUpSettings(
            customer, row.pack_id, row.unit, unit.to_quantity(row.threshold), row.per_day_max
        )

    def disable_auto_top_up(self, customer: str) -> bool:
        def delete(connection: Connection, locked: dict[str, CustomerRow], _now: datetime) -> bool:
            return repository.delete_top_up(connection, locked[customer].id)

        removed = self._ledger.locked_write([customer], delete)
        self._with_top_up.forget()
        return removed

    def spent(
        self,
        connection: Connection,
        holder: CustomerRow,
        unit: str,
        before: int,
        after: int,
        now: datetime,
    ) -> None:
        """The ledger's spend hook, inside the charge's transaction: when the balance falls
        under the customer's threshold, a pending top-up is recorded (never charged here: no
        provider call inside a transaction), at most ``per_day_max`` a UTC day."""
        if not self._with_top_up.may_include(connection, holder.id, now):
            return
        settings = repository.top_up(connection, holder.id)
        if settings is None or settings.unit != unit or not after < settings.threshold <= before:
            return
        offer = self._catalog.packs.get(settings.pack_id)
        if offer is None or repository.has_pending(connection, holder.id, PaymentKind.TOP_UP):
            return
        account = repository.account(connection, holder.id, self._provider.name)
        if account is None or account.payment_method is None:
            return
        day = datetime(now.year, now.month, now.day, tzinfo=UTC)
        made = repository.count_payments(
            connection, holder.id, PaymentKind.TOP_UP.value, day, day + timedelta(days=1)
        )
        if made >= settings.per_day_max:
            return
        item = Item(PaymentKind.TOP_UP, offer.id, None, None, offer.name, offer.price)
        priced = pricing.price(item.description, item.price, None, None)
        key = f"creditkit:top-up:{holder.id}:{day:%Y-%m-%d}:{made + 1}"
        repository.insert_payment(
            connection,
            payment_values(
                self._provider.name, holder, item, priced, key, now, next_attempt_at=now
            ),
        )
