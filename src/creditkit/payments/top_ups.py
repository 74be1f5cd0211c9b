"""Auto top-ups: a customer's settings, and the ledger's spend hook that records a pending
top-up when a charge takes the balance under the threshold (charged later by the worker, never
inside the charge's transaction)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from creditkit.derived_keys import top_up_key
from creditkit.errors import InvalidRequest
from creditkit.ledger import repository as ledger_repository
from creditkit.ledger.schemas import Money
from creditkit.payments import pricing, repository
from creditkit.payments.context import Item, PaymentContext, payment_values
from creditkit.payments.schemas import PaymentKind, TopUpSettings
from creditkit.store.configured import ConfiguredCustomers
from creditkit.store.unit_of_work import CustomerRow, UnitOfWork

TOP_UPS_PER_DAY_MAX = 100
#: Packs one top-up to a target buys, at most: a target is a balance to keep, not a bulk order.
TOP_UP_PACKS_MAX = 100


class TopUps:
    def __init__(self, context: PaymentContext) -> None:
        self._ledger = context.ledger
        self._database = context.database
        self._catalog = context.catalog
        self._provider = context.provider
        # Most customers have no auto top-up: known in memory, so their charges ask nothing more.
        self._with_top_up = ConfiguredCustomers(repository.customers_with_top_ups)

    def set_auto_top_up(
        self,
        customer: str,
        pack: str,
        threshold: object,
        per_day_max: int,
        target: object = None,
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
        target_steps = None if target is None else unit.to_steps(target, "target")
        if target_steps is not None and target_steps <= steps:
            raise InvalidRequest("target", "must be above the threshold")
        pack_steps = unit.to_steps(offer.amount)
        if target_steps is not None and -(-target_steps // pack_steps) > TOP_UP_PACKS_MAX:
            raise InvalidRequest(
                "target", f"needs more than {TOP_UP_PACKS_MAX} packs of {offer.amount} to fill"
            )

        def save(context: UnitOfWork) -> None:
            holder = context.customers[customer]
            account = repository.account(context.connection, holder.id, self._provider.name)
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
                "target": target_steps,
                "updated_at": context.now,
            }
            repository.save_top_up(context.connection, holder.id, values)

        self._ledger.locked_write([customer], save)
        self._with_top_up.forget()
        return TopUpSettings(
            customer, offer.id, unit.name, unit.to_quantity(steps), per_day_max,
            None if target_steps is None else unit.to_quantity(target_steps),
        )  # fmt: skip

    def auto_top_up(self, customer: str) -> TopUpSettings | None:
        with self._database.read() as connection:
            holder = ledger_repository.read_customer(connection, customer)
            row = repository.top_up(connection, holder.id)
        if row is None:
            return None
        unit = self._ledger.unit(row.unit)
        return TopUpSettings(
            customer, row.pack_id, row.unit, unit.to_quantity(row.threshold), row.per_day_max,
            None if row.target is None else unit.to_quantity(row.target),
        )  # fmt: skip

    def disable_auto_top_up(self, customer: str) -> bool:
        def delete(context: UnitOfWork) -> bool:
            return repository.delete_top_up(context.connection, context.customers[customer].id)

        removed = self._ledger.locked_write([customer], delete)
        self._with_top_up.forget()
        return removed

    def spent(
        self, context: UnitOfWork, holder: CustomerRow, unit: str, before: int, after: int
    ) -> None:
        """The ledger's spend hook, inside the charge's transaction: when the balance falls
        under the customer's threshold, a pending top-up is recorded (never charged here: no
        provider call inside a transaction), at most ``per_day_max`` a UTC day."""
        connection, now = context.connection, context.now
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
        quantity = self._packs_to_target(settings.target, after, offer.amount, unit)
        description = offer.name if quantity == 1 else f"{quantity} x {offer.name}"
        price = Money(offer.price.amount_minor * quantity, offer.price.currency)
        item = Item(PaymentKind.TOP_UP, offer.id, None, None, description, price)
        priced = pricing.price(item.description, item.price, None, None)
        key = top_up_key(holder.id, day, made + 1)
        repository.insert_payment(
            connection,
            payment_values(self._provider.name, holder, item, priced, key, now, next_attempt_at=now)
            | {"quantity": quantity},
        )

    def _packs_to_target(self, target: int | None, after: int, amount: object, unit: str) -> int:
        """How many packs fill the balance from ``after`` to at least ``target`` (one without
        a target), within the limit checked when the target was set."""
        if target is None:
            return 1
        pack_steps = self._ledger.unit(unit).to_steps(amount)
        needed = -(-(target - after) // pack_steps)  # rounded up: at least the target
        return max(1, min(needed, TOP_UP_PACKS_MAX))
