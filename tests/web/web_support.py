"""Helpers of the browser tests that post forms the way a browser's history or a forger would:
the fields of a form as drawn, posted again outside the page."""

from __future__ import annotations

from playwright.sync_api import APIResponse, Locator, Page


def fields_of(form: Locator) -> dict[str, str]:
    """The fields a form would post now, hidden ones (CSRF token, idempotency key) included."""
    fields: dict[str, str] = form.evaluate(
        "form => Object.fromEntries(new FormData(form).entries())"
    )
    return fields


def post(page: Page, path: str, fields: dict[str, str]) -> APIResponse:
    """Posts ``fields`` with the page's cookies (its session), not following the redirect."""
    base = page.url.split("/", 3)[:3]
    return page.request.post("/".join(base) + path, form=fields, max_redirects=0)
