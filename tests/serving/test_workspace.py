"""The workspace in a real browser (issue 17): Debian's Chromium driven by Playwright against a real
server on 127.0.0.1. Sign in, filter the leads to one owner's Hot leads, open a lead (score history,
reasons in words), the funnel, the forecast with a typed target; no console errors; a rep cannot open
another rep's lead; /docs works with the internet cut off. Screenshots go to test-artifacts/workspace/."""

from __future__ import annotations

import csv
import io
import re
import shutil
from pathlib import Path

import httpx
import pytest
from book_stream import load_book
from servers import book_env, start_server, stop, wait_ready
from sqlalchemy import func, select

from funnelcast.book import tables as t
from funnelcast.book import users

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "workspace"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (make test installs it as root: apt-get install chromium)",
)


@pytest.fixture(scope="module")
def workspace(store, d20_data, config, tmp_path_factory):
    """One server for the module on the generated SQLite book, with a manager and two reps (each test
    signs in anew; one that changes a user makes its own)."""
    playwright = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install '.[dev]')"
    )
    tmp_path = tmp_path_factory.mktemp("workspace")
    book = load_book(f"sqlite:///{tmp_path / 'book.db'}", d20_data, config)
    with book["engine"].begin() as conn:
        owners = [
            r[0]
            for r in conn.execute(
                select(t.lead_scores.c.owner, t.lead_scores.c.lead_id)
                .where(t.lead_scores.c.grade == "Hot")
                .limit(200)
            ).all()
        ]
        owner = max(set(owners), key=owners.count)
        other = next(
            o for o in conn.execute(select(t.lead_scores.c.owner).distinct()).scalars() if o and o != owner
        )
        users.add(conn, "boss", "manager-password", "manager", None, "2025-01-01T00:00:00Z")
        users.add(conn, "rep1", "rep1-password", "rep", owner, "2025-01-01T00:00:00Z")
        other_lead = conn.execute(
            select(t.lead_scores.c.lead_id).where(t.lead_scores.c.owner == other).limit(1)
        ).scalar()
    env = {**book_env(store, book["url"]), "FUNNELCAST_SESSION_SECRET": "s" * 40}
    proc, url, log = start_server(env, tmp_path)
    wait_ready(url)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield {
                "url": url,
                "browser": browser,
                "owner": owner,
                "other_lead": other_lead,
                "log": log,
                "engine": book["engine"],
            }
        finally:
            browser.close()
            stop(proc)


def _page(ws):
    page = ws["browser"].new_page(viewport={"width": 1400, "height": 900})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page, errors


def _sign_in(page, url: str, user: str, password: str) -> None:
    page.goto(f"{url}/app/leads")  # not signed in: sent to the sign-in page
    assert "/app/login" in page.url
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/app/leads.*"))


def test_a_manager_works_the_leads_funnel_and_forecast_in_a_browser(workspace):
    url, owner = workspace["url"], workspace["owner"]
    page, errors = _page(workspace)
    _sign_in(page, url, "boss", "manager-password")
    with page.expect_navigation():  # filters apply as soon as one changes (and by the button)
        page.select_option("select[name=grade]", "Hot")
    with page.expect_navigation():
        page.select_option("select[name=owner]", owner)
    assert "grade=Hot" in page.url
    rows = page.locator("#lead-list tbody tr")
    assert rows.count() > 0
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td")
        assert cells.nth(2).inner_text() == owner and cells.nth(5).inner_text().startswith("Hot")
    page.screenshot(path=str(ARTIFACTS / "leads-hot-one-owner.png"), full_page=True)

    rows.first.locator("a").first.click()
    page.wait_for_url(re.compile(r".*/app/leads/L.*"))
    assert page.locator("#score-history svg").count() == 1
    reasons = page.locator("#reasons li").all_inner_texts()
    assert reasons and all(
        "_" not in r.split("+")[0] and "as_of" not in r for r in reasons
    )  # words, not code
    assert page.locator("#history tbody tr").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "lead.png"), full_page=True)

    page.goto(f"{url}/app/funnel")
    assert page.locator("section.pipeline").count() >= 1
    text = page.inner_text("main")
    for m in re.finditer(r"converts at (\d+)% of what its weight implies", text):
        assert int(m.group(1)) < 100  # a bottleneck converts below its weight
    page.screenshot(path=str(ARTIFACTS / "funnel.png"), full_page=True)
    page.goto(f"{url}/app/funnel?by=owner")  # compared by owner: the whole funnel stays, groups added
    assert page.locator("section.pipeline table.list tbody tr").count() >= 4
    assert page.locator("#by-group tbody tr").count() >= 2
    assert "Figures computed" in page.inner_text("#computed")

    page.goto(f"{url}/app/forecast")
    page.fill("#target", "30000000")
    page.wait_for_url(re.compile(r".*target=30000000.*"), timeout=15000)  # recomputed as typed
    said = page.inner_text("#p-target")
    assert re.search(r"P\(reaching .*30,000,000\) = \d+%", said), said
    assert "e+" not in page.inner_text("main")  # amounts never read like 1e+07
    page.screenshot(path=str(ARTIFACTS / "forecast.png"), full_page=True)

    page.goto(f"{url}/app/deals")
    assert page.locator("#deal-list tbody tr").count() > 0
    page.locator("#deal-list tbody tr").first.locator("a").click()
    page.wait_for_url(re.compile(r".*/app/deals/O.*"))
    assert page.locator("#stage-path li").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "deal.png"), full_page=True)
    assert errors == [], errors


def test_a_rep_sees_only_their_own_book(workspace):
    url = workspace["url"]
    page, errors = _page(workspace)
    _sign_in(page, url, "rep1", "rep1-password")
    owners = set(page.locator("#lead-list tbody tr td:nth-child(3)").all_inner_texts())
    assert owners == {workspace["owner"]}
    assert page.locator("select[name=owner]").count() == 0  # no owner filter for a rep
    assert errors == [], errors
    response = page.goto(f"{url}/app/leads/{workspace['other_lead']}")
    assert response.status == 403  # (the browser logs the 403 it was meant to get)
    errors.clear()
    page.screenshot(path=str(ARTIFACTS / "rep-forbidden.png"))
    text = page.request.get(f"{url}/app/leads.csv").text()
    assert text.startswith("\ufefflead_id")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows and {r["owner"] for r in rows} == {workspace["owner"]}
    with workspace["engine"].connect() as conn:  # every page of the rep's list, each lead once
        mine = conn.execute(
            select(func.count()).select_from(t.lead_scores).where(t.lead_scores.c.owner == workspace["owner"])
        ).scalar()
    assert len(rows) == len({r["lead_id"] for r in rows}) == mine > 500
    assert errors == [], errors


def test_sign_in_refuses_wrong_passwords_and_forged_forms(workspace):
    url = workspace["url"]
    page, _ = _page(workspace)
    page.goto(f"{url}/app/login")
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert "wrong password" in page.inner_text(".error")
    forged = httpx.post(
        f"{url}/app/login", data={"username": "boss", "password": "manager-password", "csrf": "x"}
    )
    assert forged.status_code == 400 and "fc_session" not in forged.cookies
    cookie = [c for c in page.context.cookies() if c["name"] == "fc_login"][0]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"


def test_a_new_password_ends_the_sessions_signed_in_with_the_old_one(workspace):
    url = workspace["url"]
    page, errors = _page(workspace)
    with workspace["engine"].begin() as conn:
        users.add(conn, "rep2", "rep2-password", "rep", workspace["owner"], "2025-01-01T00:00:00Z")
    _sign_in(page, url, "rep2", "rep2-password")
    with workspace["engine"].begin() as conn:
        users.set_password(conn, "rep2", "a-new-rep2-password")
    page.goto(f"{url}/app/leads")
    assert "/app/login" in page.url  # the cookie is still signed, but its password is gone
    _sign_in(page, url, "rep2", "a-new-rep2-password")
    with workspace["engine"].begin() as conn:
        assert users.remove(conn, "rep2")
    page.goto(f"{url}/app/leads")
    assert "/app/login" in page.url
    assert errors == [], errors


def test_the_api_docs_work_without_the_internet(workspace):
    url = workspace["url"]
    page, errors = _page(workspace)
    outside = []

    def only_loopback(route):
        if route.request.url.startswith(url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_loopback)
    page.goto(f"{url}/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=20000)
    assert "Funnelcast scoring API" in page.inner_text(".swagger-ui .info .title")
    page.goto(f"{url}/redoc")
    page.wait_for_selector("h1", timeout=20000)
    page.screenshot(path=str(ARTIFACTS / "docs-offline.png"))
    assert outside == [] and errors == [], (outside, errors)
