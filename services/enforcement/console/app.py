"""The operator console: a Starlette application over the enforcement domain.

Every page is rendered on the server (Jinja2); htmx (vendored) polls the case queue for new cases, and two
static scripts draw the cluster graph (cytoscape.js) and the traffic charts (Chart.js). There is no case logic
here: pages read through `EnforcementDomain`, and every change (decide, reverse, appeal, policy reload) is one
domain call, which writes its audit rows and outbox messages in its own transaction.

Each endpoint is built by one of three wrappers, which is where access is enforced:

- `page(role)`: GET; a signed-in operator with at least `role`, else a redirect to the sign-in page (403 for
  a signed-in operator below the role);
- `action(role)`: POST; first the session's CSRF token (form field or X-CSRF-Token header, 403 without it),
  then the operator and role (401 / 403), each refusal of a signed-in operator audited;
- `public_action`: POST without an operator (sign-in, sign-out), still CSRF-checked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal, TypeVar, cast, get_args
from urllib.parse import urlencode

import jinja2
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.datastructures import FormData, QueryParams
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from distillguard.casestore.audit import AuditQuery
from distillguard.casestore.models import ActionKind, CaseStatus, OperatorRole
from enforcement.console.data import ConsoleData
from enforcement.console.panels import graph_panel, timeline_panel, top_reasons
from enforcement.console.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    ConsoleAudit,
    LoginThrottle,
    RevokedSessions,
    SecurityHeaders,
    csrf_matches,
    csrf_token,
    new_token,
)
from enforcement.console.settings import ConsoleSettings
from enforcement.domain import (
    CaseFilter,
    DomainError,
    EnforcementDomain,
    InvalidRequest,
    InvalidTransition,
    NotFound,
    OperatorError,
    OperatorStore,
    OperatorView,
    PageRequest,
)
from enforcement.domain.policy import Rule
from enforcement.domain.views import CaseSort, CaseView, page_token

log = logging.getLogger(__name__)

PACKAGE_DIR: Final = Path(__file__).resolve().parent
TEMPLATES_DIR: Final = PACKAGE_DIR / "templates"
STATIC_DIR: Final = PACKAGE_DIR / "static"
Decision = Literal["approve", "reject", "escalate"]
DECISIONS: Final[tuple[Decision, ...]] = get_args(Decision)
DECIDED: Final = {"approve": "approved", "reject": "rejected", "escalate": "escalated"}
SEARCH_KINDS: Final = ("account_id", "email", "ip", "card_fingerprint", "device_fingerprint", "api_key_id")
SORTS: Final[tuple[CaseSort, ...]] = get_args(CaseSort)
#: Queue status filter values besides the case statuses themselves.
STATUS_GROUPS: Final[Mapping[str, tuple[str, ...]]] = {
    "needs_human": (CaseStatus.REVIEW, CaseStatus.ESCALATED),
    "active": (CaseStatus.OPEN, CaseStatus.PROPOSED, CaseStatus.REVIEW, CaseStatus.ESCALATED, CaseStatus.APPROVED,
               CaseStatus.ENFORCED),
}
MAX_REASON: Final = 4000
MAX_HISTORY_ROWS: Final = 300
SEARCH_LIMIT: Final = 50
AUDIT_PAGE: Final = 100

Handler = Callable[[Request, OperatorView], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]
T = TypeVar("T")


def _text(form: FormData | QueryParams, name: str, limit: int = 256) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _safe_next(target: str) -> str:
    """A local path to return to after sign-in; anything else (another host, a scheme) becomes "/cases"."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target and "\n" not in target:
        return target
    return "/cases"


def version_token(case: CaseView) -> str:
    """What a preview was computed against: a confirm is refused when the case has changed since."""
    return f"{case.status}|{case.updated_at.isoformat()}"


def _format_dt(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _format_money(cents: object) -> str:
    try:
        return f"${int(cents) / 100:,.2f}"  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return "—"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["dt"] = _format_dt
    env.filters["money"] = _format_money
    return env


@dataclass(frozen=True)
class QueueQuery:
    """The queue's filters as the form shows them, and what the domain makes of them."""

    values: dict[str, str]
    filters: CaseFilter
    page: PageRequest
    errors: tuple[str, ...]

    def query_string(self, **changes: str) -> str:
        values = {**self.values, **changes}
        return urlencode({k: v for k, v in values.items() if v})


def parse_queue_query(params: QueryParams, page_size: int) -> QueueQuery:
    names = ("status", "action", "min_size", "max_size", "min_score", "max_score", "rule", "shadow", "sort",
             "order", "page")
    values = {name: _text(params, name, 200) for name in names}
    errors: list[str] = []
    status: str | tuple[str, ...] | None = None
    if values["status"] in STATUS_GROUPS:
        status = STATUS_GROUPS[values["status"]]
    elif values["status"] in {s.value for s in CaseStatus}:
        status = values["status"]
    elif values["status"]:
        errors.append(f"unknown status {values['status']!r}")
        values["status"] = ""
    action = values["action"] if values["action"] in {k.value for k in ActionKind} else None
    if values["action"] and action is None:
        errors.append(f"unknown action {values['action']!r}")
        values["action"] = ""

    def number(name: str, kind: Callable[[str], T], low: float, high: float) -> T | None:
        if not values[name]:
            return None
        try:
            parsed = kind(values[name])
        except ValueError:
            parsed = None
        if parsed is None or not low <= cast(float, parsed) <= high:
            errors.append(f"{name.replace('_', ' ')} must be a number from {low:g} to {high:g}")
            values[name] = ""
            return None
        return parsed

    shadow = {"yes": True, "no": False}.get(values["shadow"])
    sort = cast(CaseSort, values["sort"]) if values["sort"] in SORTS else "updated"
    values["sort"] = sort
    values["order"] = "asc" if values["order"] == "asc" else "desc"
    filters = CaseFilter(
        status=status, proposed_action=action,
        min_cluster_size=number("min_size", int, 1, 10_000_000), max_cluster_size=number("max_size", int, 1, 10_000_000),
        min_score=number("min_score", float, 0, 1), max_score=number("max_score", float, 0, 1),
        policy_rule=values["rule"] or None, shadow=shadow,
    )
    page = PageRequest(size=page_size, token=values["page"], sort=sort, descending=values["order"] == "desc")
    return QueueQuery(values, filters, page, tuple(errors))


@dataclass(frozen=True)
class RuleRow:
    rule: Rule
    stats: Mapping[str, int]
    conditions: Mapping[str, Any]


def _parse_utc(value: str) -> datetime | None:
    """A datetime-local form value ("2026-11-01T12:00"), read as UTC; None when empty or malformed."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def default_policy_path() -> Path:
    return Path(str(resources.files("enforcement.policies").joinpath("default.yaml")))


class Console:
    """The console's endpoints and the state they share (throttle, revoked sessions)."""

    def __init__(
        self,
        domain: EnforcementDomain,
        operators: OperatorStore,
        settings: ConsoleSettings,
        extra: ConsoleData | None,
        audit: ConsoleAudit,
    ) -> None:
        self.domain = domain
        self.operators = operators
        self.settings = settings
        self.extra = extra
        self.audit = audit
        self.throttle = LoginThrottle(max_failures=settings.login_max_failures, window_s=settings.login_window_s,
                                      max_keys=settings.login_throttle_keys)
        self.revoked = RevokedSessions(settings.session_absolute_s)
        self.templates = Jinja2Templates(env=_environment())

    # ================================================================================ rendering and access

    def render(
        self,
        request: Request,
        name: str,
        context: Mapping[str, Any],
        *,
        operator: OperatorView | None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        base = {
            "me": operator,
            "csrf_token": csrf_token(request.session),
            "csrf_field": CSRF_FIELD,
            "flash": request.session.pop("flash", None) if not name.startswith("_") else None,
            "may_decide": operator is not None and operator.may(OperatorRole.ANALYST),
            "is_admin": operator is not None and operator.may(OperatorRole.ADMIN),
            "policy_version": self.domain.policy.version,
            "path": request.url.path,
        }
        return self.templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code,
                                               headers=headers)

    def error(self, request: Request, status_code: int, message: str, operator: OperatorView | None,
              headers: Mapping[str, str] | None = None) -> Response:
        return self.render(request, "error.html", {"status_code": status_code, "message": message},
                           operator=operator, status_code=status_code, headers=headers)

    async def operator_of(self, request: Request) -> OperatorView | None:
        """The signed-in operator, re-read from the case store on every request, so disabling an operator or
        changing a role takes effect at once; None when not signed in, signed out, disabled or expired."""
        session = request.session
        name, session_id, issued = session.get("op"), session.get("sid"), session.get("iat")
        if not isinstance(name, str) or not isinstance(session_id, str) or not isinstance(issued, int):
            return None
        if session_id in self.revoked or time.time() - issued > self.settings.session_absolute_s:
            for key in ("op", "sid", "iat"):
                session.pop(key, None)
            return None
        operator = await self.operators.get(name)
        if operator is None or operator.disabled:
            return None
        return operator

    async def refuse(self, request: Request, operator: OperatorView, role: OperatorRole) -> Response:
        await self.audit.record(
            actor=operator.name, action="console.denied", subject=f"route:{request.method} {request.url.path}",
            reason=f"needs role {role.value}, has {operator.role.value}",
            detail={"address": _address(request), "required_role": role.value, "role": operator.role.value},
        )
        return self.error(request, 403, f"This needs the {role.value} role; you are signed in as "
                                        f"{operator.role.value}.", operator)

    def page(self, role: OperatorRole, handler: Handler) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            operator = await self.operator_of(request)
            if operator is None:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                if request.headers.get("hx-request"):
                    return Response(status_code=401, headers={"HX-Redirect": "/login"})
                return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)
            if not operator.may(role):
                return await self.refuse(request, operator, role)
            return await handler(request, operator)

        return endpoint

    async def _csrf_ok(self, request: Request) -> bool:
        supplied = request.headers.get(CSRF_HEADER)
        if supplied is None:
            form = await request.form()
            value = form.get(CSRF_FIELD)
            supplied = value if isinstance(value, str) else None
        return csrf_matches(request.session, supplied)

    def public_action(self, handler: Endpoint) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            if not await self._csrf_ok(request):
                return self.error(request, 403, "Missing or invalid CSRF token: reload the page and try again.",
                                  await self.operator_of(request))
            return await handler(request)

        endpoint.csrf_protected = True  # type: ignore[attr-defined]
        return endpoint

    def action(self, role: OperatorRole, handler: Handler) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            if not await self._csrf_ok(request):
                log.warning("refused %s %s without a valid CSRF token from %s", request.method, request.url.path,
                            _address(request))
                return self.error(request, 403, "Missing or invalid CSRF token: reload the page and try again.",
                                  await self.operator_of(request))
            operator = await self.operator_of(request)
            if operator is None:
                return self.error(request, 401, "Your session has ended; sign in again.", None)
            if not operator.may(role):
                return await self.refuse(request, operator, role)
            return await handler(request, operator)

        endpoint.csrf_protected = True  # type: ignore[attr-defined]
        return endpoint

    async def extra_call(self, what: str, call: Callable[[ConsoleData], Awaitable[T]]) -> T | None:
        """A ConsoleData call within the time budget; None (panel "not available") on timeout or failure."""
        if self.extra is None:
            return None
        try:
            return await asyncio.wait_for(call(self.extra), self.settings.extra_timeout_s)
        except asyncio.TimeoutError:
            log.warning("console: %s took longer than %.1fs", what, self.settings.extra_timeout_s)
        except Exception:  # noqa: BLE001 - another service failing must not break the case page
            log.warning("console: %s failed", what, exc_info=True)
        return None

    # ================================================================================ sign-in

    async def login_form(self, request: Request) -> Response:
        operator = await self.operator_of(request)
        target = _safe_next(_text(request.query_params, "next", 2000))
        if operator is not None:
            return RedirectResponse(target, status_code=303)
        return self.render(request, "login.html", {"next": target, "name": "", "problem": None}, operator=None)

    async def login(self, request: Request) -> Response:
        form = await request.form()
        name = _text(form, "name", 128)
        password = form.get("password")
        password = password[:1024] if isinstance(password, str) else ""
        target = _safe_next(_text(form, "next", 2000))
        address = _address(request)
        context = {"next": target, "name": name}
        wait = self.throttle.retry_after(name, address)
        if wait > 0:
            minutes = max(1, round(wait / 60))
            return self.render(request, "login.html",
                               {**context, "problem": f"Too many failed sign-ins. Try again in {minutes} minute(s)."},
                               operator=None, status_code=429, headers={"Retry-After": str(int(wait) + 1)})
        operator = await self.operators.verify(name, password) if name and password else None
        if operator is None:
            started = self.throttle.failed(name, address)
            await self.audit.record(actor="anonymous", action="console.login_failed", subject=f"operator:{name}",
                                    detail={"address": address})
            if started:
                await self.audit.record(
                    actor="console", action="console.login_throttled", subject=f"operator:{name}",
                    reason=f"{self.settings.login_max_failures} failed sign-ins within "
                           f"{self.settings.login_window_s:g}s", detail={"address": address},
                )
            return self.render(request, "login.html", {**context, "problem": "Wrong name or password."},
                               operator=None, status_code=401)
        self.throttle.succeeded(name, address)
        # A fresh session (new id and CSRF token) at sign-in, so nothing planted before it survives.
        request.session.clear()
        request.session.update(op=operator.name, sid=new_token(), iat=int(time.time()), csrf=new_token())
        await self.audit.record(actor=operator.name, action="console.login", subject=f"operator:{operator.name}",
                                detail={"address": address, "role": operator.role.value})
        return RedirectResponse(target, status_code=303)

    async def logout(self, request: Request) -> Response:
        operator = await self.operator_of(request)
        session_id = request.session.get("sid")
        if isinstance(session_id, str):
            self.revoked.revoke(session_id)
        request.session.clear()
        if operator is not None:
            await self.audit.record(actor=operator.name, action="console.logout", subject=f"operator:{operator.name}",
                                    detail={"address": _address(request)})
        return RedirectResponse("/login", status_code=303)

    # ================================================================================ queue

    async def home(self, request: Request, me: OperatorView) -> Response:
        return RedirectResponse("/cases", status_code=303)

    async def _queue_context(self, request: Request) -> dict[str, Any]:
        query = parse_queue_query(request.query_params, self.settings.page_size)
        errors = list(query.errors)
        try:
            offset = query.page.offset()
            result = await self.domain.list_cases(query.filters, query.page)
        except (ValueError, InvalidRequest) as exc:
            errors.append(str(exc))
            offset = 0
            query = parse_queue_query(QueryParams({**query.values, "page": ""}), self.settings.page_size)
            result = await self.domain.list_cases(query.filters, query.page)
        previous = None
        if offset > 0:
            back = max(0, offset - query.page.bounded_size())
            previous = query.query_string(page=page_token(back) if back else "")
        return {
            "query": query, "cases": result.cases, "total": result.total, "offset": offset, "errors": errors,
            "next_qs": query.query_string(page=result.next_page_token) if result.next_page_token else None,
            "previous_qs": previous, "rows_qs": query.query_string(),
            "rules": [rule.name for rule in self.domain.policy.document.rules],
            "statuses": [s.value for s in CaseStatus], "status_groups": list(STATUS_GROUPS),
            "kinds": [k.value for k in ActionKind if k is not ActionKind.RESTORE], "sorts": SORTS,
            "poll_s": self.settings.poll_interval_s, "now": datetime.now(timezone.utc),
        }

    async def queue(self, request: Request, me: OperatorView) -> Response:
        return self.render(request, "queue.html", await self._queue_context(request), operator=me)

    async def queue_rows(self, request: Request, me: OperatorView) -> Response:
        return self.render(request, "_queue_live.html", await self._queue_context(request), operator=me)

    # ================================================================================ case

    async def case(self, request: Request, me: OperatorView) -> Response:
        case_id = request.path_params["case_id"]
        try:
            detail = await self.domain.get_case(case_id)
        except NotFound as exc:
            return self.error(request, 404, str(exc), me)
        case = detail.case
        cluster_id = case.cluster_id or (case.subject_id if case.subject_kind == "cluster" else None)
        graph = timeline = None
        templates: list[Any] | None = None
        if cluster_id:
            graph, timeline, templates = await asyncio.gather(
                self.extra_call("cluster graph", lambda extra: extra.cluster_graph(cluster_id)),
                self.extra_call("cluster timeline", lambda extra: extra.cluster_timeline(cluster_id)),
                self.extra_call("templates", lambda extra: extra.templates_for(cluster_id)),
            )
        approve_preview = await self.domain.preview_decision(case_id, "approve")
        actions = sorted(detail.actions, key=lambda a: (a.account_id, a.created_at, a.action_id))
        return self.render(request, "case.html", {
            "detail": detail, "case": case, "cluster_id": cluster_id,
            "graph": graph_panel(detail, graph, self.settings.graph_max_nodes),
            "timeline": timeline_panel(timeline),
            "templates": templates, "reasons": top_reasons(case.reasons),
            "approve_preview": approve_preview,
            "actions": actions[:MAX_HISTORY_ROWS], "more_actions": max(0, len(actions) - MAX_HISTORY_ROWS),
            "open_appeals": [a for a in detail.appeals if a.status == "open"],
            "decisions": DECISIONS,
        }, operator=me)

    def _decide_context(self, decision: str, preview: Any, reason: str, problem: str | None) -> dict[str, Any]:
        return {"decision": decision, "decided": DECIDED[decision], "preview": preview, "case": preview.case,
                "expected": version_token(preview.case), "reason": reason, "problem": problem}

    async def decide_preview(self, request: Request, me: OperatorView) -> Response:
        case_id, decision = request.path_params["case_id"], request.path_params["decision"]
        if decision not in DECISIONS:
            return self.error(request, 404, f"no such decision {decision!r}", me)
        try:
            preview = await self.domain.preview_decision(case_id, decision)
        except NotFound as exc:
            return self.error(request, 404, str(exc), me)
        return self.render(request, "decide.html", self._decide_context(decision, preview, "", None), operator=me)

    async def decide(self, request: Request, me: OperatorView) -> Response:
        case_id, decision = request.path_params["case_id"], request.path_params["decision"]
        if decision not in DECISIONS:
            return self.error(request, 404, f"no such decision {decision!r}", me)
        form = await request.form()
        reason = _text(form, "reason", MAX_REASON + 1)
        try:
            preview = await self.domain.preview_decision(case_id, decision)
        except NotFound as exc:
            return self.error(request, 404, str(exc), me)

        def again(problem: str, status_code: int) -> Response:
            return self.render(request, "decide.html", self._decide_context(decision, preview, reason, problem),
                               operator=me, status_code=status_code)

        if _text(form, "expected", 200) != version_token(preview.case):
            return again(f"The case changed since the preview (it is now {preview.case.status}). "
                         "Check the new preview and confirm again.", 409)
        if preview.refused is not None:
            return again(preview.refused, 409)
        try:
            result = await self.domain.decide_case(case_id, decision, reason=reason, actor=me.name)
        except InvalidTransition as exc:
            return again(str(exc), 409)
        except InvalidRequest as exc:
            return again(str(exc), 400)
        request.session["flash"] = (f"Case {DECIDED[decision]}: now {result.case.status}; "
                                    f"{len(result.actions)} action(s) published.")
        return RedirectResponse(f"/cases/{case_id}", status_code=303)

    async def _action_or_404(self, request: Request, me: OperatorView) -> Any:
        try:
            return await self.domain.preview_reversal(request.path_params["action_id"])
        except NotFound as exc:
            return self.error(request, 404, str(exc), me)

    async def reverse_preview(self, request: Request, me: OperatorView) -> Response:
        preview = await self._action_or_404(request, me)
        if isinstance(preview, Response):
            return preview
        return self.render(request, "reverse.html", {"preview": preview, "reason": "", "problem": None},
                           operator=me)

    async def reverse(self, request: Request, me: OperatorView) -> Response:
        preview = await self._action_or_404(request, me)
        if isinstance(preview, Response):
            return preview
        form = await request.form()
        reason = _text(form, "reason", MAX_REASON + 1)

        def again(problem: str, status_code: int) -> Response:
            return self.render(request, "reverse.html", {"preview": preview, "reason": reason, "problem": problem},
                               operator=me, status_code=status_code)

        if _text(form, "expected", 64) != preview.action.status:
            return again(f"The action changed since the preview (it is now {preview.action.status}).", 409)
        if preview.refused is not None:
            return again(preview.refused, 409)
        try:
            restore = await self.domain.reverse_action(preview.action.action_id, reason=reason, actor=me.name)
        except InvalidTransition as exc:
            return again(str(exc), 409)
        except InvalidRequest as exc:
            return again(str(exc), 400)
        request.session["flash"] = (f"Action {preview.action.kind.value} on {preview.action.account_id} reversed; "
                                    f"restore {restore.action_id} published.")
        return RedirectResponse(f"/cases/{preview.action.case_id}", status_code=303)

    async def appeal_form(self, request: Request, me: OperatorView) -> Response:
        preview = await self._action_or_404(request, me)
        if isinstance(preview, Response):
            return preview
        return self.render(request, "appeal.html", {"preview": preview, "reason": "", "problem": None},
                           operator=me)

    async def file_appeal(self, request: Request, me: OperatorView) -> Response:
        preview = await self._action_or_404(request, me)
        if isinstance(preview, Response):
            return preview
        form = await request.form()
        reason = _text(form, "reason", MAX_REASON + 1)
        try:
            appeal = await self.domain.file_appeal(preview.action.action_id, reason=reason, filed_by=me.name)
        except (InvalidTransition, InvalidRequest) as exc:
            return self.render(request, "appeal.html", {"preview": preview, "reason": reason, "problem": str(exc)},
                               operator=me, status_code=409 if isinstance(exc, InvalidTransition) else 400)
        request.session["flash"] = f"Appeal {appeal.appeal_id} filed for {appeal.account_id}."
        return RedirectResponse(f"/cases/{preview.action.case_id}", status_code=303)

    async def _appeal_context(self, request: Request, me: OperatorView) -> dict[str, Any] | Response:
        case_id, appeal_id = request.path_params["case_id"], request.path_params["appeal_id"]
        outcome = request.path_params["outcome"]
        if outcome not in ("uphold", "deny"):
            return self.error(request, 404, f"no such outcome {outcome!r}", me)
        try:
            detail = await self.domain.get_case(case_id)
        except NotFound as exc:
            return self.error(request, 404, str(exc), me)
        appeal = next((a for a in detail.appeals if a.appeal_id == appeal_id), None)
        if appeal is None:
            return self.error(request, 404, f"no appeal {appeal_id!r} in case {case_id}", me)
        preview = await self.domain.preview_reversal(appeal.action_id)
        return {"case": detail.case, "appeal": appeal, "outcome": outcome, "preview": preview}

    async def resolve_preview(self, request: Request, me: OperatorView) -> Response:
        context = await self._appeal_context(request, me)
        if isinstance(context, Response):
            return context
        return self.render(request, "resolve.html", {**context, "reason": "", "problem": None}, operator=me)

    async def resolve(self, request: Request, me: OperatorView) -> Response:
        context = await self._appeal_context(request, me)
        if isinstance(context, Response):
            return context
        form = await request.form()
        reason = _text(form, "reason", MAX_REASON + 1)
        try:
            appeal = await self.domain.resolve_appeal(context["appeal"].appeal_id,
                                                      uphold=context["outcome"] == "uphold", reason=reason,
                                                      actor=me.name)
        except (InvalidTransition, InvalidRequest) as exc:
            return self.render(request, "resolve.html", {**context, "reason": reason, "problem": str(exc)},
                               operator=me, status_code=409 if isinstance(exc, InvalidTransition) else 400)
        request.session["flash"] = f"Appeal {appeal.appeal_id} {appeal.status}."
        return RedirectResponse(f"/cases/{context['case'].case_id}", status_code=303)

    # ================================================================================ search

    async def search(self, request: Request, me: OperatorView) -> Response:
        kind = _text(request.query_params, "kind", 32) or "account_id"
        value = _text(request.query_params, "q", 320)
        problem = None
        found: list[dict[str, Any]] = []
        identifier_verdict = None
        if kind not in SEARCH_KINDS:
            problem, kind = f"unknown identifier kind {kind!r}", "account_id"
        elif value:
            try:
                accounts = await self.domain.find_accounts(kind, value, limit=SEARCH_LIMIT)
            except DomainError as exc:
                problem, accounts = str(exc), []
            for account_id in accounts:
                cases = await self.domain.list_cases(CaseFilter(account_id=account_id), PageRequest(size=20))
                found.append({
                    "account_id": account_id, "verdict": self.domain.check(account_id),
                    "actions": await self.domain.actions_for_account(account_id), "cases": cases.cases,
                })
            if kind != "account_id":
                identifier_verdict = self.domain.check(**{kind: value})
        return self.render(request, "search.html", {
            "kinds": SEARCH_KINDS, "kind": kind, "q": value, "found": found, "problem": problem,
            "identifier_verdict": identifier_verdict, "limit": SEARCH_LIMIT,
        }, operator=me)

    # ================================================================================ policies

    async def policies(self, request: Request, me: OperatorView) -> Response:
        policy = self.domain.policy
        stats = await self.domain.rule_stats()
        empty = {"applied": 0, "proposed": 0, "reversed": 0, "rejected": 0, "shadow": 0}
        rules = [RuleRow(rule, stats.get(rule.name, empty), rule.when.model_dump(mode="json", exclude_defaults=True))
                 for rule in policy.document.rules]
        current = {rule.name for rule in policy.document.rules}
        retired = sorted((name, counts) for name, counts in stats.items() if name not in current)
        shadow_cases = await self.domain.list_cases(CaseFilter(shadow=True), PageRequest(size=20))
        return self.render(request, "policies.html", {
            "policy": policy, "rules": rules, "retired": retired, "shadow_cases": shadow_cases,
            "shadow_rules": [r for r in rules if r.rule.shadow],
            "policy_path": str(self.settings.policy_file or default_policy_path()),
        }, operator=me)

    async def reload_policy(self, request: Request, me: OperatorView) -> Response:
        path = self.settings.policy_file or default_policy_path()
        before = self.domain.policy.version
        problem = await self.domain.reload_policy(path, actor=me.name)
        if problem is not None:
            request.session["flash"] = f"Policy refused; version {before} stays in force: {problem}"
        else:
            request.session["flash"] = f"Policy {self.domain.policy.version} loaded (was {before})."
        return RedirectResponse("/policies", status_code=303)

    # ================================================================================ audit

    async def audit_log(self, request: Request, me: OperatorView) -> Response:
        params = request.query_params
        values = {name: _text(params, name, 200) for name in ("actor", "action", "subject", "since", "until",
                                                               "before")}
        before = int(values["before"]) if values["before"].isdigit() else None
        query = AuditQuery(
            actor=values["actor"] or None, action=values["action"] or None, subject=values["subject"] or None,
            since=_parse_utc(values["since"]), until=_parse_utc(values["until"]), before_id=before,
            limit=AUDIT_PAGE,
        )
        entries = await self.domain.audit_log(query)
        next_qs = None
        if len(entries) == AUDIT_PAGE:
            next_qs = urlencode({k: v for k, v in {**values, "before": str(entries[-1].id)}.items() if v})
        return self.render(request, "audit.html", {"entries": entries, "values": values, "next_qs": next_qs},
                           operator=me)

    # ================================================================================ operators

    async def operators_page(self, request: Request, me: OperatorView, problem: str | None = None,
                             status_code: int = 200, name: str = "", role: str = "viewer") -> Response:
        return self.render(request, "operators.html", {
            "operators": await self.operators.list(), "roles": [r.value for r in OperatorRole],
            "problem": problem, "name": name, "role": role,
        }, operator=me, status_code=status_code)

    async def operators_list(self, request: Request, me: OperatorView) -> Response:
        return await self.operators_page(request, me)

    async def add_operator(self, request: Request, me: OperatorView) -> Response:
        form = await request.form()
        name, role = _text(form, "name", 128), _text(form, "role", 16)
        password = form.get("password")
        try:
            added = await self.operators.add(name, role, password if isinstance(password, str) else "",
                                             actor=me.name)
        except OperatorError as exc:
            return await self.operators_page(request, me, str(exc), 400, name, role)
        request.session["flash"] = f"Operator {added.name} added as {added.role.value}."
        return RedirectResponse("/operators", status_code=303)

    async def set_disabled(self, request: Request, me: OperatorView) -> Response:
        name, change = request.path_params["name"], request.path_params["change"]
        if change not in ("disable", "enable"):
            return self.error(request, 404, f"no such change {change!r}", me)
        if name == me.name and change == "disable":
            return await self.operators_page(request, me, "You cannot disable yourself.", 400)
        form = await request.form()
        try:
            changed = await self.operators.set_disabled(name, change == "disable", actor=me.name,
                                                        reason=_text(form, "reason", 1000))
        except OperatorError as exc:
            return await self.operators_page(request, me, str(exc), 404)
        request.session["flash"] = f"Operator {changed.name} {'disabled' if changed.disabled else 'enabled'}."
        return RedirectResponse("/operators", status_code=303)


def _address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def create_console_app(
    domain: EnforcementDomain,
    operators: OperatorStore,
    *,
    settings: ConsoleSettings,
    extra: ConsoleData | None = None,
    sessions: async_sessionmaker[AsyncSession],
) -> Starlette:
    """The console application. `sessions` is the case store the domain runs on; the console writes its own
    audit rows (sign-ins, sign-outs, refused requests) there. `extra`: cluster graphs, traffic timelines and
    templates from the other services (None: those panels say "not available")."""
    console = Console(domain, operators, settings, extra, ConsoleAudit(sessions))
    viewer, analyst, admin = OperatorRole.VIEWER, OperatorRole.ANALYST, OperatorRole.ADMIN
    routes: Sequence[BaseRoute] = [
        Route("/", console.page(viewer, console.home)),
        Route("/login", console.login_form, methods=["GET"]),
        Route("/login", console.public_action(console.login), methods=["POST"]),
        Route("/logout", console.public_action(console.logout), methods=["POST"]),
        Route("/cases", console.page(viewer, console.queue)),
        Route("/cases/rows", console.page(viewer, console.queue_rows)),
        Route("/cases/{case_id}", console.page(viewer, console.case)),
        Route("/cases/{case_id}/decide/{decision}", console.page(analyst, console.decide_preview), methods=["GET"]),
        Route("/cases/{case_id}/decide/{decision}", console.action(analyst, console.decide), methods=["POST"]),
        Route("/cases/{case_id}/appeals/{appeal_id}/{outcome}", console.page(analyst, console.resolve_preview),
              methods=["GET"]),
        Route("/cases/{case_id}/appeals/{appeal_id}/{outcome}", console.action(analyst, console.resolve),
              methods=["POST"]),
        Route("/actions/{action_id}/reverse", console.page(analyst, console.reverse_preview), methods=["GET"]),
        Route("/actions/{action_id}/reverse", console.action(analyst, console.reverse), methods=["POST"]),
        Route("/actions/{action_id}/appeal", console.page(analyst, console.appeal_form), methods=["GET"]),
        Route("/actions/{action_id}/appeal", console.action(analyst, console.file_appeal), methods=["POST"]),
        Route("/search", console.page(viewer, console.search)),
        Route("/policies", console.page(viewer, console.policies), methods=["GET"]),
        Route("/policies/reload", console.action(admin, console.reload_policy), methods=["POST"]),
        Route("/audit", console.page(viewer, console.audit_log)),
        Route("/operators", console.page(admin, console.operators_list), methods=["GET"]),
        Route("/operators", console.action(admin, console.add_operator), methods=["POST"]),
        Route("/operators/{name}/{change}", console.action(admin, console.set_disabled), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return console.error(request, exc.status_code, str(exc.detail), None, headers=exc.headers)

    return Starlette(
        routes=list(routes),
        middleware=[
            # Outermost first: security headers wrap everything, including the session cookie responses.
            Middleware(SecurityHeaders),
            Middleware(SessionMiddleware, secret_key=settings.signing_key(), session_cookie=settings.cookie_name,
                       max_age=settings.session_idle_s, same_site="strict", https_only=settings.secure_cookies),
        ],
        exception_handlers={HTTPException: http_error},
    )
