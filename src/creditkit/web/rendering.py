"""Pages from Jinja templates, with the filters that show credits, money and time."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from creditkit.ledger.schemas import Money

#: ISO 4217 currencies without minor units: their amount_minor is whole units.
_ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF"})
_CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def credits(quantity: int | Decimal | None) -> str:
    """``12,345`` (and ``1,234.5`` for a unit with decimal places): exact, never a float."""
    if quantity is None:
        return "—"
    return f"{quantity:,}"


def money(price: Money | None) -> str:
    """``$20.00``, ``¥500``, ``20.00 CHF``: exact from integer minor units."""
    if price is None:
        return "—"
    currency = price.currency.upper()
    sign = "-" if price.amount_minor < 0 else ""
    minor = abs(price.amount_minor)
    if currency in _ZERO_DECIMAL_CURRENCIES:
        text = f"{minor:,}"
    else:
        text = f"{minor // 100:,}.{minor % 100:02d}"
    symbol = _CURRENCY_SYMBOLS.get(currency)
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency}"


def percent(share: Decimal | None) -> str:
    """A share (``0.4213``) as a whole percent (``42%``), rounded half up; ``—`` for none."""
    if share is None:
        return "—"
    return f"{(share * 100).quantize(Decimal(1), rounding='ROUND_HALF_UP')}%"


def day(moment: datetime | None) -> str:
    """``Nov 21, 2026`` (UTC)."""
    return "—" if moment is None else f"{moment:%b} {moment.day}, {moment.year}"


def timestamp(moment: datetime | None) -> str:
    """``Nov 21, 2026 14:05 UTC``."""
    return "—" if moment is None else f"{day(moment)} {moment:%H:%M} UTC"


_environment = Environment(
    loader=PackageLoader("creditkit.web", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_environment.filters.update(
    credits=credits, money=money, percent=percent, day=day, timestamp=timestamp
)


def page(
    request: Request, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """``template`` rendered with ``context`` and the request (for its URL and flash)."""
    html = _environment.get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=status_code)
