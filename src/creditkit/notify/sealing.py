"""Webhook endpoint secrets, encrypted at rest (Fernet: AES-128-CBC and HMAC-SHA256).

Deliveries are signed with the endpoint's secret, so creditkit needs it back in clear: it is
stored encrypted with the server's secret key and opened only to sign. The key comes from
``CreditKit(secret_key=...)``, else ``CREDITKIT_SECRET_KEY`` (``creditkit serve`` also reads
``secret_key`` from its config file). Without one, an embedded ledger on a SQLite file keeps a
key in a file beside it (``<database>.secret-key``, made when a first secret is sealed,
readable by its owner only), so that a first start works; on PostgreSQL there is no file to
put it in, and anything that needs a webhook secret refuses (``SecretKeyMissing``). A database
copied without its key keeps its endpoints, but their secrets are unreadable: a stolen
database does not give away the means to forge creditkit's webhooks.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from creditkit.notify.errors import SecretKeyMissing, SecretKeyWrong

SECRET_KEY_ENVIRONMENT = "CREDITKIT_SECRET_KEY"
KEY_FILE_SUFFIX = ".secret-key"
_KEY_FILE_MODE = 0o600


def _fernet(key: str | bytes, where: str) -> Fernet:
    try:
        return Fernet(key)
    except ValueError:
        raise SecretKeyWrong(
            f"{where} is not a secret key: it must be 32 url-safe base64-encoded bytes"
            " (make one with `creditkit secret-key`)"
        ) from None


def new_secret_key() -> str:
    return Fernet.generate_key().decode("ascii")


class Sealer:
    """Seals and opens endpoint secrets with one key: given, or read from (or first written to)
    ``key_file`` when a secret is first sealed or opened; without either, it refuses."""

    def __init__(self, fernet: Fernet | None, key_file: Path | None = None) -> None:
        self._fernet = fernet
        self._key_file = key_file

    @classmethod
    def of(cls, secret_key: str | None, sqlite_path: str | None) -> Sealer:
        """The sealer of a ledger: ``secret_key``, else the environment's, else (on a SQLite
        file) the key file beside the database."""
        key = secret_key or os.environ.get(SECRET_KEY_ENVIRONMENT) or None
        if key is not None:
            where = "secret_key" if secret_key else SECRET_KEY_ENVIRONMENT
            return cls(_fernet(key, where))
        if sqlite_path is None:
            return cls(None)
        return cls(None, Path(sqlite_path + KEY_FILE_SUFFIX))

    def seal(self, secret: str) -> str:
        return self._required().encrypt(secret.encode("utf-8")).decode("ascii")

    def unseal(self, sealed: str) -> str:
        try:
            return self._required().decrypt(sealed.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise SecretKeyWrong(
                "a stored webhook secret does not open with this secret key: it was sealed"
                " with another one"
            ) from None

    def _required(self) -> Fernet:
        if self._fernet is None and self._key_file is not None:
            # Two threads may both get here: they read the same file, whichever wrote it.
            self._fernet = _fernet(_key_file(self._key_file), str(self._key_file))
        if self._fernet is None:
            raise SecretKeyMissing(
                f"webhook secrets are encrypted at rest: set {SECRET_KEY_ENVIRONMENT} (or pass"
                " secret_key=); make one with `creditkit secret-key`"
            )
        return self._fernet


def _key_file(path: Path) -> bytes:
    """The key in ``path``, written there first (owner-only) when the file does not exist. The
    new key is written aside and linked into place, which fails if the file exists: of two
    processes starting at once, one puts its key there and both use it."""
    if not path.exists():
        aside = path.with_name(f"{path.name}.{os.getpid()}.new")
        descriptor = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _KEY_FILE_MODE)
        with os.fdopen(descriptor, "wb") as file:
            file.write(Fernet.generate_key() + b"\n")
        try:
            os.link(aside, path)
        except FileExistsError:
            pass
        finally:
            aside.unlink()
    return path.read_bytes().strip()
