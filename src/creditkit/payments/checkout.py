"""Checkouts: a pack or plan priced (discounts, coupons and their redemptions counted in the
checkout's transaction), recorded pending, then the provider's checkout page asked for outside
any transaction; the customer's id and saved payment method at the provider."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import Connection

from creditkit.catalog import Discount, DiscountKind, Interval, Pack
from creditkit.derived_keys import checkout_session_key
from creditkit.errors import IdempotencyConflict, InvalidRequest, present, require
from creditkit.ledger import repository as ledger_repository
from creditkit.ledger.checks import EXTERNAL_ID_LENGTH_MAX, IDEMPOTENCY_KEY_LENGTH_MAX, check_text
from creditkit.ledger.schemas import CustomerKind, Money
from creditkit.payments import pricing, repository
from creditkit.payments.context import Item, PaymentContext, payment_values
from creditkit.payments.errors import CouponNotApplicable
from creditkit.payments.receipts import receipt_lines
from creditkit.payments.schemas import CheckoutRequest, CheckoutSession, PaymentKind
from creditkit.payments.stripe_prices import plan_price
from creditkit.store.unit_of_work import CustomerRow, UnitOfWork
from creditkit.subscriptions.schemas import SubscriptionStatus

URL_LENGTH_MAX = 2048
#: Return origins a service may allow, at most.
RETURN_ORIGINS_MAX = 32
_DEFAULT_PORTS = {"http": 80, "https": 443}


def url_origin(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL, lower-cased, the default port
    dropped; None when ``url`` is not one (or carries a user name, or a backslash, or spaces,
    which browsers read otherwise than a parser does)."""
    if any(c in url for c in "\\ \t\r\n") or any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    shown_port = "" if port is None or port == _DEFAULT_PORTS[scheme] else f":{port}"
    return f"{scheme}://{host}{shown_port}"


def return_url_refusal(url: str, origins: Sequence[str]) -> str | None:
    """Why a browser may not be sent to ``url`` after a checkout, or None. A path on this site
    (``/app``) always may; an absolute URL only on one of ``origins`` (when none are set, as
    for an embedded ledger whose app chooses its own URLs, any http(s) origin). Backslashes,
    scheme-relative forms (``//evil``, ``/\\evil``), other schemes and user names are refused:
    browsers resolve them to another site."""
    if url.startswith("/"):
        if url.startswith("//") or any(c in url for c in "\\\t\r\n ") or not url.isprintable():
            return "must be a path on this site or an absolute URL, not a scheme-relative one"
        return None
    origin = url_origin(url)
    if origin is None:
        return "must be an absolute http(s) URL without a user name, or a path on this site"
    if origins and origin not in origins:
        return f"must be on an allowed origin ({', '.join(origins)}), not {origin}"
    return None


def check_return_url(url: object, field: str, origins: Sequence[str]) -> str:
    text = check_text(url, field, URL_LENGTH_MAX)
    reason = return_url_refusal(text, origins)
    if reason is not None:
        raise InvalidRequest(field, reason)
    return text


def return_origins(origins: Sequence[str]) -> tuple[str, ...]:
    """``origins`` normalised as ``url_origin`` writes them; ``InvalidRequest`` naming
    ``return_origins`` for one that is not an http(s) origin (``scheme://host[:port]``)."""
    if len(origins) > RETURN_ORIGINS_MAX:
        raise InvalidRequest("return_origins", f"at most {RETURN_ORIGINS_MAX}")
    normalised = []
    for origin in origins:
        found = url_origin(origin.strip())
        rest = urlsplit(origin.strip())
        if found is None or rest.path not in ("", "/") or rest.query or rest.fragment:
            raise InvalidRequest(
                "return_origins", f"{origin!r} is not an origin (scheme://host[:port])"
            )
        normalised.append(found)
    return tuple(dict.fromkeys(normalised))


class Checkouts:
    def __init__(self, context: PaymentContext, origins: Sequence[str] = ()) -> None:
        self._origins = tuple(origins)
        self._ledger = context.ledger
        self._database = context.database
        self._catalog = context.catalog
        self._subscriptions = context.subscriptions
        self._provider = context.provider

    def checkout(
        self,
        customer: str,
        *,
        pack: str | None,
        plan: str | None,
        interval: str,
        coupon: str | None,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> CheckoutSession:
        check_text(idempotency_key, "idempotency_key", IDEMPOTENCY_KEY_LENGTH_MAX)
        check_return_url(success_url, "success_url", self._origins)
        check_return_url(cancel_url, "cancel_url", self._origins)
        item = self._item(pack, plan, interval)
        offer = None
        if coupon is not None:
            offer = self._catalog.coupon(check_text(coupon, "coupon", EXTERNAL_ID_LENGTH_MAX))

        def start(context: UnitOfWork) -> Any:
            holder = context.customers[customer]
            existing = repository.payment_by_key(context.connection, idempotency_key)
            if existing is not None:
                self._check_same(idempotency_key, existing, holder, item, coupon)
                return existing
            self._check_purchasable(context.connection, holder, item)
            priced = self._price(context.connection, holder, item, offer, context.now)
            values = payment_values(
                self._provider.name, holder, item, priced, idempotency_key, context.now
            )
            values.update(success_url=success_url, cancel_url=cancel_url)
            payment_id = repository.insert_payment(context.connection, values)
            return repository.read_payment(context.connection, payment_id)

        row = self._ledger.locked_write([customer], start)
        if row.provider_session_id is None:
            row = self._open_session(row, item, success_url, cancel_url)
        return CheckoutSession(
            payment_id=row.id,
            provider=row.provider,
            session_id=row.provider_session_id,
            url=row.checkout_url,
            subtotal=Money(row.subtotal_minor, row.currency),
            discount=Money(row.discount_minor, row.currency),
            amount=Money(row.amount_minor, row.currency),
            lines=receipt_lines(row.lines),
        )

    def _item(self, pack: str | None, plan: str | None, interval: str) -> Item:
        if (pack is None) == (plan is None):
            raise InvalidRequest("pack", "name a pack or a plan (one of them)")
        if pack is not None:
            offer = self._catalog.pack(pack)
            if offer.price.amount_minor == 0:
                raise InvalidRequest("pack", f"pack {pack!r} is free: grant it with grant_pack")
            return Item(PaymentKind.PACK, pack, None, None, offer.name, offer.price)
        tier = self._catalog.plan(present(plan, "a checkout that names no pack names a plan"))
        try:
            interval_ = Interval(interval)
        except ValueError:
            raise InvalidRequest("interval", "must be 'month' or 'year'") from None
        price = tier.prices.get(interval_)
        if price is None or price.amount_minor == 0:
            raise InvalidRequest(
                "interval", f"plan {plan!r} has no {interval_.value}ly price to pay"
            )
        description = f"{tier.name}, {interval_.value}ly"
        return Item(PaymentKind.PLAN, None, plan, interval_, description, price)

    @staticmethod
    def _check_same(
        key: str, existing: Any, holder: CustomerRow, item: Item, coupon: str | None
    ) -> None:
        """A key used again must name the same checkout (the rule "exactly once", docs/rules.md)."""
        interval = None if item.interval is None else item.interval.value
        recorded = {
            "customer": existing.external_id,
            "pack": existing.pack_id,
            "plan": existing.plan_id,
            "interval": existing.interval,
            "coupon": existing.coupon_id,
        }
        asked = {
            "customer": holder.external_id,
            "pack": item.pack,
            "plan": item.plan,
            "interval": interval,
            "coupon": coupon,
        }
        for name, first in recorded.items():
            if asked[name] != first:
                raise IdempotencyConflict(key, name, first, asked[name])

    def _limit_reached(self, connection: Connection, holder: CustomerRow, offer: Pack) -> bool:
        refusal = self._ledger.purchase_limit_refusal(
            connection, holder, offer.id, offer.purchase_limit
        )
        return refusal is not None

    def packs_for_sale(self, customer: str) -> list[Pack]:
        """The packs ``customer`` can buy through checkout now: priced, and under their
        ``purchase_limit`` (a 402 offers only these)."""
        with self._database.read() as connection:
            holder = ledger_repository.read_customer(connection, customer)
            return [
                offer
                for offer in self._catalog.packs.values()
                if offer.price.amount_minor > 0
                and not self._limit_reached(connection, holder, offer)
            ]

    def _check_purchasable(self, connection: Connection, holder: CustomerRow, item: Item) -> None:
        if item.pack is not None:
            offer = self._catalog.pack(item.pack)
            refusal = self._ledger.purchase_limit_refusal(
                connection, holder, offer.id, offer.purchase_limit
            )
            if refusal is not None:
                raise refusal
            return
        period = self._subscriptions.paid_period(connection, holder)
        if (
            period is not None
            and (period.plan, period.interval) == (item.plan, item.interval)
            and period.status is SubscriptionStatus.ACTIVE
        ):
            raise InvalidRequest("plan", f"plan {item.plan!r} is the plan in force")

    def _price(
        self,
        connection: Connection,
        holder: CustomerRow,
        item: Item,
        coupon: Discount | None,
        now: datetime,
    ) -> pricing.Priced:
        """Prices the item and counts the redemptions it uses, in the checkout's transaction
        (so a checkout that fails to be recorded redeems nothing)."""
        volume = pricing.best(
            [
                discount
                for discount in self._catalog.discounts.values()
                if self._eligible(connection, holder, discount, item, now)
            ],
            item.price,
        )
        if coupon is not None:
            reason = self._coupon_refusal(connection, coupon, item, now)
            if reason is not None:
                raise CouponNotApplicable(coupon.id, reason)
        priced = pricing.price(item.description, item.price, volume, coupon)
        if priced.amount.amount_minor == 0:
            raise InvalidRequest("coupon", "the discounts leave nothing to pay")
        for used in (volume, coupon):
            if used is not None and not repository.redeem(
                connection, used.id, used.max_redemptions
            ):
                raise CouponNotApplicable(used.id, "is fully redeemed")
        return priced

    def _eligible(
        self,
        connection: Connection,
        holder: CustomerRow,
        discount: Discount,
        item: Item,
        now: datetime,
    ) -> bool:
        require(
            discount.kind is DiscountKind.VOLUME, "only a volume discount is eligible", discount.id
        )
        owned_min = present(
            discount.min_owner_workspaces, "a volume discount names its minimum of owned workspaces"
        )
        if self._coupon_refusal(connection, discount, item, now) is not None:
            return False
        if holder.kind != CustomerKind.WORKSPACE:
            return False
        owned = repository.owned_workspaces(connection, holder.id)
        return owned >= owned_min

    @staticmethod
    def _coupon_refusal(
        connection: Connection, discount: Discount, item: Item, now: datetime
    ) -> str | None:
        if not discount.applies_to(item.plan, item.pack, item.interval):
            return "does not apply to this purchase"
        if discount.amount_off is not None and discount.amount_off.currency != item.price.currency:
            return f"is in {discount.amount_off.currency}, the price in {item.price.currency}"
        if discount.expires_at is not None and now > discount.expires_at:
            return f"expired at {discount.expires_at.isoformat()}"
        limit = discount.max_redemptions
        if limit is not None and repository.redeemed(connection, discount.id) >= limit:
            return "is fully redeemed"
        return None

    def _open_session(self, row: Any, item: Item, success_url: str, cancel_url: str) -> Any:
        """Asks the provider for the checkout page (outside any transaction), then records it.
        A call that fails leaves the payment pending: the same checkout call resumes here."""
        customer = row.external_id
        price = None
        if item.kind is PaymentKind.PLAN:
            with self._database.read() as connection:
                price = plan_price(
                    connection,
                    self._catalog,
                    present(item.plan, "a plan's checkout names its plan"),
                    present(item.interval, "a plan's checkout names its interval"),
                )
        session = self._provider.create_checkout(
            CheckoutRequest(
                payment_id=row.id,
                customer=customer,
                provider_customer=self._provider_customer(customer),
                mode="subscription" if item.kind is PaymentKind.PLAN else "payment",
                description=item.description,
                subtotal=Money(row.subtotal_minor, row.currency),
                discount=Money(row.discount_minor, row.currency),
                interval=item.interval,
                success_url=success_url,
                cancel_url=cancel_url,
                idempotency_key=checkout_session_key(row.id),
                plan_price=price,
            )
        )

        def attach(context: UnitOfWork) -> Any:
            repository.set_session(context.connection, row.id, session.session_id, session.url)
            return repository.read_payment(context.connection, row.id)

        return self._ledger.locked_write([customer], attach)

    def _provider_customer(self, customer: str) -> str:
        """The customer's id at the provider, created there once."""
        with self._database.read() as connection:
            holder = ledger_repository.read_customer(connection, customer)
            found = repository.account(connection, holder.id, self._provider.name)
        if found is not None and found.provider_customer_id is not None:
            return str(found.provider_customer_id)
        created = self._provider.create_customer(customer)

        def save(context: UnitOfWork) -> str:
            holder = context.customers[customer]
            stored = repository.account(context.connection, holder.id, self._provider.name)
            if stored is not None and stored.provider_customer_id is not None:
                return str(stored.provider_customer_id)  # a concurrent call stored one first
            values = {"provider_customer_id": created}
            repository.save_account(
                context.connection, holder.id, self._provider.name, values, context.now
            )
            return created

        return self._ledger.locked_write([customer], save)

    def billing_portal(self, customer: str, return_url: str) -> str:
        """The provider's page where ``customer`` changes their card or cancels, returning to
        ``return_url``."""
        check_return_url(return_url, "return_url", self._origins)
        return self._provider.portal(self._provider_customer(customer), return_url)

    def save_payment_method(self, customer: str, payment_method: str) -> None:
        """Records the payment method off-session charges use (a card the host app saved with
        the provider, e.g. through a Stripe SetupIntent); a checkout saves its own."""
        check_text(payment_method, "payment_method", EXTERNAL_ID_LENGTH_MAX)
        self._provider_customer(customer)

        def save(context: UnitOfWork) -> None:
            values = {"payment_method": payment_method}
            repository.save_account(
                context.connection,
                context.customers[customer].id,
                self._provider.name,
                values,
                context.now,
            )

        self._ledger.locked_write([customer], save)
