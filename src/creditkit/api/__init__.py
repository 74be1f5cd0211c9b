"""The HTTP service (``creditkit serve``): thin routers over ``CreditKit``."""

from creditkit.api.app import create_app

__all__ = ["create_app"]
