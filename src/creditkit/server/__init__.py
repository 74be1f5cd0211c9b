"""The server's assembly (``creditkit serve``): the HTTP API (``creditkit.api``) and the pages
(``creditkit.web``) mounted on one app (``create_app``), and the settings and process that serve
it (``creditkit.server.serve``). It sits above both."""

from creditkit.server.app import create_app

__all__ = ["create_app"]
