"""``@creditkit/react`` in Debian's Chromium: the demo page (examples/react-seed-003, started
with ``npm start`` as its README says) against a served creditkit that allows the demo's origin
(``--cors-origin``), calling it from the browser with the customer's session token.

The meter's colours at 40%, 60% and 90% of the Growth plan's 500 credits and "Unlimited" on
Enterprise; a 402 from an AI action opens the Paywall with the packs' names and prices and the
plan to upgrade to; the pack is bought through the sandbox checkout and the new balance shows;
the same page at 390 px wide."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from starlette.types import ASGIApp, Receive, Scope, Send
from web_helpers import DESKTOP, PHONE, screenshot

from creditkit import CreditKit, ManualClock
from creditkit.client.testing import serve_in_thread
from creditkit.keys.schemas import Scope as KeyScope
from creditkit.payments import PaymentSettings, SandboxProvider
from creditkit.server import create_app
from creditkit.server.serve import allow_origins
from creditkit.web.checkout import SANDBOX_CHECKOUT_PATH

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "react-seed-003"
CATALOG = Path(__file__).with_name("react_demo_catalog.yaml")
NPM_TIMEOUT_SECONDS = 600
DEMO_START_SECONDS_MAX = 60
#: The meter's colours as styles.css sets them (--ck-meter-green, -yellow, -red).
COLOURS = {"green": "rgb(22, 163, 74)", "yellow": "rgb(202, 138, 4)", "red": "rgb(220, 38, 38)"}


def _npm() -> str:
    npm = shutil.which("npm")
    assert npm is not None, "npm is not installed: the React demo's tests need node >= 20"
    return npm


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _npm_ci(folder: Path) -> None:
    """``folder``'s node_modules from its lock (``npm ci``), unless installed since the lock
    changed."""
    stamp = folder / "node_modules" / ".package-lock.json"
    if not stamp.exists() or stamp.stat().st_mtime < (folder / "package-lock.json").stat().st_mtime:
        subprocess.run(
            [_npm(), "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=folder,
            check=True,
            timeout=NPM_TIMEOUT_SECONDS,
        )


@pytest.fixture(scope="module")
def installed() -> None:
    """examples/react-seed-003's node_modules, once."""
    _npm_ci(DEMO)


@contextmanager
def demo(port: int, creditkit_url: str, token: str, **extra: str) -> Iterator[str]:
    """``npm start`` (build, then serve) on ``port``; stopped when the block ends. No customer
    is given: the demo learns it from the token (GET /v1/session)."""
    environment = {
        **os.environ,
        "PORT": str(port),
        "CREDITKIT_URL": creditkit_url,
        "CREDITKIT_SESSION_TOKEN": token,
        **extra,
    }
    process = subprocess.Popen(
        [_npm(), "start", "--silent"],
        cwd=DEMO,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + DEMO_START_SECONDS_MAX
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read() if process.stdout else ""
                    pytest.fail(f"npm start did not serve on {port}:\n{output}")
                time.sleep(0.1)  # waiting for another process to listen, not for time to pass
        yield url
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=10)


@pytest.fixture
def served(
    tmp_path: Path, clock: ManualClock, installed: None
) -> Iterator[tuple[CreditKit, str, int]]:
    """A creditkit serving the demo's catalog, allowing the demo's origin only, its sandbox's
    checkout pages on its own address (known once it listens: the app is set then)."""
    port = _free_port()
    apps: list[ASGIApp] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await apps[0](scope, receive, send)

    with serve_in_thread(app) as url:
        sandbox = SandboxProvider(checkout_base_url=f"{url}{SANDBOX_CHECKOUT_PATH}")
        kit = CreditKit(
            f"sqlite:///{tmp_path / 'react.db'}",
            catalog=str(CATALOG),
            clock=clock,
            payments=PaymentSettings(provider=sandbox),
        )
        api = create_app(kit)
        allow_origins(api, (f"http://127.0.0.1:{port}",))
        apps.append(api)
        yield kit, url, port
        kit.close()


def _meter(page: Page, level: str, percent: int) -> None:
    meter = page.locator(".ck-meter")
    expect(meter).to_have_attribute("data-level", level)
    expect(page.get_by_role("meter")).to_have_attribute("aria-valuenow", str(percent))
    fill = page.locator(".ck-meter__fill")
    expect(fill).to_have_css("background-color", COLOURS[level])


def test_the_meter_the_paywall_and_a_pack_bought_through_the_sandbox(
    served: tuple[CreditKit, str, int], browser: Browser
) -> None:
    kit, creditkit_url, port = served
    kit.create_customer("acme")
    kit.subscribe("acme", "growth")
    secret = kit.keys.create_key("demo backend", KeyScope.ADMIN).secret
    token = kit.keys.issue_session("acme").token
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    with demo(port, creditkit_url, token, CREDITKIT_API_KEY=secret) as url:
        # 200, 300 then 450 of the 500 credits: Ask Anything at 2, then ICP Analysis at 15.
        steps = ((40, "green", "ask_anything", 100), (60, "yellow", "ask_anything", 50))
        for percent, level, action, times in (*steps, (90, "red", "icp_analysis", 10)):
            kit.charge("acme", action=action, quantity=times, idempotency_key=f"to-{percent}")
            page.goto(url)
            _meter(page, level, percent)
            screenshot(page, f"react-meter-{level}")
        expect(page.get_by_test_id("ck-balance")).to_have_text("50")
        usage = page.get_by_role("table", name="Credits this period by action")
        expect(usage.get_by_role("row", name="ICP Analysis 1 time 150")).to_be_visible()
        plans = page.get_by_role("table", name="Compare plans")
        expect(plans.get_by_role("button", name="Upgrade to Scale")).to_be_visible()

        kit.charge("acme", action="generate_image", quantity=47, idempotency_key="to-3-left")
        page.reload()
        expect(page.get_by_test_id("ck-balance")).to_have_text("3")
        prompt = page.get_by_role("status").filter(has_text="Low credits")
        expect(prompt).to_have_text("Low credits: 3 remaining.")
        page.get_by_role("button", name="Account Dossier · 8 credits").click()
        paywall = page.get_by_role("region", name="You are out of credits")
        expect(paywall).to_contain_text("This needs 8 credits; you have 3.")
        expect(paywall.get_by_role("button", name="Buy Basic Pack for $9.99")).to_be_visible()
        expect(paywall.get_by_role("button", name="Buy Premium Pack for $24.99")).to_be_visible()
        expect(
            paywall.get_by_role("button", name="Upgrade to Scale for $5,000.00 a month")
        ).to_be_visible()
        screenshot(page, "react-paywall")
        paywall.get_by_role("button", name="Buy Basic Pack for $9.99").focus()
        page.keyboard.press("Enter")  # the keyboard reaches the checkout as a click does
        page.wait_for_url(f"{creditkit_url}/checkout/sandbox/**")
        page.get_by_role("button", name="Pay $9.99").click()
        page.wait_for_url(f"{url}/?paid=1")
        expect(page.get_by_test_id("ck-balance")).to_have_text("43")
        expect(page.get_by_role("status").filter(has_text="Payment received")).to_be_visible()
        screenshot(page, "react-after-checkout")
    context.close()


def test_unlimited_and_the_phone_width(
    served: tuple[CreditKit, str, int], browser: Browser
) -> None:
    kit, creditkit_url, port = served
    kit.create_customer("globex")
    kit.subscribe("globex", "enterprise")
    kit.charge("globex", 1_000, idempotency_key="big")
    token = kit.keys.issue_session("globex").token
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    with demo(port, creditkit_url, token) as url:
        page.goto(url)
        meter = page.locator(".ck-meter")
        expect(meter).to_have_attribute("data-level", "unlimited")
        expect(meter).to_contain_text("Unlimited")
        expect(page.get_by_role("meter")).to_have_count(0)
        expect(page.get_by_test_id("ck-balance")).to_have_text("Unlimited")
        plans = page.get_by_role("table", name="Compare plans")
        # The table read the plan itself (no prop): Enterprise is current, nothing above it.
        expect(plans.locator("th[data-plan='enterprise']")).to_have_attribute(
            "aria-current", "true"
        )
        expect(plans.get_by_role("button", name=re.compile("^Upgrade"))).to_have_count(0)
        # Nothing wider than the phone: the plan table scrolls inside its own box.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], width
        screenshot(page, "react-phone-unlimited")
    context.close()


def _pay_and_return(page: Page, creditkit_url: str, url: str, price: str) -> None:
    page.wait_for_url(f"{creditkit_url}/checkout/sandbox/**")
    page.get_by_role("button", name=f"Pay {price}").click()
    page.wait_for_url(f"{url}/?paid=1")


@pytest.mark.parametrize("start", ["plan_table", "paywall"])
def test_a_plan_upgrade_through_the_sandbox_shows_the_new_plan(
    served: tuple[CreditKit, str, int], browser: Browser, start: str
) -> None:
    """From the PlanTable's Upgrade button, or the Paywall's plan offer (a 403 for a feature
    the plan lacks): the sandbox checkout, then the page shows Scale as the current plan."""
    kit, creditkit_url, port = served
    kit.create_customer("initech")
    kit.subscribe("initech", "growth")
    secret = kit.keys.create_key("demo backend", KeyScope.ADMIN).secret
    token = kit.keys.issue_session("initech").token
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    with demo(port, creditkit_url, token, CREDITKIT_API_KEY=secret) as url:
        page.goto(url)
        plans = page.get_by_role("table", name="Compare plans")
        expect(plans.locator("th[data-plan='growth']")).to_have_attribute("aria-current", "true")
        if start == "plan_table":
            plans.get_by_role("button", name="Upgrade to Scale").click()
        else:
            kit.charge("initech", 500, idempotency_key="spent")
            page.get_by_role("button", name="Account Dossier · 8 credits").click()
            paywall = page.get_by_role("region", name="You are out of credits")
            paywall.get_by_role("button", name="Upgrade to Scale for $5,000.00 a month").click()
        _pay_and_return(page, creditkit_url, url, "$5,000.00")
        plans = page.get_by_role("table", name="Compare plans")
        expect(plans.locator("th[data-plan='scale']")).to_have_attribute("aria-current", "true")
        expect(plans.get_by_role("button", name="Upgrade to Scale")).to_have_count(0)
    context.close()
    subscription = kit.subscription("initech")
    assert subscription is not None and subscription.plan == "scale"


def test_the_package_compiles_strict_and_renders_on_a_server() -> None:
    """clients/react's ``npm test``: ``tsc --strict``, then its components rendered with
    react-dom/server (no window), their roles, labels, levels and exact prices."""
    package = ROOT / "clients" / "react"
    _npm_ci(package)
    finished = subprocess.run(
        [_npm(), "test"], cwd=package, capture_output=True, text=True, timeout=NPM_TIMEOUT_SECONDS
    )
    assert finished.returncode == 0, (
        f"npm test:\n{finished.stdout[-6000:]}{finished.stderr[-3000:]}"
    )
    assert "# fail 0" in finished.stdout
