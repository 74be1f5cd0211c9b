"""A batch's answers: ``charge_many``'s list of ``Charge | CreditKitError``, one per request in
order, read from the columns the batch kept instead of built for every charge up front."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from itertools import chain
from typing import Any, overload

from creditkit.errors import CreditKitError, InvariantViolation
from creditkit.ledger.schemas import Charge

Outcome = Charge | CreditKitError


class ChargeOutcomes(Sequence[Outcome]):
    """Behaves as the list of outcomes (index, slice, iterate, ``len``, ``==`` with a list):
    each charge's ``Charge`` is built when it is first read, so a caller that only counts the
    refusals (``errors``) pays for no answer it does not read."""

    __slots__ = ("_invalid", "_length", "_offset", "_outcomes")

    def __init__(
        self,
        invalid: Mapping[int, CreditKitError],
        outcomes: Mapping[int, Outcome],
        length: int,
        offset: int = 0,
    ) -> None:
        self._invalid = invalid
        self._outcomes = outcomes
        self._length = length
        self._offset = offset

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> Outcome: ...

    @overload
    def __getitem__(self, index: slice) -> ChargeOutcomes: ...

    def __getitem__(self, index: int | slice) -> Outcome | ChargeOutcomes:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._length)
            if step != 1:
                return _Listed([self[position] for position in range(start, stop, step)])
            return ChargeOutcomes(
                self._invalid, self._outcomes, max(0, stop - start), self._offset + start
            )
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError("outcome index out of range")
        at = self._offset + index
        outcome = self._outcomes.get(at)
        if outcome is None:
            outcome = self._invalid.get(at)
            if outcome is None:
                raise InvariantViolation("every charge has an outcome", f"item {index}")
        return outcome

    def __iter__(self) -> Iterator[Outcome]:
        for index in range(self._length):
            yield self[index]

    def errors(self) -> dict[int, CreditKitError]:
        """The charges that did not go through, by position: without building any ``Charge``."""
        found: dict[int, CreditKitError] = {}
        end = self._offset + self._length
        for at, error in self._invalid.items():
            if self._offset <= at < end:
                found[at - self._offset] = error
        decided = self._outcomes
        if isinstance(decided, SegmentedOutcomes):
            decided = decided.decided  # the lean runs' outcomes are all charges
        for at in decided.keys() if isinstance(decided, dict) else ():
            if self._offset <= at < end:
                outcome = decided[at]
                if isinstance(outcome, CreditKitError):
                    found[at - self._offset] = outcome
        return dict(sorted(found.items()))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(list(self))

    def __add__(self, other: Any) -> list[Outcome]:
        return [*self, *other]


class _Listed(ChargeOutcomes):
    """Outcomes already built (a stepped slice)."""

    def __init__(self, outcomes: list[Outcome]) -> None:
        super().__init__({}, dict(enumerate(outcomes)), len(outcomes))


class SegmentedOutcomes(Mapping[int, Outcome]):
    """A batch's outcomes by index when the lean path took it in several runs: each run's
    outcomes (charges, built when read), and the rest (the reference path's charges, replays,
    refusals and errors) in ``decided``."""

    __slots__ = ("_firsts", "_runs", "decided")

    def __init__(self, runs: Sequence[Mapping[int, Outcome]], decided: dict[int, Outcome]) -> None:
        #: The runs in the batch's order, each with the index of its first charge.
        self._runs = list(runs)
        self._firsts = [next(iter(run)) for run in self._runs]
        self.decided = decided

    def __getitem__(self, index: int) -> Outcome:
        outcome = self.decided.get(index)
        if outcome is not None:
            return outcome
        at = bisect_right(self._firsts, index) - 1
        if at >= 0 and index in self._runs[at]:
            return self._runs[at][index]
        raise KeyError(index)

    def __iter__(self) -> Iterator[int]:
        return chain(self.decided, *self._runs)

    def __len__(self) -> int:
        return len(self.decided) + sum(len(run) for run in self._runs)
