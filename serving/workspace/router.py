"""The workspace's pages under /app. Sign-in first; a rep sees their own leads and deals (another rep's
is a 403), a manager sees all. Every form carries the session's CSRF token. Thin: the data comes from
funnelcast.serving.workspace.pages, the pictures from .charts."""

from __future__ import annotations

import csv
import io
import threading
from pathlib import Path
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates

from funnelcast.book import tables as t
from funnelcast.book import users
from funnelcast.core.numbers import amount, money
from funnelcast.serving.workspace import charts, pages, sessions, snapshots

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters["amount"] = lambda v, locale="en": amount(v, locale)
templates.env.filters["pct"] = lambda v: "–" if v is None or v != v else f"{v:.0%}"
router = APIRouter(prefix="/app", include_in_schema=False)


class Forbidden(Exception):
    pass


def _page(request: Request, name: str, user: dict | None, status: int = 200, **context) -> HTMLResponse:
    book = request.app.state.book
    locale = book.config.reasons.locale if book else "en"
    return templates.TemplateResponse(
        request, name, {"user": user, "locale": locale, **context}, status_code=status
    )


def _signed_in(request: Request):
    user = sessions.current(request)
    if user is None:
        return None, RedirectResponse(f"/app/login?next={request.url.path}", status_code=303)
    if request.app.state.book is None:
        return user, _page(request, "error.html", user, 503, message="The book is not open.")
    with request.app.state.book.engine.connect() as conn:
        user = users.still_valid(conn, user)
    if user is None:  # removed, or the password changed since this session signed in
        response = RedirectResponse(f"/app/login?next={request.url.path}", status_code=303)
        sessions.sign_out(response)
        return None, response
    return user, None


def _owner_scope(user: dict, owner: str | None) -> str | None:
    """A rep's lists are theirs, whatever they ask for; a manager picks."""
    return user["owner"] if user["role"] == "rep" else (owner or None)


def _may_see(user: dict, owner: str | None) -> bool:
    return user["role"] == "manager" or owner == user["owner"]


def _snapshot(request: Request, view: str) -> snapshots.Snapshot:
    """The funnel or forecast view to show (funnelcast.serving.workspace.snapshots)."""
    book = request.app.state.book
    minutes = request.app.state.settings.analytics_refresh_minutes
    with book.engine.connect() as conn:
        return snapshots.serve(
            conn, book.writing, book.config, book.registry.get("opportunity"), view, minutes
        )


_DRAWN: dict[tuple, str | None] = {}
_DRAWN_LOCK = threading.Lock()


def _drawn(key: tuple, draw) -> str | None:
    """A chart of a stored view, drawn once per view as computed (matplotlib takes ~60 ms a chart)."""
    with _DRAWN_LOCK:
        if key in _DRAWN:
            return _DRAWN[key]
    chart = draw()
    with _DRAWN_LOCK:
        while len(_DRAWN) >= 64:
            _DRAWN.pop(next(iter(_DRAWN)))  # the oldest drawn
        _DRAWN[key] = chart
    return chart


def _said(request: Request, snapshot: snapshots.Snapshot) -> dict:
    """How old the figures are, for the page to say."""
    with request.app.state.book.engine.connect() as conn:
        clock = pages.book_as_of(conn)
    return {
        "computed_at": snapshot.computed_at.strftime("%Y-%m-%d %H:%M UTC"),
        "minutes": int(snapshot.age_minutes()),
        "seconds": snapshot.seconds,
        "behind": snapshot.as_of != clock,
        "every": request.app.state.settings.analytics_refresh_minutes,
    }


@router.get("", response_class=HTMLResponse)
def home() -> Response:
    return RedirectResponse("/app/leads", status_code=303)


def _login_page(request: Request, next_url: str, error: str | None = None, status: int = 200) -> Response:
    token = sessions.login_token(request)
    page = _page(request, "login.html", None, status, next=next_url, error=error, csrf=token)
    sessions.keep_login_token(request, page, token)
    return page


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: Annotated[str, Query(max_length=300)] = "/app/leads") -> Response:  # noqa: A002
    return _login_page(request, next if next.startswith("/app") else "/app/leads")


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf: Annotated[str, Form(max_length=100)],
    next: Annotated[str, Form(max_length=300)] = "/app/leads",  # noqa: A002
) -> Response:
    next_url = next if next.startswith("/app") else "/app/leads"
    if not sessions.same(csrf, request.cookies.get(sessions.LOGIN_CSRF)):
        return _login_page(request, next_url, "The form expired; sign in again.", 400)
    book = request.app.state.book
    user = None
    if book is not None:
        with book.engine.connect() as conn:
            user = users.authenticate(conn, username, password)
    if user is None:
        return _login_page(request, next_url, "Unknown user name or wrong password.", 401)
    response = RedirectResponse(next_url, status_code=303)
    sessions.sign_in(request, response, user)
    return response


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form(max_length=100)]) -> Response:
    user = sessions.current(request)
    response = RedirectResponse("/app/login", status_code=303)
    if user and sessions.same(csrf, user["csrf"]):
        sessions.sign_out(response)
    return response


Text = Annotated[str | None, Query(max_length=200)]


def _lead_filters(
    owner: Text = None,
    grade: Text = None,
    source: Text = None,
    stale: Text = None,
    age: Text = None,
    sort: Text = None,
) -> pages.Filters:
    """The lead list's filters from the query string; a value outside its choices is no filter."""
    return pages.Filters(
        owner=owner or None,
        grade=grade if grade in ("Hot", "Warm", "Cold") else None,
        source=source or None,
        stale={"yes": True, "no": False}.get(stale or ""),
        age=age if age in pages.AGE_BUCKETS else None,
        sort=sort if sort in ("priority", "newest", "oldest") else "priority",
    )


LeadFilters = Annotated[pages.Filters, Depends(_lead_filters)]


@router.get("/leads", response_class=HTMLResponse)
def leads(request: Request, f: LeadFilters, cursor: Text = None) -> Response:
    user, stop = _signed_in(request)
    if stop:
        return stop
    f.owner = _owner_scope(user, f.owner)
    with request.app.state.book.engine.connect() as conn:
        items, nxt, as_of = pages.lead_rows(conn, f, cursor=cursor)
        owners, sources = pages.choices(conn, t.lead_scores, ("owner", "source"), as_of)
    return _page(
        request,
        "leads.html",
        user,
        items=items,
        next_cursor=nxt,
        filters=f,
        owners=owners,
        sources=sources,
        query=f.query(),
        as_of=as_of,
        stale_arg=f.stale_arg,
    )


@router.get("/leads.csv")
def leads_csv(request: Request, f: LeadFilters) -> Response:
    """The list as filtered, every page, as CSV (UTF-8 with a byte-order mark, so Excel reads 中文),
    streamed page by page: the whole book exports in bounded memory, nothing cut off."""
    user, stop = _signed_in(request)
    if stop:
        return stop
    f.owner = _owner_scope(user, f.owner)
    engine = request.app.state.book.engine
    header = ["lead_id", "company", "contact", "owner", "source", "age_days", "grade", "probability"]
    header += ["stale", "duplicates", "why"]

    def chunks():
        out = io.StringIO()
        writer = csv.writer(out)
        out.write("\ufeff")
        writer.writerow(header)
        cursor = None
        while True:
            with engine.connect() as conn:  # one page at a time: no connection held while the client reads
                items, cursor, _ = pages.lead_rows(conn, f, cursor=cursor, limit=500)
            for i in items:
                writer.writerow(
                    [
                        i["lead_id"],
                        i["company"],
                        i.get("contact_name") or "",
                        i["owner"],
                        i["source"],
                        i["age_days"],
                        i["grade"],
                        "" if i["probability"] is None else f"{i['probability']:.4f}",
                        "yes" if i["stale"] else "no",
                        i["duplicates"],
                        "; ".join(i["why"]),
                    ]
                )
            yield out.getvalue().encode("utf-8")
            out.seek(0)
            out.truncate()
            if cursor is None:
                return

    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="leads.csv"'},
    )


@router.get("/leads/{lead_id}", response_class=HTMLResponse)
def lead(request: Request, lead_id: str) -> Response:
    user, stop = _signed_in(request)
    if stop:
        return stop
    with request.app.state.book.engine.connect() as conn:
        detail = pages.lead_detail(conn, lead_id)
    if detail is None:
        return _page(request, "error.html", user, 404, message=f"No lead {lead_id} in the book.")
    if not _may_see(user, detail["record"]["owner"]):
        return _page(request, "error.html", user, 403, message="This lead belongs to another rep.")
    chart = charts.score_history(
        detail["history"], "score over time (grade changes marked with what moved them)"
    )
    return _page(request, "lead.html", user, d=detail, chart=chart)


@router.get("/deals", response_class=HTMLResponse)
def deals(
    request: Request,
    owner: Text = None,
    health: Text = None,
    pipeline: Text = None,
    cursor: Text = None,
) -> Response:
    user, stop = _signed_in(request)
    if stop:
        return stop
    from funnelcast.book import reads

    scope = _owner_scope(user, owner)
    band = health if health in ("healthy", "at_risk", "critical") else None
    with request.app.state.book.engine.connect() as conn:
        items, nxt = reads.deals(
            conn, health=band, owner=scope, pipeline=pipeline or None, limit=50, cursor=cursor
        )
        (owners,) = pages.choices(conn, t.deal_scores, ("owner",), pages.book_as_of(conn))
    query = {k: v for k, v in dict(owner=scope, health=band, pipeline=pipeline).items() if v}
    return _page(
        request,
        "deals.html",
        user,
        items=items,
        next_cursor=nxt,
        owners=owners,
        query=query,
        health=band or "",
        owner=scope or "",
    )


@router.get("/deals/{opportunity_id}", response_class=HTMLResponse)
def deal(request: Request, opportunity_id: str) -> Response:
    user, stop = _signed_in(request)
    if stop:
        return stop
    book = request.app.state.book
    with book.engine.connect() as conn:
        detail = pages.deal_detail(conn, opportunity_id, book.config)
    if detail is None:
        return _page(request, "error.html", user, 404, message=f"No deal {opportunity_id} in the book.")
    if not _may_see(user, detail["record"]["owner"]):
        return _page(request, "error.html", user, 403, message="This deal belongs to another rep.")
    chart = charts.score_history(
        detail["history"], "health over time (band changes marked with what moved them)"
    )
    return _page(request, "deal.html", user, d=detail, chart=chart)


@router.get("/funnel", response_class=HTMLResponse)
def funnel(request: Request, by: Text = None) -> Response:
    user, stop = _signed_in(request)
    if stop:
        return stop
    book = request.app.state.book
    group = by if by in ("owner", "source", "segment") else None
    snapshot = _snapshot(request, snapshots.funnel_view(None))  # the whole funnel, compared or not
    report, as_of = snapshot.value, snapshot.as_of
    grouped = _snapshot(request, snapshots.funnel_view(group)).value if group else None
    sections = []
    for p in book.config.funnel.pipelines:
        stages = report.stages[(report.stages["pipeline"] == p.key) & (report.stages["group"] == "(all)")]
        neck = report.bottlenecks[
            (report.bottlenecks["pipeline"] == p.key) & (report.bottlenecks["group"] == "(all)")
        ]
        losses = report.loss_reasons[
            (report.loss_reasons["pipeline"] == p.key) & (report.loss_reasons["group"] == "(all)")
        ]
        sections.append(
            {
                "pipeline": p,
                "stages": stages.to_dict(orient="records"),
                "chart": _drawn(
                    (snapshot.view, snapshot.computed_at, p.key),
                    lambda stages=stages, p=p: charts.funnel_stages(
                        stages, p.name, book.config.reasons.locale
                    ),
                ),
                "bottleneck": _clean(neck.to_dict(orient="records")[0]) if len(neck) else None,
                "losses": losses.sort_values("deals", ascending=False).head(8).to_dict(orient="records"),
            }
        )
    groups = None
    if grouped is not None:
        groups = grouped.stages.groupby(["group"]).agg(
            entered=("entered", "sum"), progressed=("progressed", "sum"), dropped=("dropped", "sum")
        )
        groups["conversion"] = groups["progressed"] / (groups["progressed"] + groups["dropped"])
        groups = groups.reset_index().to_dict(orient="records")
    leads = (grouped if grouped is not None else report).leads  # MQL -> SQL per group when compared
    leads_table = leads.to_dict(orient="records") if leads is not None else []
    return _page(
        request,
        "funnel.html",
        user,
        sections=sections,
        as_of=as_of,
        by=group or "",
        groups=groups,
        leads=leads_table,
        snapshot=_said(request, snapshot),
    )


@router.get("/forecast", response_class=HTMLResponse)
def forecast(
    request: Request,
    target: Annotated[float | None, Query(ge=0, le=1e15)] = None,
    days: Annotated[int, Query(ge=7, le=366)] = 90,
) -> Response:
    user, stop = _signed_in(request)
    if stop:
        return stop
    book = request.app.state.book
    snapshot = _snapshot(request, snapshots.forecast_view(days))
    stored, fan = snapshot.value
    result = stored.with_target(target)
    as_of, end = result.as_of, result.period_end
    currency, locale = book.config.leads.base_currency, book.config.reasons.locale
    chart = _drawn(
        (snapshot.view, snapshot.computed_at, target),
        lambda: charts.forecast_fan(fan, result.expected, target, currency, locale),
    )
    by_owner = result.by_group.to_dict(orient="records") if result.by_group is not None else []
    backtest = _backtest()
    return _page(
        request,
        "forecast.html",
        user,
        r=result,
        chart=chart,
        target=target,
        days=days,
        as_of=as_of,
        end=end,
        by_owner=by_owner,
        money=lambda v: money(v, currency, locale),
        backtest=backtest,
        snapshot=_said(request, snapshot),
    )


def _clean(row: dict) -> dict:
    """NaN (a missing value in a frame) as None: a template must not take it for a value."""
    return {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}


def _backtest() -> list[dict] | None:
    """The summary of the latest `funnelcast backtest` in the home's reports (`make demo` makes one):
    per method, its error and, for the model, how often P10-P90 held the actual."""
    from funnelcast.core import paths

    path = paths.home() / "reports" / "backtest" / "backtest_summary.csv"
    if not path.is_file():
        return None
    frame = pd.read_csv(path)
    return [_clean(r) for r in frame.to_dict(orient="records")]
