"""SQLite: WAL frames a charge's commit writes, by b-tree (table or index).

Empties the WAL (a TRUNCATE checkpoint), runs ``--operations`` charges (alternating between two
customers, each charge its own commit; or one ``charge_many`` batch with ``--mode batch``), then
reads the page number of every frame in the WAL and names the b-tree the page belongs to
(SQLite's ``dbstat`` table). A frame is one page written by one commit, whole, so the count
times the page size is what each commit's fsync carries (printed in KiB with the frames'
headers); the floor of ``charge_throughput.py`` writes 2 (its balance row
and its entry). Every table or index listed is written by every charge (about 1.00 a charge);
fractions are page splits and the schema page of a growing file.

    python bench/wal_frames.py                      # a plain charge, alone
    python bench/wal_frames.py --mode spender       # through a spender under three budgets
    python bench/wal_frames.py --mode batch --operations 1000
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import struct
import tempfile
from collections import Counter
from pathlib import Path

from creditkit import ChargeRequest, CreditKit

START_BALANCE = 10**12
WARMUP = 50
#: The WAL's header, and each frame's header before its page (SQLite's file format).
WAL_HEADER_BYTES = 32
FRAME_HEADER_BYTES = 24
#: Under SQLite's automatic checkpoint (1,000 pages): the WAL is read whole, never restarted.
FRAMES_MAX = 900


def _kit(path: Path, mode: str) -> CreditKit:
    ck = CreditKit(f"sqlite:///{path}")
    for customer in ("a", "b"):
        ck.create_customer(customer)
        ck.grant(customer, START_BALANCE, idempotency_key=f"grant-{customer}")
    if mode == "spender":
        ck.create_spender("a", "team", kind="project")
        ck.create_spender("a", "agent", kind="agent", parent="team")
        for spender in (None, "team", "agent"):
            ck.set_budget("a", START_BALANCE, spender=spender, idempotency_key=f"budget-{spender}")
    for index in range(WARMUP):
        ck.charge("a", 1, idempotency_key=f"warm-{index}")
    return ck


def _charge(ck: CreditKit, mode: str, operations: int) -> None:
    if mode == "batch":
        ck.charge_many(
            [ChargeRequest("ab"[index % 2], 1, f"k-{index}") for index in range(operations)]
        )
        return
    for index in range(operations):
        if mode == "spender":
            ck.charge("a", 1, spender="agent", idempotency_key=f"k-{index}")
        else:
            ck.charge("ab"[index % 2], 1, idempotency_key=f"k-{index}")


def frames_by_btree(path: Path) -> tuple[int, int, int, Counter[str]]:
    """The WAL's frames, its commits, its page size, and its frames by the b-tree their page
    belongs to."""
    wal = Path(f"{path}-wal").read_bytes()
    page_size = struct.unpack(">I", wal[8:12])[0]
    frame_bytes = FRAME_HEADER_BYTES + page_size
    frames = (len(wal) - WAL_HEADER_BYTES) // frame_bytes
    if frames > FRAMES_MAX:
        raise SystemExit(f"{frames} frames: fewer operations, so no checkpoint restarts the WAL")
    with sqlite3.connect(path) as connection:
        names = dict(connection.execute("SELECT pageno, name FROM dbstat").fetchall())
    by_btree: Counter[str] = Counter()
    commits = 0
    for frame in range(frames):
        offset = WAL_HEADER_BYTES + frame * frame_bytes
        page, size_after_commit = struct.unpack(">II", wal[offset : offset + 8])
        commits += size_after_commit != 0
        by_btree[names.get(page, f"page {page} (free)")] += 1
    return frames, commits, page_size, by_btree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("plain", "spender", "batch"), default="plain")
    parser.add_argument("--operations", type=int, default=40, help="charges (default 40)")
    arguments = parser.parse_args()
    if not 0 < arguments.operations <= FRAMES_MAX:
        parser.error(f"--operations: between 1 and {FRAMES_MAX}")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "ledger.db"
        ck = _kit(path, arguments.mode)
        try:
            with sqlite3.connect(path) as connection:
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            if os.path.getsize(f"{path}-wal") != 0:
                raise SystemExit("the WAL was not emptied: another connection reads it")
            _charge(ck, arguments.mode, arguments.operations)
            frames, commits, page_size, by_btree = frames_by_btree(path)
        finally:
            ck.close()
    operations = arguments.operations
    print(
        f"{arguments.mode}: {operations} charges, {commits} commits, {frames} WAL frames:"
        f" {frames / operations:.2f} a charge; {page_size:,}-byte pages:"
        f" {frames * (FRAME_HEADER_BYTES + page_size) / operations / 1024:.1f} KiB a charge"
    )
    for name, count in by_btree.most_common():
        print(f"  {name:42s} {count / operations:5.2f}")


if __name__ == "__main__":
    main()
