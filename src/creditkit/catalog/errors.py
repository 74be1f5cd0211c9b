"""The catalog's errors: a catalog file that is wrong, and a lookup of something it lacks.

A catalog file is checked whole before anything uses it, and every problem found is reported at
once (``CatalogInvalid.problems``), each with the file, line and dotted field it is about: a
person fixing a catalog should not have to run the loader once per typo.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from creditkit.errors import CreditKitError, InvalidRequest


@dataclass(frozen=True, slots=True)
class CatalogProblem:
    """One thing wrong with a catalog. ``line`` is 1-based; ``field`` is a dotted path
    (``plans.pro.allowance.amount``, ``plans.pro.features[2]``), empty for the document as a
    whole (a YAML syntax error)."""

    file: str
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        if not self.field:
            return f"{self.file}:{self.line}: {self.reason}"
        return f"{self.file}:{self.line}: {self.field}: {self.reason}"


class CatalogError(CreditKitError, ValueError):
    """A catalog file that cannot be used, with where and why: ``file``, ``line``, ``field``,
    ``reason``."""

    code = "catalog_error"

    def __init__(self, file: str, line: int, field: str, reason: str) -> None:
        super().__init__(str(CatalogProblem(file, line, field, reason)))
        self.file = file
        self.line = line
        self.field = field
        self.reason = reason


class CatalogInvalid(CatalogError):
    """Every problem found in a catalog file, in file order; one ``file:line: field: reason``
    per line of the message. ``file``, ``line``, ``field`` and ``reason`` are the first
    problem's."""

    code = "catalog_invalid"

    def __init__(self, problems: Sequence[CatalogProblem]) -> None:
        if not problems:
            raise ValueError("CatalogInvalid needs at least one problem")
        first = problems[0]
        super().__init__(first.file, first.line, first.field, first.reason)
        self.problems = tuple(problems)
        count = len(self.problems)
        heading = f"{first.file}: {count} problem{'s' if count != 1 else ''} in the catalog"
        self.args = ("\n".join([heading, *(str(problem) for problem in self.problems)]),)

    def to_fields(self) -> dict[str, Any]:
        return {"problems": [asdict(problem) for problem in self.problems]}

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> CatalogInvalid:
        return cls([CatalogProblem(**problem) for problem in fields["problems"]])


class UnknownPlan(InvalidRequest, LookupError):
    code = "unknown_plan"

    def __init__(self, plan: str, field: str = "plan") -> None:
        super().__init__(field, f"unknown plan {plan!r}")
        self.plan = plan


class UnknownAction(InvalidRequest, LookupError):
    code = "unknown_action"

    def __init__(self, action: str, field: str = "action") -> None:
        super().__init__(field, f"unknown action {action!r}")
        self.action = action


class UnknownPack(InvalidRequest, LookupError):
    code = "unknown_pack"

    def __init__(self, pack: str, field: str = "pack") -> None:
        super().__init__(field, f"unknown pack {pack!r}")
        self.pack = pack


class UnknownCoupon(InvalidRequest, LookupError):
    code = "unknown_coupon"

    def __init__(self, coupon: str, field: str = "coupon") -> None:
        super().__init__(field, f"unknown coupon {coupon!r}")
        self.coupon = coupon
