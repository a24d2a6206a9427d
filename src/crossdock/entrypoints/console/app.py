"""The operator console's routes: server-rendered pages (Jinja2) with htmx for the overview's refresh and in-place
actions, mounted by the API app under /console. Every page needs a signed-in admin key; every POST also carries the
session's anti-forgery token and is recorded in the audit trail by the API's audit writer under that key.

Owns: these routes, what each page shows and how an action answers. Must not: count or decide anything itself (hub
dashboard, views and operations do) or write a store except through the hub functions the API uses.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

import jinja2
from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.types import Scope

from crossdock.bootstrap import Runtime
from crossdock.domain import catalog
from crossdock.domain.workflows.procure_to_pay import DEFAULT_POLICY
from crossdock.entrypoints.api import auth
from crossdock.entrypoints.console import sessions, timeline
from crossdock.hub import dashboard, operations, views
from crossdock.hub import trace as tracing
from crossdock.hub.handlers.exceptions import AlreadyResolved, UnknownException
from crossdock.hub.ports import AuditEntry, DeliveryFilter, DeliveryStatus, ExceptionFilter, ExceptionStatus

log = logging.getLogger(__name__)

CALL_ACTION = "console.call"
CSRF_HEADER = "x-console-csrf"
MAX_FORM_BYTES = 1_000_000  # an edited payload fits; anything larger is not a form an operator typed
POLL_SECONDS = 5
STATIC = {"htmx.min.js": "text/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8"}
SECURITY_HEADERS = {
    # Everything is served from here: no inline script, no other origin, no framing.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# Overriding, cancelling and accepting settle something for good: the reason is kept with the exception.
ACTIONS_NEEDING_A_REASON = frozenset(
    {catalog.ExceptionAction.OVERRIDE, catalog.ExceptionAction.CANCEL, catalog.ExceptionAction.ACCEPT}
)


class SignInRequired(Exception):
    """No session, an expired one, or its key was revoked."""


class BadRequest(Exception):
    """A form the console cannot act on; the message says which field and why."""


@dataclass(frozen=True)
class Operator:
    session: sessions.Session
    principal: auth.Principal

    @property
    def actor(self) -> str:
        return self.principal.actor


def create_console(runtime: Runtime, *, audit: auth.AuditWriter) -> FastAPI:
    """The console over a built runtime; `audit` is the API's writer, so console calls land in the same trail."""
    hub = runtime.hub
    otc = runtime.order_to_cash
    workflow = runtime.procure_to_pay.policy.workflow if runtime.procure_to_pay is not None else DEFAULT_POLICY
    settings = runtime.settings
    scope = tracing.Scope.configured(settings.sources, settings.destinations, settings.partners)
    keys = auth.KeyCache(hub.begin, settings.api.key_cache_seconds)
    store = sessions.Sessions(keys)
    templates = _templates()
    app = FastAPI(title="Crossdock console", openapi_url=None, docs_url=None, redoc_url=None)
    app.add_middleware(ConsoleAuditMiddleware, writer=audit, clock=hub.clock)

    def base(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        operator: Operator | None = getattr(request.state, "operator", None)
        page = templates.get_template(name).render(
            base=base(request),
            operator=operator,
            key=operator.principal.key if operator else None,
            csrf=operator.session.csrf if operator else "",
            now=hub.clock.now(),
            poll_seconds=POLL_SECONDS,
            **context,
        )
        return HTMLResponse(page, status_code=status, headers=SECURITY_HEADERS)

    def notice(request: Request, status: int, text: str, tone: str = "error") -> HTMLResponse:
        """A fragment for htmx to swap in, or a whole page for a plain request."""
        if not request.headers.get("hx-request"):
            return render(request, "notice.html", status=status, tone=tone, text=text)
        response = render(request, "_notice.html", status=status, tone=tone, text=text)
        # Into the page's notice area, whatever the request meant to replace: a refused action keeps its form.
        response.headers.update({"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"})
        return response

    def signed_in(request: Request) -> Operator:
        found = store.current(request)
        if found is None:
            raise SignInRequired()
        session, key = found
        operator = Operator(session, auth.Principal(key))
        request.state.operator = operator
        request.state.principal = operator.principal  # who the audit record names
        return operator

    async def form(request: Request) -> dict[str, str]:
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            raise BadRequest(f"the form is {len(body)} bytes; at most {MAX_FORM_BYTES} are taken")
        parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        return {name: values[-1] for name, values in parsed.items()}

    def acting(request: Request, fields: dict[str, str] = Depends(form)) -> Operator:
        """A signed-in operator whose POST carries the session's anti-forgery token."""
        operator = signed_in(request)
        if not sessions.csrf_ok(operator.session, request.headers.get(CSRF_HEADER) or fields.get("csrf")):
            raise BadRequest("the form is stale or came from another site: reload the page and try again")
        return operator

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _exc: Exception) -> Response:
        target = f"{base(request)}/signin"
        wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method == "GET" and not request.headers.get("hx-request"):
            target += "?" + urlencode({"next": wanted})
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(BadRequest)
    async def _bad_request(request: Request, exc: Exception) -> Response:
        return notice(request, 400, str(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("console page %s failed", request.url.path, exc_info=exc)
        return notice(request, 500, "Something went wrong; it is logged.")

    # ---- static assets and sign-in -----------------------------------------------------------------------------

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        """The vendored script and the stylesheet: code, not business data, so readable before sign-in."""
        if name not in STATIC:
            return Response(status_code=404)
        content = resources.files(__package__).joinpath("static", name).read_bytes()
        return Response(content, media_type=STATIC[name], headers={"Cache-Control": "public, max-age=3600"})

    @app.get("/signin")
    def sign_in_page(request: Request, next: str = "") -> HTMLResponse:
        return render(request, "signin.html", next=_local(next, base(request)), error=None)

    @app.post("/signin")
    def sign_in(request: Request, fields: dict[str, str] = Depends(form)) -> Response:
        wanted = _local(fields.get("next", ""), base(request))
        try:
            session, key = store.sign_in(fields.get("key", "").strip())
        except sessions.SignInRefused as exc:
            return render(request, "signin.html", status=401, next=wanted, error=str(exc))
        request.state.principal = auth.Principal(key)
        response = RedirectResponse(wanted or f"{base(request)}/", status_code=303)
        sessions.set_cookie(response, request, session, f"{base(request)}/")
        return response

    @app.post("/signout")
    def sign_out(request: Request, operator: Operator = Depends(acting)) -> Response:
        store.sign_out(operator.session.id)
        response = RedirectResponse(f"{base(request)}/signin", status_code=303)
        sessions.clear_cookie(response, f"{base(request)}/")
        return response

    # ---- overview ----------------------------------------------------------------------------------------------

    def overview_context() -> dict[str, Any]:
        now = hub.clock.now()
        with hub.begin() as uow:
            found = dashboard.overview(uow, now)
        return {"kpi": found, "chart": timeline.latency_chart(found.latency)}

    @app.get("/")
    def overview(request: Request, _: Operator = Depends(signed_in)) -> HTMLResponse:
        return render(request, "overview.html", nav="overview", **overview_context())

    @app.get("/overview/panel")
    def overview_panel(request: Request, _: Operator = Depends(signed_in)) -> HTMLResponse:
        return render(request, "_overview_panel.html", **overview_context())

    # ---- orders and purchase orders ----------------------------------------------------------------------------

    @app.get("/orders")
    def orders(
        request: Request, _: Operator = Depends(signed_in), status: str = "", channel: str = "", customer: str = ""
    ) -> HTMLResponse:
        with hub.begin() as uow:
            found = views.list_orders(
                uow, status=status or None, channel=channel or None, customer=customer or None, limit=200
            )
            counts = uow.orders.counts()
        return render(
            request,
            "orders.html",
            nav="orders",
            orders=found,
            counts=dict(sorted(counts.items())),
            filters={"status": status, "channel": channel, "customer": customer},
        )

    @app.get("/orders/{order_id:path}")
    def order(request: Request, order_id: str, _: Operator = Depends(signed_in)) -> HTMLResponse:
        with hub.begin() as uow:
            found = views.order_view(uow, order_id)
        if found is None:
            return notice(request, 404, f"The hub knows no order {order_id}.")
        return render(
            request,
            "order.html",
            nav="orders",
            order=found,
            entries=timeline.for_key(hub, order_id, scope),
            actions=_actions(),
        )

    @app.get("/purchase-orders")
    def purchase_orders(
        request: Request, _: Operator = Depends(signed_in), status: str = "", supplier: str = ""
    ) -> HTMLResponse:
        with hub.begin() as uow:
            found = views.list_purchase_orders(uow, status=status or None, supplier=supplier or None, limit=200)
            counts = uow.purchase_orders.counts()
        return render(
            request,
            "purchase_orders.html",
            nav="purchase-orders",
            purchase_orders=found,
            counts=dict(sorted(counts.items())),
            filters={"status": status, "supplier": supplier},
        )

    @app.get("/purchase-orders/{po_id:path}")
    def purchase_order(request: Request, po_id: str, _: Operator = Depends(signed_in)) -> HTMLResponse:
        with hub.begin() as uow:
            found = views.purchase_order_view(uow, po_id, workflow)
        if found is None:
            return notice(request, 404, f"The hub knows no purchase order {po_id}.")
        return render(
            request,
            "purchase_order.html",
            nav="purchase-orders",
            po=found,
            entries=timeline.for_key(hub, po_id, scope),
            actions=_actions(),
        )

    # ---- dead letters ------------------------------------------------------------------------------------------

    def dead_letter_filter(params: Mapping[str, str], limit: int) -> DeliveryFilter:
        return DeliveryFilter(
            destination=params.get("destination") or None,
            event_type=params.get("event_type") or None,
            error_contains=params.get("error") or None,
            since=_day(params.get("since"), "since"),
            until=_day(params.get("until"), "until", next_day=True),
            status=DeliveryStatus.DEAD,
            limit=limit,
        )

    @app.get("/dead-letters")
    def dead_letters(request: Request, _: Operator = Depends(signed_in)) -> HTMLResponse:
        params = dict(request.query_params)
        found = operations.dead_letters(hub, dead_letter_filter(params, 200))
        return render(
            request,
            "dead_letters.html",
            nav="dead-letters",
            dead=found,
            filters={name: params.get(name, "") for name in ("destination", "event_type", "error", "since", "until")},
            destinations=sorted(hub.outbox.destinations),
        )

    @app.get("/dead-letters/{delivery_id}")
    def dead_letter(request: Request, delivery_id: str, _: Operator = Depends(signed_in)) -> HTMLResponse:
        found = operations.delivery(hub, delivery_id)
        if found is None:
            return notice(request, 404, f"There is no delivery {delivery_id}.")
        delivery, attempts = found
        return render(
            request,
            "dead_letter.html",
            nav="dead-letters",
            delivery=delivery,
            attempts=attempts,
            payload=json.dumps(delivery.payload, indent=2, ensure_ascii=False, default=str),
            error=None,
        )

    @app.post("/dead-letters/{delivery_id}/replay")
    def replay_one(
        request: Request,
        delivery_id: str,
        operator: Operator = Depends(acting),
        fields: dict[str, str] = Depends(form),
    ) -> Response:
        payload = None
        if "payload" in fields:
            try:
                payload = _json_object(fields["payload"])
            except BadRequest as exc:
                found = operations.delivery(hub, delivery_id)
                if found is None:
                    raise
                return render(
                    request,
                    "dead_letter.html",
                    status=400,
                    nav="dead-letters",
                    delivery=found[0],
                    attempts=found[1],
                    payload=fields["payload"],
                    error=str(exc),
                )
        replayed = operations.replay_delivery(
            hub, delivery_id, actor=operator.actor, payload=payload, note=fields.get("note", "")
        )
        if not replayed:
            text = f"Delivery {delivery_id} is not a dead letter (any more): nothing was replayed."
            return notice(request, 409, text)
        if request.headers.get("hx-request"):
            text = f"Replayed {delivery_id}" + (" with the edited payload" if payload is not None else "") + "."
            return render(request, "_replayed_row.html", delivery_id=delivery_id, text=text)
        return RedirectResponse(f"{base(request)}/dead-letters?replayed={quote(delivery_id)}", status_code=303)

    @app.post("/dead-letters/bulk")
    def replay_bulk(
        request: Request, operator: Operator = Depends(acting), fields: dict[str, str] = Depends(form)
    ) -> HTMLResponse:
        """A dry run says how many match and which; the confirmation replays what matches the same filter then,
        at most as many as the dry run showed."""
        dry_run = fields.get("confirm") != "yes"
        limit = _positive(fields.get("limit"), "limit", default=1000, most=100_000)
        chosen = operations.replay_dead_letters(
            hub, dead_letter_filter(fields, limit), actor=operator.actor, dry_run=dry_run, note=fields.get("note", "")
        )
        filters = {name: fields.get(name, "") for name in ("destination", "event_type", "error", "since", "until")}
        return render(request, "_bulk_result.html", dry_run=dry_run, chosen=chosen, filters=filters)

    # ---- exceptions --------------------------------------------------------------------------------------------

    @app.get("/exceptions")
    def exceptions(request: Request, _: Operator = Depends(signed_in), owner: str = "") -> HTMLResponse:
        with hub.begin() as uow:
            found = uow.exceptions.find(ExceptionFilter(status=ExceptionStatus.OPEN, owner=owner or None, limit=1000))
            counts = uow.exceptions.counts()
        groups: dict[str, list[Any]] = {}
        for exception in found:
            groups.setdefault(exception.owner, []).append(exception)
        return render(
            request,
            "exceptions.html",
            nav="exceptions",
            groups=dict(sorted(groups.items())),
            counts=dict(sorted(counts.items())),
            owner=owner,
            actions=_actions(),
        )

    @app.post("/exceptions/{exception_id}/act")
    def act(
        request: Request,
        exception_id: str,
        operator: Operator = Depends(acting),
        fields: dict[str, str] = Depends(form),
    ) -> Response:
        """The decision the API's POST /v1/exceptions/{id}/actions takes, by the same hub function."""
        try:
            action = catalog.ExceptionAction(fields.get("action", ""))
        except ValueError:
            raise BadRequest(f"action: choose one of {', '.join(a.value for a in catalog.ExceptionAction)}") from None
        note = fields.get("note", "").strip()
        if action in ACTIONS_NEEDING_A_REASON and not note:
            raise BadRequest(f"reason: a {action.value} needs a reason, kept with the exception")
        now = hub.clock.now()
        try:
            otc.act_on_exception(hub.begin, now, exception_id, action, actor=operator.actor, note=note)
        except UnknownException:
            return notice(request, 404, f"No exception {exception_id}.")
        except AlreadyResolved as exc:
            return notice(request, 409, str(exc))
        with hub.begin() as uow:
            uow.audit.append(
                [
                    AuditEntry(
                        actor=operator.actor,
                        action="exception.act",
                        target=exception_id,
                        at=now,
                        details={"action": action.value, "decided_by": operator.actor, "note": note, "via": "console"},
                    )
                ]
            )
            resolved = uow.exceptions.get(exception_id)
            uow.commit()
        if request.headers.get("hx-request"):
            return render(request, "_exception_done.html", exception=resolved)
        return RedirectResponse(f"{base(request)}/exceptions", status_code=303)

    # ---- connectors --------------------------------------------------------------------------------------------

    @app.get("/connectors")
    def connectors(request: Request, _: Operator = Depends(signed_in)) -> HTMLResponse:
        with hub.begin() as uow:
            found = dashboard.connectors(
                uow, hub.clock.now(), sources=hub.intake.adapters.keys(), destinations=hub.outbox.destinations.keys()
            )
        return render(request, "connectors.html", nav="connectors", connectors=found)

    return app


class ConsoleAuditMiddleware(auth.AuditMiddleware):
    """Every console POST (sign-in, sign-out, replays, decisions) goes to the API's audit writer once answered:
    who (the signed-in key, or anonymous for a refused sign-in), what route, and the status."""

    action = CALL_ACTION

    def audits(self, scope: Scope) -> bool:
        return scope.get("method") not in ("GET", "HEAD", "OPTIONS")

    def route(self, scope: Scope) -> str:
        # The console is mounted: its routes read with the mount's prefix.
        return str(scope.get("root_path", "")) + (getattr(scope.get("route"), "path", None) or "")


# ---- inside ----------------------------------------------------------------------------------------------------


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("crossdock.entrypoints.console", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["age"] = _age
    env.filters["when"] = _when
    env.filters["quote"] = lambda value: quote(str(value), safe="")
    env.filters["amounts"] = _amounts
    env.filters["ms"] = lambda value: "" if value is None else f"{value:,.0f} ms"
    return env


def _actions() -> list[str]:
    return [a.value for a in catalog.ExceptionAction]


def _age(value: timedelta | datetime | None, now: datetime | None = None) -> str:
    """'3d 4h', '2h 5m', '40s': how long, to the two largest units."""
    if value is None:
        return "–"
    if isinstance(value, datetime):
        value = (now or datetime.now(UTC)) - value
    seconds = max(0, int(value.total_seconds()))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {seconds}s"
    return f"{seconds}s"


def _when(value: datetime | str | None) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _amounts(value: Mapping[str, Decimal]) -> str:
    return ", ".join(f"{amount:,} {currency}" for currency, amount in value.items()) or "–"


def _local(target: str, base: str) -> str:
    """Only a path inside the console is a place to return to after sign-in: never another site."""
    if target.startswith(f"{base}/") and not target.startswith("//") and "\\" not in target:
        return target
    return ""


def _day(value: str | None, name: str, *, next_day: bool = False) -> datetime | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name}: {value!r} is not a date (YYYY-MM-DD)") from None
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start + timedelta(days=1) if next_day else start


def _positive(value: str | None, name: str, *, default: int, most: int) -> int:
    if not value:
        return default
    if not value.isdigit() or not 1 <= int(value) <= most:
        raise BadRequest(f"{name}: {value!r} is not a whole number from 1 to {most}")
    return int(value)


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"payload: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(value, dict):
        raise BadRequest("payload: must be a JSON object, as the original was")
    return value
