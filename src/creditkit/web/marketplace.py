"""The credit marketplace (``/app/credits``): give credits to another user, move credits between
a user and its workspaces, buy credit packs, and the history of gifts sent and received.

Only transferable credits move: bought and gifted ones (a plan's allowance stays with its
holder). Who may move what, with a session for one customer:

- a **user's** session gives its own credits to anyone (``gift`` permission), moves its own
  credits *into* a workspace it is a member of (any role), and takes credits *out of* a
  workspace where it is the owner or an admin (the role is read at each request, so a demoted
  member loses it at once);
- a **workspace's** session (a member acting for it) gives the workspace's credits when the
  member is its owner or an admin, as the API's ``gift`` permission rules; it has no moves of
  its own (its owner moves credits out to themself with a gift).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from creditkit.api.auth import Access
from creditkit.api.problems import ApiProblem
from creditkit.entitlements.schemas import Member, Role
from creditkit.errors import (
    CreditKitError,
    InsufficientCredits,
    InvalidRequest,
    InvariantViolation,
    Quantity,
)
from creditkit.keys.schemas import Caller, Scope, SessionPermission
from creditkit.ledger.schemas import Balance, CustomerKind, HistoryItem, TransactionKind
from creditkit.web import forms, offers
from creditkit.web.context import CUSTOMER_COOKIE, Notice, Pages
from creditkit.web.rendering import credits

PAGE = "/app/credits"
#: A refused form is drawn again, with its reason, under this status.
UNPROCESSABLE_STATUS = 422
#: The fields of the gift and move forms a refusal keeps as typed.
GIFT = ("recipient", "amount", "note")
MOVE = ("workspace", "direction", "amount")
CURSOR_LENGTH_MAX = 200
CUSTOMER_ID_LENGTH_MAX = 255
NOTE_LENGTH_MAX = 200
#: The workspaces a user may move credits with, listed at most.
WORKSPACES_LISTED_MAX = 100
#: Gifts and moves on one page of the marketplace's history.
GIFTS_PAGE_SIZE = 20
#: Transfers made by "Move credits" say so in their metadata, to be told from gifts.
MOVE_PURPOSE = "move"
_MANAGERS = frozenset({Role.OWNER, Role.ADMIN})
GIFT_LABELS = {
    "to_customer": "Recipient",
    "customer": "Recipient",
    "amount": "Amount",
    "metadata": "Note",
}
MOVE_LABELS = {
    "to_customer": "Workspace",
    "from_customer": "Workspace",
    "customer": "Workspace",
    "workspace": "Workspace",
    "amount": "Amount",
}


@dataclass(frozen=True, slots=True)
class GiftLine:
    """A transfer as the customer sees it: ``sent`` (credits left) or received."""

    item: HistoryItem
    sent: bool
    moved: bool
    note: str | None


@dataclass(frozen=True, slots=True)
class CreditsView:
    balance: Balance
    transferable: Quantity
    may_gift: bool
    may_buy: bool
    is_user: bool
    workspaces: tuple[Member, ...]
    packs: tuple[offers.PackOffer, ...]
    gifts: tuple[GiftLine, ...]
    gifts_next_cursor: str | None


def router(pages: Pages) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get(PAGE)
    def marketplace(
        request: Request,
        cursor: Annotated[str | None, Query(max_length=CURSOR_LENGTH_MAX)] = None,
    ) -> Response:
        caller = pages.customer_caller(request)
        return _page(pages, request, caller, cursor)

    @router.post(f"{PAGE}/gift")
    async def gift(request: Request) -> Response:
        caller = pages.customer_caller(request)
        form = await pages.checked_form(request, CUSTOMER_COOKIE)
        return await run_in_threadpool(_gift, pages, request, caller, form)

    @router.post(f"{PAGE}/move")
    async def move(request: Request) -> Response:
        caller = pages.customer_caller(request)
        form = await pages.checked_form(request, CUSTOMER_COOKIE)
        return await run_in_threadpool(_move, pages, request, caller, form)

    return router


def _page(
    pages: Pages,
    request: Request,
    caller: Caller,
    cursor: str | None,
    refused: Refused | None = None,
) -> Response:
    """The credits page; after a refused gift or move, with the reason beside its form and
    what was typed still in it (a fresh idempotency key: the refusal is that key's answer)."""
    return pages.page(
        request,
        "customer/marketplace.html",
        title="Credits",
        section="credits",
        caller=caller,
        view=_view(pages, caller, cursor),
        form=pages.form_tokens(request, CUSTOMER_COOKIE),
        paid=request.query_params.get("paid") == "1",
        canceled=request.query_params.get("canceled") == "1",
        refused=refused,
        status_code=200 if refused is None else UNPROCESSABLE_STATUS,
    )


@dataclass(frozen=True, slots=True)
class Refused:
    """A gift or move the ledger refused: which form, why, and the fields as typed."""

    form: str
    reason: str
    typed: dict[str, str]


def _typed(form: FormData, names: tuple[str, ...]) -> dict[str, str]:
    return {name: value for name in names if isinstance(value := form.get(name, ""), str)}


def _view(pages: Pages, caller: Caller, cursor: str | None) -> CreditsView:
    kit = pages.kit
    customer = caller.customer
    if not (customer is not None and kit.catalog is not None):
        raise InvariantViolation("customer is not None and kit.catalog is not None", "")
    balance = kit.balance(customer)
    transferable = sum((g.remaining for g in balance.grants if g.transferable), start=0)
    is_user = kit.customer(customer).kind is CustomerKind.USER
    workspaces = kit.memberships(customer, limit=WORKSPACES_LISTED_MAX) if is_user else []
    gifts, next_cursor = _gifts(pages, customer, cursor)
    return CreditsView(
        balance=balance,
        transferable=min(transferable, balance.available),
        may_gift=pages.may(caller, SessionPermission.GIFT),
        may_buy=pages.may(caller, SessionPermission.BUY),
        is_user=is_user,
        workspaces=tuple(workspaces),
        packs=tuple(offers.pack_offers(list(kit.catalog.packs.values()))),
        gifts=tuple(gifts),
        gifts_next_cursor=next_cursor,
    )


def _gifts(pages: Pages, customer: str, cursor: str | None) -> tuple[list[GiftLine], str | None]:
    """A page of transfers, sent and received, from the newest (or from ``cursor``); the
    cursor of the next (older) page, or None at the oldest."""
    kinds = (TransactionKind.TRANSFER,)
    try:
        page = pages.kit.history(customer, limit=GIFTS_PAGE_SIZE, cursor=cursor, kinds=kinds)
    except CreditKitError:  # a stale or edited cursor: start again from the newest
        page = pages.kit.history(customer, limit=GIFTS_PAGE_SIZE, kinds=kinds)
    return [_gift_line(item) for item in page.items], page.next_cursor


def _gift_line(item: HistoryItem) -> GiftLine:
    note = item.metadata.get("note")
    return GiftLine(
        item=item,
        sent=item.available_change < 0,
        moved=item.metadata.get("purpose") == MOVE_PURPOSE,
        note=note if isinstance(note, str) else None,
    )


# -- writes ----------------------------------------------------------------------------------


def _gift(pages: Pages, request: Request, caller: Caller, form: FormData) -> Response:
    customer = caller.customer
    if not (customer is not None):
        raise InvariantViolation("customer is not None", "")
    key = forms.idempotency_key(form)
    try:
        recipient = forms.required(form, "recipient", "Recipient", CUSTOMER_ID_LENGTH_MAX)
        amount = forms.whole_number(form, "amount", "Amount")
        note = forms.text(form, "note", "Note", NOTE_LENGTH_MAX)
        pages.access.require_customer(caller, customer, Scope.WRITE, SessionPermission.GIFT)
        pages.kit.transfer(
            customer,
            recipient,
            amount,
            idempotency_key=Access.key_of(caller, key),
            metadata={"note": note} if note else None,
        )
    except InsufficientCredits as error:
        reason = _short("you can give", error)
        return _page(pages, request, caller, None, Refused("gift", reason, _typed(form, GIFT)))
    except (CreditKitError, ApiProblem) as error:
        reason = forms.problem(error, GIFT_LABELS)
        return _page(pages, request, caller, None, Refused("gift", reason, _typed(form, GIFT)))
    text = f"You gave {credits(amount)} credits to {recipient}."
    return pages.redirect(PAGE, Notice("success", text))


def _move(pages: Pages, request: Request, caller: Caller, form: FormData) -> Response:
    user = caller.customer
    if not (user is not None):
        raise InvariantViolation("user is not None", "")
    key = forms.idempotency_key(form)
    try:
        workspace = forms.required(form, "workspace", "Workspace", CUSTOMER_ID_LENGTH_MAX)
        direction = forms.text(form, "direction", "Direction", 8)
        amount = forms.whole_number(form, "amount", "Amount")
        pages.access.require_customer(caller, user, Scope.WRITE, SessionPermission.GIFT)
        sender, recipient = _move_parties(pages, user, workspace, direction)
        pages.kit.transfer(
            sender,
            recipient,
            amount,
            idempotency_key=Access.key_of(caller, key),
            metadata={"purpose": MOVE_PURPOSE},
        )
    except InsufficientCredits as error:
        where = "you can move" if direction == "in" else f"{workspace} can give"
        refused = Refused("move", _short(where, error), _typed(form, MOVE))
        return _page(pages, request, caller, None, refused)
    except (CreditKitError, ApiProblem) as error:
        refused = Refused("move", forms.problem(error, MOVE_LABELS), _typed(form, MOVE))
        return _page(pages, request, caller, None, refused)
    if direction == "in":
        text = f"You moved {credits(amount)} credits to {workspace}."
    else:
        text = f"You moved {credits(amount)} credits from {workspace} to your account."
    return pages.redirect(PAGE, Notice("success", text))


def _move_parties(pages: Pages, user: str, workspace: str, direction: str) -> tuple[str, str]:
    """(from, to) of a move, once the session's user may make it: ``in`` needs membership,
    ``out`` the owner's or an admin's role, read from the workspace's members now."""
    kit = pages.kit
    if kit.customer(user).kind is not CustomerKind.USER:
        raise InvalidRequest("Workspace", "credits move between a user and its workspaces")
    if direction not in ("in", "out"):
        raise InvalidRequest("Direction", "choose into or out of the workspace")
    roles: dict[str, Role] = {member.user: member.role for member in kit.members(workspace)}
    role = roles.get(user)
    if role is None:
        raise InvalidRequest("Workspace", f"you are not a member of {workspace}")
    if direction == "in":
        return user, workspace
    if role not in _MANAGERS:
        raise InvalidRequest(
            "Workspace", f"only an owner or admin of {workspace} may take its credits out"
        )
    return workspace, user


def _short(can: str, error: InsufficientCredits) -> str:
    """The amount is more than the transferable credits (only bought and gifted ones move)."""
    return (
        f"Amount: {can} {credits(error.available)} credits (bought or gifted ones),"
        f" not {credits(error.required)}."
    )
