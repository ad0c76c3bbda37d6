"""The dashboard's web app: Starlette routes over :mod:`ai_core.dashboard.views`.

Read-only by construction: only GET and HEAD are routed, the ledger is read
through :meth:`Database.read` (the one thing written is the dashboard's own
spend rollup, :mod:`ai_core.dashboard.rollup`, derived from it), and nothing
secret is selected (credentials are never queried; failure messages pass
through redaction). Every asset is a
file in this package: no CDN, no script (charts are SVG drawn on the server).

Every response carries ``Server-Timing: app;dur=<ms>`` (the benchmark reads
it), a strict Content-Security-Policy and ``Cache-Control: no-store``.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ai_core.dashboard import rollup
from ai_core.dashboard.access import Viewer, is_loopback, viewer_for
from ai_core.dashboard.charts import money_value
from ai_core.dashboard.queries import GRAINS, SPEND_GROUPINGS, Filters
from ai_core.dashboard.tables import TableView, cell_text, to_csv, to_json
from ai_core.dashboard.views import (
    Page,
    budgets_page,
    conversation_page,
    conversations_page,
    failures_page,
    models_page,
    spend_page,
    status_page,
)

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from ai_core.budgets.model import Budget
    from ai_core.config import Settings
    from ai_core.storage.database import Database

__all__ = ["COOKIE", "DEFAULT_DAYS", "create_app"]

HERE = Path(__file__).parent
COOKIE = "ai_dashboard_token"
SQLITE_MMAP_BYTES = 1 << 30
DEFAULT_DAYS = 30
"""Pages show the last 30 days (today included) unless asked for other dates."""
NAV = (
    ("spend", "Spend"),
    ("budgets", "Budgets"),
    ("conversations", "Conversations"),
    ("models", "Models"),
    ("failures", "Failures"),
    ("status", "Status"),
)
_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


class BadRequest(Exception):
    """A query parameter a person typed wrong: one line back, status 400."""


class _Guard:
    """Access, read-only methods, security headers and server timing, around every request."""

    def __init__(self, app: ASGIApp, *, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed = (time.perf_counter() - started) * 1000
                headers = [(b"server-timing", f"app;dur={elapsed:.1f}".encode())]  # first: the page's time
                headers += list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", _CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                    (b"cache-control", b"no-store"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        refusal = self._refusal(scope)
        if isinstance(refusal, Response):
            await refusal(scope, receive, timed)
            return
        scope.setdefault("state", {})["viewer"] = refusal
        await self.app(scope, receive, timed)

    def _refusal(self, scope: Scope) -> Response | Viewer:
        if scope["method"] not in ("GET", "HEAD"):
            return PlainTextResponse("The dashboard is read-only.", status_code=405, headers={"Allow": "GET, HEAD"})
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if not self.token:
            # No token: loopback only, and only under a loopback name (no DNS rebinding from a web page).
            host = (
                headers.get("host", "").rsplit(":", 1)[0]
                if not headers.get("host", "").startswith("[")
                else headers.get("host", "").split("]")[0] + "]"
            )
            if not is_loopback(host):
                return PlainTextResponse("Unknown host: open the dashboard at 127.0.0.1.", status_code=421)
            return Viewer()
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        offered = query.get("token")
        if offered is not None:
            viewer = viewer_for(offered, self.token)
            if viewer is None:
                return PlainTextResponse("That token is not valid.", status_code=401)
            rest = urlencode([(k, v) for k, v in parse_qsl(scope["query_string"].decode("latin-1")) if k != "token"])
            location = scope["path"] + (f"?{rest}" if rest else "")
            response = RedirectResponse(location, status_code=303)
            response.set_cookie(COOKIE, offered, httponly=True, samesite="strict", path="/")
            return response
        authorization = headers.get("authorization", "")
        presented = authorization[7:].strip() if authorization.lower().startswith("bearer ") else None
        if presented is None:
            cookie: SimpleCookie = SimpleCookie()
            try:
                cookie.load(headers.get("cookie", ""))
            except Exception:  # a malformed cookie header is no token
                cookie = SimpleCookie()
            presented = cookie[COOKIE].value if COOKIE in cookie else None
        viewer = viewer_for(presented, self.token)
        if viewer is None:
            return PlainTextResponse(
                "This dashboard needs a token: open it with ?token=<token> or send Authorization: Bearer <token>.",
                status_code=401,
            )
        return viewer


def _date(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name}: {value!r} is not a date; use YYYY-MM-DD") from None


def _choice(value: str | None, choices: Sequence[str], default: str, name: str) -> str:
    if not value:
        return default
    if value not in choices:
        raise BadRequest(f"{name}: {value!r} is not one of {', '.join(choices)}")
    return value


def _filters(request: Request, viewer: Viewer) -> Filters:
    params = request.query_params
    today = datetime.now(UTC).date()
    since = _date(params.get("since"), "since")
    until = _date(params.get("until"), "until")
    if "since" not in params:
        since = today - timedelta(days=DEFAULT_DAYS - 1)
    filters = Filters(
        since=since,
        until=until,
        provider=params.get("provider") or None,
        model=params.get("model") or None,
        user=params.get("user") or None,
        tenant=params.get("tenant") or None,
        tag=params.get("tag") or None,
    )
    return filters.scoped(viewer.tenant)


def create_app(
    database: Database,
    *,
    token: str | None = None,
    budgets: Sequence[Budget] = (),
    database_text: str = "",
    settings: Settings | None = None,
    prebuild: bool = False,
) -> Starlette:
    """The dashboard over ``database``. ``token``: ``AI_DASHBOARD_TOKEN`` (None: loopback, no login).
    ``prebuild``: roll up the ledger's closed days in a thread at start (``ai dashboard`` does)."""
    if database.dialect == "sqlite":
        _map_sqlite_reads(database)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    env = templates.env
    env.filters["money"] = lambda v: "" if v is None else money_value(v)
    env.filters["cell"] = cell_text
    env.filters["num"] = lambda v: "" if v is None else f"{int(v):,}"
    env.filters["when"] = _when
    env.globals["NAV"] = NAV
    env.globals["GRAINS"] = GRAINS
    env.globals["GROUPINGS"] = SPEND_GROUPINGS

    def viewer_of(request: Request) -> Viewer:
        viewer = request.scope.get("state", {}).get("viewer")
        return viewer if isinstance(viewer, Viewer) else Viewer(tenant="\x00")  # never unscoped by accident

    def render(request: Request, page: Page, template: str, filters: Filters | None = None) -> Response:
        wanted = request.query_params.get("format")
        if wanted:
            return _export(page, wanted, request.query_params.get("table"))
        viewer = viewer_of(request)
        query = [(k, v) for k, v in request.query_params.multi_items() if k not in ("format", "table", "page")]

        def link(**changes: Any) -> str:
            items = [(k, v) for k, v in query if k not in changes]
            items += [(k, str(v)) for k, v in changes.items() if v is not None]
            return f"{request.url.path}?{urlencode(items)}" if items else request.url.path

        return templates.TemplateResponse(
            request,
            template,
            {
                "page": page,
                "viewer": viewer,
                "filters": filters,
                "params": request.query_params,
                "link": link,
                "export": lambda table: link(format="csv", table=table),
                "export_json": lambda t: link(format="json", table=t),
            },
        )

    def guarded(handler: Any) -> Any:
        if inspect.iscoroutinefunction(handler):
            return handler

        def endpoint(request: Request) -> Response:
            started = time.thread_time()
            try:
                response: Response = handler(request)
                # CPU time of this request's thread (SQLite's work included), beside the wall time:
                # on a busy machine the two differ by the time spent waiting for a core.
                response.headers.append("server-timing", f"cpu;dur={(time.thread_time() - started) * 1000:.1f}")
                return response
            except BadRequest as exc:
                return HTMLResponse(
                    templates.get_template("error.html").render(message=str(exc), NAV=NAV, status=400), status_code=400
                )

        endpoint.__name__ = handler.__name__
        return endpoint

    def spend(request: Request) -> Response:
        viewer = viewer_of(request)
        filters = _filters(request, viewer)
        by = _choice(request.query_params.get("by"), SPEND_GROUPINGS, "provider", "by")
        grain = _choice(request.query_params.get("grain"), GRAINS, "day", "grain")
        return render(request, spend_page(database, filters, by=by, grain=grain), "spend.html", filters)

    def budgets_view(request: Request) -> Response:
        return render(request, budgets_page(database, budgets, tenant=viewer_of(request).tenant), "budgets.html")

    def conversations(request: Request) -> Response:
        viewer = viewer_of(request)
        filters = _filters(request, viewer)
        try:
            number = int(request.query_params.get("page") or 1)
        except ValueError:
            raise BadRequest("page: a whole number, from 1") from None
        search = (request.query_params.get("q") or "").strip() or None
        page = conversations_page(database, filters, search=search, page_number=number)
        return render(request, page, "conversations.html", filters)

    def conversation(request: Request) -> Response:
        page = conversation_page(database, request.path_params["conversation_id"], tenant=viewer_of(request).tenant)
        if page is None:
            return HTMLResponse(
                templates.get_template("error.html").render(message="No such conversation.", NAV=NAV, status=404),
                status_code=404,
            )
        return render(request, page, "conversation.html")

    def models(request: Request) -> Response:
        viewer = viewer_of(request)
        filters = _filters(request, viewer)
        return render(request, models_page(database, filters), "models.html", filters)

    def failures(request: Request) -> Response:
        viewer = viewer_of(request)
        filters = _filters(request, viewer)
        grain = _choice(request.query_params.get("grain"), GRAINS, "day", "grain")
        return render(request, failures_page(database, filters, grain=grain), "failures.html", filters)

    async def status(request: Request) -> Response:
        if viewer_of(request).scoped:
            page = Page("status", "Status", notes=["Status is shared by every tenant: ask the operator."])
            page.context.update(sections=[], modules=[], database="")
            return render(request, page, "status.html")
        found = await _collect_status(settings)
        return render(request, status_page(found, database_text=database_text), "status.html")

    def home(request: Request) -> Response:
        return RedirectResponse("/spend", status_code=303)

    routes = [
        Route("/", home),
        Route("/spend", guarded(spend)),
        Route("/budgets", guarded(budgets_view)),
        Route("/conversations", guarded(conversations)),
        Route("/conversations/{conversation_id}", guarded(conversation)),
        Route("/models", guarded(models)),
        Route("/failures", guarded(failures)),
        Route("/status", guarded(status)),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if prebuild:
            threading.Thread(target=rollup.prebuild, args=(database,), name="ai-dashboard-rollup", daemon=True).start()
        yield

    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(_Guard, token=token)  # type: ignore[arg-type]
    return app


def _when(value: datetime) -> str:
    """A moment as a person reads it, in UTC (PostgreSQL hands back its session's time zone)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S")


async def _collect_status(settings: Settings | None) -> dict[str, Any] | None:
    """``ai status``'s sections (``ai_core.scale.status``), or None when that module is not installed."""
    if importlib.util.find_spec("ai_core.scale") is None:
        return None
    try:
        module = importlib.import_module("ai_core.scale.status")
    except ImportError:
        return None
    if settings is None:
        from ai_core.config import load_settings

        settings = load_settings()
    found: dict[str, Any] = await module.collect_status(settings)
    return found


def _map_sqlite_reads(database: Database) -> None:
    """Let SQLite read the database through mmap: range scans of a large ledger
    skip a system call per page (a read-only setting of each connection)."""
    from sqlalchemy import event

    def mapped(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")

    event.listen(database.engine, "connect", mapped)
    database.engine.dispose()  # connections opened before this get the setting too


def _export(page: Page, wanted: str, table_name: str | None) -> Response:
    if wanted not in ("csv", "json"):
        return PlainTextResponse("format: csv or json", status_code=400)
    table: TableView | None = page.table(table_name)
    if table is None:
        names = ", ".join(t.name for t in page.tables) or "none"
        return PlainTextResponse(f"table: one of {names}", status_code=400)
    filename = f"ai-dashboard-{page.name}-{table.name}.{wanted}"
    disposition = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if wanted == "csv":
        return Response(to_csv(table), media_type="text/csv; charset=utf-8", headers=disposition)
    return Response(to_json(table), media_type="application/json", headers=disposition)
