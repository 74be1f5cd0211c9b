"""Secret API keys and customer session tokens.

A secret key (``ck_secret_…``) is for the app's backend: it acts for any customer, within its
scope. A session token (``cks_…``) is for a browser: signed by the service, it names one customer
(and, for a workspace, the member acting), lives at most an hour, and may only read, buy or gift for
that customer. Tokens are verified without a database read; keys with one indexed lookup, cached
for a few seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from creditkit.clock import Clock
from creditkit.errors import InvalidRequest
from creditkit.keys import repository
from creditkit.keys.schemas import (
    ApiKey,
    Caller,
    CreatedApiKey,
    Scope,
    SessionPermission,
    SessionToken,
)
from creditkit.store.database import Database

SECRET_KEY_PREFIX = "ck_secret_"
SESSION_TOKEN_PREFIX = "cks_"
CONSOLE_SESSION_PREFIX = "ckc_"
NAME_LENGTH_MAX = 255
#: A browser token is short-lived: a leaked one is useless within the hour.
SESSION_TTL_SECONDS_DEFAULT = 900
SESSION_TTL_SECONDS_MAX = 3_600
#: How long a key verified once is trusted without asking the database again: a revocation
#: reaches every process within this time.
KEY_CACHE_SECONDS = 5
#: An operator signs in to the console once a working day.
CONSOLE_SESSION_TTL_SECONDS = 8 * 3_600
KEY_CACHE_ENTRIES_MAX = 1_024
_SIGNING_SECRET_NAME = "session_tokens"
#: Where ``creditkit serve`` last said it answers, so that ``creditkit link`` makes links there.
_SERVED_AT_NAME = "served_at"
#: The column's width; a longer address is not recorded (links then need --base-url).
SERVED_AT_LENGTH_MAX = 128


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class KeyService:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock
        self._cache: dict[str, tuple[datetime, Caller | None]] = {}
        self._cache_lock = threading.Lock()
        candidate = secrets.token_hex(32)
        self._signing_key = database.write(
            lambda connection: repository.shared_secret(
                connection, _SIGNING_SECRET_NAME, candidate, clock()
            )
        ).encode()

    # -- where the pages are served --

    def record_served_at(self, address: str) -> None:
        """Records where ``creditkit serve`` answers on this ledger (its public address)."""
        if len(address) > SERVED_AT_LENGTH_MAX:
            return
        now = self._clock()
        self._database.write(
            lambda connection: repository.put_shared_value(
                connection, _SERVED_AT_NAME, address, now
            )
        )

    def served_at(self) -> str | None:
        """Where ``creditkit serve`` last started on this ledger, if it has."""
        with self._database.read() as connection:
            return repository.shared_value(connection, _SERVED_AT_NAME)

    # -- secret keys --

    def create_key(self, name: str, scope: Scope | str = Scope.WRITE) -> CreatedApiKey:
        """A new secret key. Its secret is in the result and nowhere else: store it now."""
        if not isinstance(name, str) or not name.strip() or len(name) > NAME_LENGTH_MAX:
            raise InvalidRequest("name", f"must be 1 to {NAME_LENGTH_MAX} characters")
        try:
            scope = Scope(scope)
        except ValueError:
            raise InvalidRequest(
                "scope", f"must be one of {', '.join(s.value for s in Scope)}"
            ) from None
        secret = SECRET_KEY_PREFIX + secrets.token_urlsafe(32)
        key_id = "key_" + secrets.token_hex(8)
        now = self._clock()
        self._database.write(
            lambda connection: repository.insert_key(
                connection, key_id, _sha256(secret), name, scope.value, now
            )
        )
        return CreatedApiKey(ApiKey(key_id, name, scope, now, None), secret)

    def list_keys(self) -> list[ApiKey]:
        with self._database.read() as connection:
            return [self._key(row) for row in repository.keys(connection)]

    def has_active_keys(self) -> bool:
        with self._database.read() as connection:
            return repository.active_key_count(connection) > 0

    def revoke(self, key_id: str) -> bool:
        """True when the key exists. Processes that verified it stop trusting it within
        ``KEY_CACHE_SECONDS``; this one at once."""
        now = self._clock()
        found = self._database.write(lambda connection: repository.revoke(connection, key_id, now))
        with self._cache_lock:
            self._cache.clear()
        return found

    def authenticate(self, presented: str) -> Caller | None:
        """The caller a secret key or a session token stands for, or None when it is not valid
        (unknown, revoked, expired, tampered)."""
        if presented.startswith(SESSION_TOKEN_PREFIX):
            return self._verify_session(presented)
        if not presented.startswith(SECRET_KEY_PREFIX):
            return None
        digest = _sha256(presented)

        def look_up() -> Caller | None:
            with self._database.read() as connection:
                row = repository.key_by_secret(connection, digest)
            if row is None or row.revoked_at is not None:
                return None
            return Caller(key_id=row.key_id, scope=Scope(row.scopes))

        return self._cached(digest, look_up)

    def _cached(self, cache_key: str, look_up: Callable[[], Caller | None]) -> Caller | None:
        """``look_up()``'s caller, trusted for ``KEY_CACHE_SECONDS``."""
        now = self._clock()
        with self._cache_lock:
            cached = self._cache.get(cache_key)
        if cached is not None and cached[0] > now:
            return cached[1]
        caller = look_up()
        with self._cache_lock:
            if len(self._cache) >= KEY_CACHE_ENTRIES_MAX:
                self._cache.clear()
            self._cache[cache_key] = (now + timedelta(seconds=KEY_CACHE_SECONDS), caller)
        return caller

    @staticmethod
    def _key(row: Any) -> ApiKey:
        return ApiKey(row.key_id, row.name, Scope(row.scopes), row.created_at, row.revoked_at)

    # -- session tokens --

    def issue_session(
        self,
        customer: str,
        *,
        user: str | None = None,
        permissions: Sequence[SessionPermission | str] = tuple(SessionPermission),
        ttl_seconds: int = SESSION_TTL_SECONDS_DEFAULT,
    ) -> SessionToken:
        """A token for one customer's browser. The caller (a secret key) vouches for who the
        user is; for a workspace, ``user`` names the member acting, whose role decides at each
        request whether it may buy or manage."""
        if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int):
            raise InvalidRequest("ttl_seconds", "must be an int")
        if not 0 < ttl_seconds <= SESSION_TTL_SECONDS_MAX:
            raise InvalidRequest("ttl_seconds", f"must be 1 to {SESSION_TTL_SECONDS_MAX}")
        try:
            granted = tuple(sorted({SessionPermission(p) for p in permissions}))
        except ValueError:
            raise InvalidRequest(
                "permissions",
                f"each must be one of {', '.join(p.value for p in SessionPermission)}",
            ) from None
        expires_at = self._clock().replace(microsecond=0) + timedelta(seconds=ttl_seconds)
        payload = {
            "c": customer,
            "u": user,
            "p": [p.value for p in granted],
            "exp": int(expires_at.timestamp()),
        }
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        token = f"{SESSION_TOKEN_PREFIX}{body}.{self._sign(body)}"
        return SessionToken(token, customer, user, granted, expires_at)

    # -- console sessions --

    def issue_console_session(self, secret: str) -> str | None:
        """A cookie's token for the operator's console, given an ``admin`` secret key (None for
        any other). The token names the key, not its secret, so the browser never keeps the
        secret; it lives ``CONSOLE_SESSION_TTL_SECONDS`` and dies with the key's revocation."""
        caller = self.authenticate(secret) if secret.startswith(SECRET_KEY_PREFIX) else None
        if caller is None or caller.scope is not Scope.ADMIN:
            return None
        expires_at = self._clock().replace(microsecond=0) + timedelta(
            seconds=CONSOLE_SESSION_TTL_SECONDS
        )
        payload = {"k": caller.key_id, "exp": int(expires_at.timestamp())}
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        return f"{CONSOLE_SESSION_PREFIX}{body}.{self._sign('console:' + body)}"

    def verify_console_session(self, token: str) -> Caller | None:
        """The admin key's caller a console token stands for; None when it is tampered,
        expired, or its key is revoked (seen within ``KEY_CACHE_SECONDS``)."""
        if not token.startswith(CONSOLE_SESSION_PREFIX):
            return None
        body, _, signature = token[len(CONSOLE_SESSION_PREFIX) :].partition(".")
        if not hmac.compare_digest(signature, self._sign("console:" + body)):
            return None
        try:
            payload = json.loads(_unb64(body))
            key_id, expires_at = str(payload["k"]), int(payload["exp"])
        except (ValueError, KeyError, TypeError):
            return None
        if expires_at <= self._clock().timestamp():
            return None

        def look_up() -> Caller | None:
            with self._database.read() as connection:
                row = repository.key_by_id(connection, key_id)
            if row is None or row.revoked_at is not None or row.scopes != Scope.ADMIN.value:
                return None
            return Caller(key_id=row.key_id, scope=Scope.ADMIN)

        return self._cached("console:" + key_id, look_up)

    def sign(self, purpose: str, text: str) -> str:
        """A signature of ``text`` for ``purpose`` (a form's CSRF token, a flashed message)
        with the service's shared secret: every process makes and checks the same."""
        return self._sign(f"{purpose}:{text}")

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._signing_key, body.encode(), hashlib.sha256).digest())

    def _verify_session(self, token: str) -> Caller | None:
        body, _, signature = token[len(SESSION_TOKEN_PREFIX) :].partition(".")
        if not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            payload = json.loads(_unb64(body))
            expires_at = int(payload["exp"])
            customer, user = payload["c"], payload["u"]
            permissions = tuple(SessionPermission(p) for p in payload["p"])
        except (ValueError, KeyError, TypeError):
            return None
        if expires_at <= self._clock().timestamp():
            return None
        return Caller(customer=customer, user=user, permissions=permissions)
