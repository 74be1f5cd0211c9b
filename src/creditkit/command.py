"""The ``creditkit`` command's entry point: ``creditkit.cli`` when the engine is installed, and
otherwise the one line that says how to install it.

Every command (demo, serve, migrate, keys, worker, import, …) runs the engine, which a
client-only install (``pip install creditkit``) leaves out; the command is still installed with
the base distribution, so it must fail the way every other user mistake does: one
``creditkit: …`` line on stderr and a non-zero exit, no traceback.
"""

from __future__ import annotations

import sys

from creditkit.engine_extra import engine_missing

#: The exit status when the engine is not installed (as for every other user mistake).
ENGINE_MISSING_EXIT_STATUS = 1


def main() -> int:
    try:
        from creditkit.cli import main as run
    except ModuleNotFoundError as error:
        line = engine_missing(error, "the creditkit command")
        if line is None:
            raise
        print(f"creditkit: {line}", file=sys.stderr)
        return ENGINE_MISSING_EXIT_STATUS
    return run()
