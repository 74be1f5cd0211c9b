"""Balances, history, grants, charges, holds and transfers."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from creditkit.api.answers import answer
from creditkit.api.auth import Credentials
from creditkit.api.context import Service
from creditkit.api.idempotency import IdempotencyKey
from creditkit.api.keyed_route import KeyedRoute
from creditkit.api.schemas import (
    TEXT_PATTERN,
    ChargeCreate,
    GrantCreate,
    GrantExpiryChange,
    GrantVoid,
    HoldCommit,
    HoldCreate,
    HoldExtend,
    QuoteCreate,
    ReversalCreate,
    TransferCreate,
)
from creditkit.errors import InvalidRequest, InvariantViolation
from creditkit.keys.schemas import Caller, Scope, SessionPermission
from creditkit.ledger.checks import NAME_LENGTH_MAX
from creditkit.ledger.schemas import (
    Adjustment,
    Balance,
    Grant,
    HistoryPage,
    Hold,
    Money,
    Reversal,
    TransactionKind,
    Transfer,
)
from creditkit.notify.schemas import ChargeAnswer
from creditkit.pricing.schemas import Quote

#: A page of history, at most.
HISTORY_PAGE_MAX = 200

Customer = Annotated[str, Path(min_length=1, max_length=255, pattern=TEXT_PATTERN)]
HoldId = Annotated[int, Path(ge=1, le=2**63 - 1)]
GrantId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Unit = Annotated[str, Query(min_length=1, max_length=64, pattern=TEXT_PATTERN)]
#: A balance for this spender (capped by its path's budgets), or a history of its spending.
SpenderFilter = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=255,
        pattern=TEXT_PATTERN,
        description="A spender of the customer: a balance capped by what the budgets on its"
        " path leave; a history of its transactions.",
    ),
]


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["ledger"])
    kit, access = service.kit, service.access
    Authenticated = Annotated[Caller, Depends(access.caller)]

    async def create_charge(
        credentials: Credentials, body: ChargeCreate, key: IdempotencyKey
    ) -> Response:
        """Spends credits now: an ``amount``, or a catalog ``action`` times ``quantity``. 402
        with what is available and what would cover it when the balance is short."""

        def charge(caller: Caller) -> Response:
            access.require_scope(caller, Scope.CHARGE)
            # The plan's rate limit is counted in the charge's own transaction: one commit.
            charged = kit.charge(
                body.customer,
                body.amount,
                idempotency_key=key,
                unit=body.unit,
                action=body.action,
                quantity=body.quantity,
                metadata=body.metadata,
                member=body.member,
                rate_limited=service.rate_limited,
                spender=body.spender,
                allow_debt=body.allow_debt,
                usage=body.usage,
                occurred_at=body.occurred_at,
            )
            return answer(ChargeAnswer.of(charged, kit.alert_crossed(charged)), 201)

        return await access.in_thread(credentials, charge)

    # The first route: the charge is the hottest request, and a path is matched against each
    # route in order (twice: once to pick the router, once the route). Its well-formed requests
    # skip FastAPI's parameter solving (``KeyedRoute``).
    api.add_api_route(
        "/charges",
        create_charge,
        methods=["POST"],
        response_model=ChargeAnswer,
        status_code=201,
        route_class_override=KeyedRoute,
    )

    @api.get("/customers/{customer}/balance", response_model=Balance)
    async def get_balance(
        credentials: Credentials,
        customer: Customer,
        unit: Unit = "credits",
        action: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=NAME_LENGTH_MAX,
                pattern=TEXT_PATTERN,
                description="Only the credits that may pay for this action.",
            ),
        ] = None,
        spender: SpenderFilter = None,
    ) -> Balance:
        """What the customer may spend now, what is held, what it owes (``debt``), and each
        grant's remaining credits."""

        def balance(caller: Caller) -> Balance:
            access.require_customer(caller, customer, Scope.READ)
            return kit.balance(customer, unit=unit, action=action, spender=spender)

        return await access.in_thread(credentials, balance)

    @api.get("/customers/{customer}/history", response_model=HistoryPage)
    def get_history(
        caller: Authenticated,
        customer: Customer,
        unit: Unit = "credits",
        limit: Annotated[int, Query(ge=1, le=HISTORY_PAGE_MAX)] = 50,
        cursor: Annotated[str | None, Query(max_length=200, pattern=TEXT_PATTERN)] = None,
        kind: Annotated[
            list[TransactionKind] | None,
            Query(
                max_length=len(TransactionKind),
                description="Only transactions of these kinds (repeat it for several: "
                "``kind=transfer&kind=grant``); every kind when absent.",
            ),
        ] = None,
        action: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=NAME_LENGTH_MAX,
                pattern=TEXT_PATTERN,
                description="Only transactions of this action.",
            ),
        ] = None,
        start: Annotated[
            datetime | None,
            Query(description="Only transactions created at or after this time (with a zone)."),
        ] = None,
        end: Annotated[
            datetime | None,
            Query(description="Only transactions created before this time (with a zone)."),
        ] = None,
        spender: SpenderFilter = None,
        subtree: Annotated[
            bool, Query(description="With ``spender``: and of every spender under it.")
        ] = False,
    ) -> HistoryPage:
        """The customer's transactions, newest first; pass ``next_cursor`` for older ones (with
        any filters: a cursor marks a place in the history). A transfer names the other customer
        in ``counterparty``; its ``available_change`` is negative when the customer sent it."""
        access.require_customer(caller, customer, Scope.READ)
        return kit.history(
            customer,
            unit=unit,
            limit=limit,
            cursor=cursor,
            kinds=kind,
            action=action,
            start=start,
            end=end,
            spender=spender,
            subtree=subtree,
        )

    @api.post("/customers/{customer}/grants", response_model=Grant, status_code=201)
    def create_grant(
        caller: Authenticated, customer: Customer, body: GrantCreate, key: IdempotencyKey
    ) -> Grant:
        """Gives the customer credits: an ``amount`` (promotions, compensation, a purchase paid
        elsewhere, with its ``cost_basis``), or a catalog ``pack`` whose payment succeeded
        outside creditkit (its cost basis is its price)."""
        access.require_scope(caller, Scope.WRITE)
        if (body.amount is None) == (body.pack is None):
            raise InvalidRequest("amount", "give an amount, or a pack (not both)")
        if body.pack is not None:
            if body.cost_basis is not None:
                raise InvalidRequest("cost_basis", "a pack's cost basis is its catalog price")
            return kit.grant_pack(customer, body.pack, idempotency_key=key)
        if body.amount is None:
            # Exactly one of amount and pack was checked above, as the caller's input.
            raise InvariantViolation("a grant that names no pack names an amount", "amount")
        cost_basis = None
        if body.cost_basis is not None:
            cost_basis = Money(body.cost_basis.amount_minor, body.cost_basis.currency)
        return kit.grant(
            customer,
            body.amount,
            idempotency_key=key,
            unit=body.unit,
            source=body.source,
            priority=body.priority,
            effective_at=body.effective_at,
            expires_at=body.expires_at,
            transferable=body.transferable,
            cost_basis=cost_basis,
            metadata=body.metadata,
            applies_to=body.applies_to,
        )

    @api.post("/grants/{grant_id}/void", response_model=Adjustment, status_code=201)
    def void_grant(
        caller: Authenticated, grant_id: GrantId, body: GrantVoid, key: IdempotencyKey
    ) -> Adjustment:
        """Takes ``amount`` of this one grant (all that is left when absent) back, with a
        ``reason`` kept in the history. 402 when the grant holds less."""
        access.require_scope(caller, Scope.WRITE)
        return kit.void_grant(
            grant_id, body.amount, reason=body.reason, idempotency_key=access.key_of(caller, key)
        )

    @api.post("/reversals", response_model=Reversal, status_code=201)
    def reverse_charge(
        caller: Authenticated, body: ReversalCreate, key: IdempotencyKey
    ) -> Reversal:
        """Gives back ``amount`` (all not reversed yet when absent) of the charge made with the
        idempotency key ``charge_key``, with a ``reason`` kept in the history: to the grants
        that paid, in the reverse of the burn-down (breakage for those expired since). 422
        naming ``charge_key`` (no such charge, refused, not a charge, past the reversal window)
        or ``amount`` (more than is left to reverse)."""
        access.require_scope(caller, Scope.WRITE)
        return kit.reverse_charge(
            access.key_of(caller, body.charge_key), body.amount, reason=body.reason,
            idempotency_key=access.key_of(caller, key),
        )  # fmt: skip

    @api.post("/grants/{grant_id}/expiry", response_model=Grant, status_code=201)
    def change_grant_expiry(
        caller: Authenticated, grant_id: GrantId, body: GrantExpiryChange, key: IdempotencyKey
    ) -> Grant:
        """Moves what is left of the grant into a new grant expiring at ``expires_at`` (null:
        never; never in the past), with a ``reason`` kept in the history."""
        access.require_scope(caller, Scope.WRITE)
        return kit.change_grant_expiry(
            grant_id,
            body.expires_at,
            reason=body.reason,
            idempotency_key=access.key_of(caller, key),
        )

    @api.post("/quotes", response_model=Quote)
    async def create_quote(credentials: Credentials, body: QuoteCreate) -> Quote:
        """What a model call's ``usage`` would cost under a token-priced ``action``: the
        credits (rounded up to the unit's scale) and the price record. Writes nothing."""

        def quote(caller: Caller) -> Quote:
            access.require_scope(caller, Scope.READ)
            return kit.quote(body.action, body.usage, at=body.at)

        return await access.in_thread(credentials, quote)

    @api.post("/holds", response_model=Hold, status_code=201)
    async def create_hold(credentials: Credentials, body: HoldCreate, key: IdempotencyKey) -> Hold:
        """Sets credits aside for work whose cost is not known yet (reserve); commit or release
        it before ``timeout_seconds``, after which it releases itself."""

        def reserve(caller: Caller) -> Hold:
            access.require_scope(caller, Scope.CHARGE)
            # As a charge's: the rate-limit count in the reserve's own transaction.
            return kit.reserve(
                body.customer,
                body.amount,
                idempotency_key=key,
                unit=body.unit,
                timeout_seconds=body.timeout_seconds,
                action=body.action,
                metadata=body.metadata,
                rate_limited=service.rate_limited,
                spender=body.spender,
                parent=body.parent,
            )

        return await access.in_thread(credentials, reserve)

    @api.get("/holds/{hold_id}", response_model=Hold)
    def get_hold(caller: Authenticated, hold_id: HoldId) -> Hold:
        access.require_scope(caller, Scope.READ)
        return kit.hold(hold_id)

    @api.post("/holds/{hold_id}/commit", response_model=ChargeAnswer)
    async def commit_hold(
        credentials: Credentials, hold_id: HoldId, body: HoldCommit, key: IdempotencyKey
    ) -> ChargeAnswer:
        """Spends ``amount`` (at most what the hold has left) of the hold. ``final`` (default):
        the rest goes back and the hold closes (refused while holds taken under it are open);
        ``final: false`` keeps the rest open for more commits."""

        def commit(caller: Caller) -> ChargeAnswer:
            access.require_scope(caller, Scope.CHARGE)
            charged = kit.commit(
                hold_id,
                body.amount,
                idempotency_key=key,
                final=body.final,
                metadata=body.metadata,
                allow_debt=body.allow_debt,
                usage=body.usage,
            )
            return ChargeAnswer.of(charged, kit.alert_crossed(charged))

        return await access.in_thread(credentials, commit)

    @api.post("/holds/{hold_id}/extend", response_model=Hold)
    async def extend_hold(
        credentials: Credentials, hold_id: HoldId, body: HoldExtend, key: IdempotencyKey
    ) -> Hold:
        """Raises the hold by ``amount`` (checked as a new reserve is) and/or pushes its timeout
        to ``timeout_seconds`` from now, within the hold's maximum lifetime."""

        def extend(caller: Caller) -> Hold:
            access.require_scope(caller, Scope.CHARGE)
            return kit.extend(hold_id, body.amount, body.timeout_seconds, idempotency_key=key)

        return await access.in_thread(credentials, extend)

    @api.post("/holds/{hold_id}/release", response_model=Hold)
    async def release_hold(credentials: Credentials, hold_id: HoldId, key: IdempotencyKey) -> Hold:
        """Gives everything the hold set aside back."""

        def release(caller: Caller) -> Hold:
            access.require_scope(caller, Scope.CHARGE)
            return kit.release(hold_id, idempotency_key=key)

        return await access.in_thread(credentials, release)

    @api.post("/transfers", response_model=Transfer, status_code=201)
    def create_transfer(
        caller: Authenticated, body: TransferCreate, key: IdempotencyKey
    ) -> Transfer:
        """Gifts transferable credits (purchases, gifts) to another customer. A session token
        may gift its own customer's credits."""
        access.require_customer(caller, body.from_customer, Scope.WRITE, SessionPermission.GIFT)
        return kit.transfer(
            body.from_customer,
            body.to_customer,
            body.amount,
            idempotency_key=access.key_of(caller, key),
            unit=body.unit,
            metadata=body.metadata,
        )

    return api
