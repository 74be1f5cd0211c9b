"""The one line the ``creditkit`` command prints for a user's mistake.

A mistake is something the user can fix: a wrong flag, a missing file, a database that is not
there. Anything else is a bug in creditkit, and keeps its traceback.
"""

from __future__ import annotations

import argparse
import os

import sqlalchemy as sa

from creditkit.errors import CreditKitError, InvariantViolation

_DATABASE_HINTS = (
    ("does not exist", "create it (createdb NAME) or fix --database-url"),
    ("connection refused", "is PostgreSQL running there? check --database-url's host and port"),
    ("password authentication failed", "check the user and password in --database-url"),
    ("could not translate host name", "check --database-url's host"),
    ("unable to open database file", "check that the SQLite file's folder can be written"),
)


def explain(error: BaseException, arguments: argparse.Namespace) -> str | None:
    """The line for ``error`` (without the ``creditkit:`` prefix), or ``None`` for a bug."""
    if isinstance(error, CreditKitError):
        return str(error)
    if isinstance(error, sa.exc.DBAPIError) and isinstance(
        error, sa.exc.OperationalError | sa.exc.InterfaceError
    ):
        return _database_line(error, arguments)
    if isinstance(error, sa.exc.ArgumentError):
        return f"--database-url: not a database URL ({error}); use sqlite:///FILE or postgresql://"
    if isinstance(error, OSError) and error.filename is not None:
        return f"cannot use {error.filename}: {error.strerror}"
    return None


def defect(error: BaseException) -> str | None:
    """The line printed above the traceback of a defect in creditkit (``InvariantViolation``),
    so that it is not read as the user's mistake; ``None`` for any other error."""
    if isinstance(error, InvariantViolation):
        return f"a defect in creditkit, not in what you asked (please report it): {error}"
    return None


def _database_line(error: sa.exc.DBAPIError, arguments: argparse.Namespace) -> str:
    # psycopg's message ends with a hint paragraph and SQLAlchemy's with a link: the first
    # line says what failed.
    reason = str(error.orig).strip().splitlines()[0] if error.orig is not None else str(error)
    reason = reason.removeprefix("connection failed: ")
    hint = next(
        (hint for needle, hint in _DATABASE_HINTS if needle in reason.lower()),
        "check --database-url",
    )
    url = getattr(arguments, "database_url", None) or os.environ.get("CREDITKIT_DATABASE_URL")
    where = ""
    if url:
        try:
            where = " " + sa.make_url(url).render_as_string(hide_password=True)
        except sa.exc.ArgumentError:
            where = ""
    return f"cannot open the database{where}: {reason}; {hint}"
