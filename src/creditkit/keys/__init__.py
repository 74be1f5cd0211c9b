"""API keys (the app's backend) and customer session tokens (browsers)."""

from creditkit.keys.schemas import (
    ApiKey,
    Caller,
    CreatedApiKey,
    Scope,
    SessionPermission,
    SessionToken,
)

__all__ = ["ApiKey", "Caller", "CreatedApiKey", "Scope", "SessionPermission", "SessionToken"]
