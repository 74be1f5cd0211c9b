"""What every command reads its settings from, as serve reads them, and the files they name."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from creditkit.errors import InvalidRequest
from creditkit.server.serve import Settings


def settings_of(arguments: argparse.Namespace) -> Settings:
    """The settings of the running command, read as serve reads them (a flag, then
    $CREDITKIT_…, then --config, then the defaults): every command finds the ledger, catalog and
    port serve uses. The flags read are those ``_add_settings`` (cli/parser.py) gave the
    command's parser."""
    return Settings.resolve(flags_of(arguments), os.environ, getattr(arguments, "config", None))


def flags_of(arguments: argparse.Namespace) -> dict[str, Any]:
    names: tuple[str, ...] = getattr(arguments, "settings_names", ())
    return {name: getattr(arguments, name, None) for name in names if name != "config"}


def given(arguments: argparse.Namespace, *names: str) -> bool:
    """Whether any of these settings was given (by a flag, the environment or --config), not
    left to its default."""
    layers = Settings.layers(flags_of(arguments), os.environ, getattr(arguments, "config", None))
    return any(name in layer for layer in layers for name in names)


def existing_file(path: str, field: str, hint: str) -> str:
    if not Path(path).is_file():
        raise InvalidRequest(field, f"no file {path}; {hint}")
    return path


def catalog_of(settings: Settings) -> str:
    return existing_file(
        settings.catalog_path(),
        "--catalog",
        "give a catalog YAML's path (docs/catalog.md), or leave --catalog and $CREDITKIT_CATALOG"
        " out for the bundled example",
    )
