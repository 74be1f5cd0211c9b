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
from datetime import UTC, datetime, timedelta
from typing import Any

from creditkit.clock import Clock
from creditkit.errors import InvalidRequest
from creditkit.keys import repository
from creditkit.keys.schemas import (
    ApiKey,
    Caller,
    CreatedApiKey,
    Scope,
    SessionCode,
    SessionPermission,
    SessionToken,
)
from creditkit.keys.secrets import ServiceSecrets
from creditkit.ledger.checks import EXTERNAL_ID_LENGTH_MAX, check_text
from creditkit.store.database import Database
from creditkit.store.unit_of_work import UnitOfWork

SECRET_KEY_PREFIX = "ck_secret_"
SESSION_TOKEN_PREFIX = "cks_"
CONSOLE_SESSION_PREFIX = "ckc_"
SESSION_CODE_PREFIX = "ckx_"
#: A session link is followed at once (the app redirects to it): five minutes is plenty, and a
#: link found later in a history opens nothing.
SESSION_CODE_TTL_SECONDS_DEFAULT = 300
SESSION_CODE_TTL_SECONDS_MAX = 3_600
#: Expired codes forgotten per code made.
SESSION_CODES_SWEPT_MAX = 100
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


def _milliseconds(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _new_signing_secret() -> str:
    return secrets.token_hex(32)


def _signature(key: str, body: str) -> str:
    return _b64(hmac.new(key.encode(), body.encode(), hashlib.sha256).digest())


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class KeyService:
    def __init__(self, database: Database, clock: Clock, shared: ServiceSecrets) -> None:
        self._database = database
        self._clock = clock
        self._cache: dict[str, tuple[datetime, Caller | None]] = {}
        self._cache_lock = threading.Lock()
        self._shared = shared
        self._revocations: dict[tuple[str, str], tuple[datetime, int]] = {}
        self._shared.get(_SIGNING_SECRET_NAME, _new_signing_secret)  # sealed at first start

    def rotate_signing_secret(self) -> datetime:
        """A new secret signs session tokens, console cookies and forms' tokens from now on;
        what the old one signed stays valid until the returned instant (longer than any of it
        lives)."""
        return self._shared.rotate(_SIGNING_SECRET_NAME, _new_signing_secret)

    # -- where the pages are served --

    def record_served_at(self, address: str) -> None:
        """Records where ``creditkit serve`` answers on this ledger (its public address)."""
        if len(address) > SERVED_AT_LENGTH_MAX:
            return
        self._shared.put(_SERVED_AT_NAME, address)

    def served_at(self) -> str | None:
        """Where ``creditkit serve`` last started on this ledger, if it has."""
        return self._shared.value(_SERVED_AT_NAME)

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
        self._database.unit_of_work(
            lambda: now,
            lambda context: repository.insert_key(
                context.connection, key_id, _sha256(secret), name, scope.value, context.now
            ),
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
        found = self._database.unit_of_work(
            lambda: now,
            lambda context: repository.revoke(context.connection, key_id, context.now),
        )
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
            # Issued at, in milliseconds: a revocation refuses the tokens issued until it.
            "iat": _milliseconds(self._clock()),
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
        if not self._signed("console:" + body, signature):
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
        key = self._shared.get(_SIGNING_SECRET_NAME, _new_signing_secret).current
        return _signature(key, body)

    def _signed(self, body: str, signature: str) -> bool:
        """Whether ``signature`` is ``body``'s with the signing secret, or with the one a
        rotation replaced while that still verifies."""
        shared = self._shared.get(_SIGNING_SECRET_NAME, _new_signing_secret)
        return any(
            hmac.compare_digest(signature, _signature(key, body))
            for key in shared.verifying(self._clock())
        )

    def verify(self, purpose: str, text: str, signature: str) -> bool:
        """Whether ``signature`` is ``sign(purpose, text)``'s, across a rotation's overlap."""
        return self._signed(f"{purpose}:{text}", signature)

    def _verify_session(self, token: str) -> Caller | None:
        body, _, signature = token[len(SESSION_TOKEN_PREFIX) :].partition(".")
        if not self._signed(body, signature):
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
        # A token from before revocations existed counts as issued at the longest lifetime's
        # start: a revocation after it refuses it too.
        issued_ms = payload.get("iat", (expires_at - SESSION_TTL_SECONDS_MAX) * 1000)
        if not isinstance(issued_ms, int) or issued_ms <= self._revoked_ms(customer, user):
            return None
        return Caller(
            customer=customer,
            user=user,
            permissions=permissions,
            expires_at=datetime.fromtimestamp(expires_at, UTC),
        )

    # -- revocation --

    def revoke_sessions(self, customer: str, *, user: str | None = None) -> datetime:
        """Refuses every session token of ``customer`` issued until now (of its member
        ``user`` only, when given): sign-out everywhere. Other processes refuse them within
        ``KEY_CACHE_SECONDS``; this one at once. Returns the revocation's instant."""
        check_text(customer, "customer", EXTERNAL_ID_LENGTH_MAX)
        if user is not None:
            check_text(user, "user", EXTERNAL_ID_LENGTH_MAX)
        now = self._clock()
        self._database.unit_of_work(
            lambda: now,
            lambda context: repository.revoke_sessions(
                context.connection, customer, user or "", context.now
            ),
        )
        with self._cache_lock:
            self._revocations.clear()
        return now

    def _revoked_ms(self, customer: str, user: str | None) -> int:
        """When ``user``'s tokens of ``customer`` were last revoked (ms; -1: never), read at
        most every ``KEY_CACHE_SECONDS`` per customer and member."""
        cache_key = (customer, user or "")
        now = self._clock()
        with self._cache_lock:
            cached = self._revocations.get(cache_key)
        if cached is not None and cached[0] > now:
            return cached[1]
        with self._database.read() as connection:
            revoked_at = repository.sessions_revoked_at(connection, customer, user or "")
        revoked_ms = -1 if revoked_at is None else _milliseconds(revoked_at)
        with self._cache_lock:
            if len(self._revocations) >= KEY_CACHE_ENTRIES_MAX:
                self._revocations.clear()
            self._revocations[cache_key] = (now + timedelta(seconds=KEY_CACHE_SECONDS), revoked_ms)
        return revoked_ms

    # -- session links' exchange codes --

    def issue_session_code(
        self,
        customer: str,
        *,
        user: str | None = None,
        permissions: Sequence[SessionPermission | str] = tuple(SessionPermission),
        ttl_seconds: int = SESSION_TTL_SECONDS_DEFAULT,
        code_ttl_seconds: int = SESSION_CODE_TTL_SECONDS_DEFAULT,
    ) -> SessionCode:
        """A code for a session link (``/app/session?code=…``): exchanged once, within
        ``code_ttl_seconds``, for a session token of ``ttl_seconds``. A link is seen in
        browser histories and proxies' logs: a used or stale one opens nothing."""
        if isinstance(code_ttl_seconds, bool) or not isinstance(code_ttl_seconds, int):
            raise InvalidRequest("code_ttl_seconds", "must be an int")
        if not 0 < code_ttl_seconds <= SESSION_CODE_TTL_SECONDS_MAX:
            raise InvalidRequest("code_ttl_seconds", f"must be 1 to {SESSION_CODE_TTL_SECONDS_MAX}")
        # Checked as a token would be: the exchange then cannot fail on them.
        template = self.issue_session(
            customer, user=user, permissions=permissions, ttl_seconds=ttl_seconds
        )
        code = SESSION_CODE_PREFIX + secrets.token_urlsafe(32)
        now = self._clock()
        expires_at = now.replace(microsecond=0) + timedelta(seconds=code_ttl_seconds)

        def write(context: UnitOfWork) -> None:
            repository.delete_expired_session_codes(
                context.connection, context.now, SESSION_CODES_SWEPT_MAX
            )
            repository.insert_session_code(
                context.connection,
                {
                    "code_sha256": _sha256(code),
                    "customer": customer,
                    "user": user,
                    "permissions": ",".join(p.value for p in template.permissions),
                    "ttl_seconds": ttl_seconds,
                    "expires_at": expires_at,
                },
            )

        self._database.unit_of_work(lambda: now, write)
        return SessionCode(code, customer, user, expires_at)

    def session_code(self, code: str) -> SessionCode | None:
        """Whose pages ``code`` opens, without using it (for the page that asks first); None
        when it is unknown, used or expired."""
        if not code.startswith(SESSION_CODE_PREFIX):
            return None
        with self._database.read() as connection:
            row = repository.session_code(connection, _sha256(code))
        if row is None or row.used_at is not None or row.expires_at <= self._clock():
            return None
        return SessionCode(code, row.customer, row.user, row.expires_at)

    def exchange_session_code(self, code: str) -> SessionToken | None:
        """The session token ``code`` stands for, once: None when it is unknown, used or
        expired."""
        if not code.startswith(SESSION_CODE_PREFIX):
            return None
        digest = _sha256(code)
        now = self._clock()

        def write(context: UnitOfWork) -> Any | None:
            if not repository.use_session_code(context.connection, digest, context.now):
                return None
            return repository.session_code(context.connection, digest)

        row = self._database.unit_of_work(lambda: now, write)
        if row is None:
            return None
        return self.issue_session(
            row.customer,
            user=row.user,
            permissions=[p for p in row.permissions.split(",") if p],
            ttl_seconds=row.ttl_seconds,
        )
