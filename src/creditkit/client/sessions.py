"""The client's session tokens (``Client``'s methods: see client.py)."""

from __future__ import annotations

from collections.abc import Sequence

from creditkit.client.encode import v1_path
from creditkit.client.wire import Wire
from creditkit.keys.schemas import SessionCode, SessionInfo, SessionPermission, SessionToken

#: The session token lifetime the API gives when the caller names none.
SESSION_TTL_SECONDS_DEFAULT = 900
SESSION_CODE_TTL_SECONDS_DEFAULT = 300


class ClientSessions:
    """Customer session tokens and links, issued over HTTP (the kit's are ``CreditKit.keys``')."""

    _wire: Wire

    def issue_session(
        self,
        customer: str,
        *,
        user: str | None = None,
        permissions: Sequence[SessionPermission | str] = tuple(SessionPermission),
        ttl_seconds: int = SESSION_TTL_SECONDS_DEFAULT,
    ) -> SessionToken:
        """A short-lived token for one customer's browser (``CreditKit.keys.issue_session``);
        for a workspace, ``user`` names the member acting."""
        body = {
            "user": user,
            "permissions": [str(permission) for permission in permissions],
            "ttl_seconds": ttl_seconds,
        }
        path = v1_path("customers", customer, "session-tokens")
        # A key per call, reused by its retries: a retried request gets the same token.
        return self._wire.write("POST", path, SessionToken, body, None)

    def session(self) -> SessionInfo:
        """Whose the client's session token is (``GET /v1/session``): its customer, member,
        permissions and expiry. Refused (``ApiError``, 403
        ``session_token_required``) when the client holds a secret key."""
        return self._wire.read("/v1/session", SessionInfo, {})

    def issue_session_code(
        self,
        customer: str,
        *,
        user: str | None = None,
        permissions: Sequence[SessionPermission | str] = tuple(SessionPermission),
        ttl_seconds: int = SESSION_TTL_SECONDS_DEFAULT,
        code_ttl_seconds: int = SESSION_CODE_TTL_SECONDS_DEFAULT,
    ) -> SessionCode:
        """A session link's single-use code (``CreditKit.keys.issue_session_code``): send the
        browser to ``/app/session?code=<code>``."""
        body = {
            "user": user,
            "permissions": [str(permission) for permission in permissions],
            "ttl_seconds": ttl_seconds,
            "code_ttl_seconds": code_ttl_seconds,
        }
        path = v1_path("customers", customer, "session-codes")
        return self._wire.write("POST", path, SessionCode, body, None)

    def revoke_sessions(self, customer: str, *, user: str | None = None) -> None:
        """Signs the customer (or its member ``user``) out everywhere
        (``CreditKit.keys.revoke_sessions``)."""
        query = None if user is None else {"user": user}
        self._wire.call("DELETE", v1_path("customers", customer, "session-tokens"), query=query)
