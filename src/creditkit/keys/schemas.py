"""Who is calling: secret API keys (the app's backend) and customer session tokens (a browser)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Scope(StrEnum):
    """What a caller may do. Each scope includes the ones before it: a ``write`` key may also
    charge and read; ``admin`` may do everything (webhook endpoints, keys' listing)."""

    READ = "read"
    CHARGE = "charge"
    WRITE = "write"
    ADMIN = "admin"

    def includes(self, other: Scope) -> bool:
        return _SCOPE_ORDER.index(self) >= _SCOPE_ORDER.index(other)


_SCOPE_ORDER = (Scope.READ, Scope.CHARGE, Scope.WRITE, Scope.ADMIN)


class SessionPermission(StrEnum):
    """What a customer session token may do, for its one customer."""

    READ = "read"  # balance, usage, history, subscription, entitlements
    BUY = "buy"  # checkout (in a workspace: owner and admins only)
    GIFT = "gift"  # transfer its own credits to another customer
    MANAGE = "manage"  # a workspace's members (its owner and admins only)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A secret key, as listed: never the secret."""

    key_id: str
    name: str
    scope: Scope
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class CreatedApiKey:
    """The secret is shown once, when created; only its SHA-256 is stored."""

    key: ApiKey
    secret: str


@dataclass(frozen=True, slots=True)
class SessionToken:
    token: str
    customer: str
    user: str | None
    permissions: tuple[SessionPermission, ...]
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SessionCode:
    """A session link's exchange code: opens ``customer``'s pages once (``/app/session?code=``),
    until ``expires_at``; the browser that exchanges it gets a session token of
    ``ttl_seconds``."""

    code: str
    customer: str
    user: str | None
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller: a secret key (``scope`` set, any customer) or a session token
    (``customer`` set: that customer only; ``user``: the member acting for a workspace)."""

    key_id: str | None = None
    scope: Scope | None = None
    customer: str | None = None
    user: str | None = None
    permissions: tuple[SessionPermission, ...] = ()
    #: When a session token stops working (None for a secret key).
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """Whose a session token is (``GET /v1/session``): a browser holding only the token learns
    its customer, the member acting (workspaces), what it may do and until when."""

    customer: str
    user: str | None
    permissions: tuple[SessionPermission, ...]
    expires_at: datetime
