"""Fixtures of the browser tests: headless Chromium (Debian's, not Playwright's download), a
fresh browser context per test, and screenshots of the tests that fail.

The browser is ``/usr/bin/chromium`` (``$LABELBAY_CHROMIUM`` to use another). When it is
missing and the tests run as root on Debian, they install it with apt-get; otherwise they fail
with a message saying how to install it. They are never skipped.

A failing test leaves in ``$LABELBAY_UI_ARTIFACTS`` (default ``./ui-artifacts``, relative to
the directory pytest runs in): ``<test>.png`` (the full page), ``<test>.html`` (the DOM at
that moment) and ``<test>.log`` (the browser console, page errors and failed requests).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    expect,
    sync_playwright,
)

from conftest import Server

from .helpers import CHROMIUM, DEBIAN_CHROMIUM, chromium_missing_message

REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
ARTIFACTS = Path(os.environ.get("LABELBAY_UI_ARTIFACTS", "ui-artifacts"))
VIEWPORT = {"width": 1400, "height": 900}

expect.set_options(timeout=10_000)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Keeps each phase's report in the item's stash so that the ``page`` fixture can tell, in
    its teardown, whether the test failed."""
    report = yield
    item.stash.setdefault(REPORTS, {})[report.when] = report
    return report


def _failed(item: pytest.Item) -> bool:
    return any(r.failed for r in item.stash.get(REPORTS, {}).values())


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


def _install_chromium() -> None:
    """On a Debian machine where the tests run as root (CI, a fresh VM), the suite installs
    the browser it needs itself, so that the README's one test command stays enough."""
    if CHROMIUM != DEBIAN_CHROMIUM or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return
    print("\ninstalling Debian's chromium for the browser tests (apt-get) ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        subprocess.run(command, env=env, check=False, capture_output=True, timeout=1200)


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        _install_chromium()
    if not CHROMIUM.exists():
        pytest.fail(chromium_missing_message(), pytrace=False)
    launched = playwright_instance.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        # As root Chromium refuses to start with its sandbox; /dev/shm is small in containers.
        args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
    )
    yield launched
    launched.close()


@pytest.fixture
def page(browser: Browser, server: Server, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page in a fresh context (no cookies, no storage) on the shared server."""
    context = browser.new_context(base_url=server.url, viewport=VIEWPORT)
    context.set_default_timeout(15_000)
    journal: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        journal.append(f"console.{message.type}: {message.text}")

    def on_failed(req: Request) -> None:
        journal.append(f"request failed: {req.method} {req.url} ({req.failure})")

    opened = context.new_page()
    opened.on("console", on_console)
    opened.on("pageerror", lambda error: journal.append(f"page error: {error}"))
    opened.on("requestfailed", on_failed)

    def on_response(response) -> None:  # type: ignore[no-untyped-def]
        if response.status >= 400:
            journal.append(f"HTTP {response.status}: {response.request.method} {response.url}")

    opened.on("response", on_response)
    opened.ui_journal = journal  # type: ignore[attr-defined]
    yield opened
    if _failed(request.node):
        save_artifacts(opened, request.node.nodeid, journal)
    context.close()


def save_artifacts(page: Page, nodeid: str, journal: list[str]) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")
    lines = [f"url: {page.url}", *journal]
    try:
        page.screenshot(path=str(ARTIFACTS / f"{stem}.png"), full_page=True, timeout=10_000)
    except Exception as error:  # the page may be gone; the log still helps
        lines.append(f"screenshot failed: {error}")
    try:
        (ARTIFACTS / f"{stem}.html").write_text(page.content(), encoding="utf-8")
    except Exception as error:
        lines.append(f"page content failed: {error}")
    (ARTIFACTS / f"{stem}.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
