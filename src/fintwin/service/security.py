"""Who may call what: API key authentication, roles, the authorisation matrix, deny by default.

Assembling an app::

    from fastapi import FastAPI
    from fintwin.service.security import (
        AUTHORISATION_MATRIX, SecurityGuard, install_security, require, security_responses,
    )

    app = FastAPI()

    @app.post("/v1/decisions", responses=security_responses())
    async def decide(event: PaymentEvent, who: Principal = require(Role.SCORER)): ...

    install_security(app, SecurityGuard.from_settings(settings),
                     max_body_bytes=settings.max_body_bytes)

Each protected route declares its roles with :func:`require` (or
``AUTHORISATION_MATRIX.require(method, path)``). At startup :func:`check_routes` compares every
route with the :data:`AUTHORISATION_MATRIX` and refuses to start when a route is missing from it,
declares no roles, or declares other roles: a forgotten ``require`` is a crash at startup, never an
open endpoint.

Answers: 401 with ``WWW-Authenticate: Bearer`` for a missing, malformed, unknown or revoked
key; 429 with ``Retry-After`` (seconds) when the key's token bucket is empty; 403 when the key
is valid but has none of the route's roles. Keys go in ``Authorization: Bearer <key>`` or
``X-API-Key: <key>``; never in the URL (it would end up in access logs).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi import routing as fastapi_routing
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from fintwin.exceptions import AuthorisationConfigError, ParameterError
from fintwin.service.apikeys import ApiKeyStore, Principal, Role, parse_api_key
from fintwin.service.limits import BodySizeLimitMiddleware, RateLimiter
from fintwin.service.schemas import ErrorOut, ValidationErrorOut, validation_error_body

if TYPE_CHECKING:
    from fintwin.service.settings import ServiceSettings

__all__ = [
    "AUTHORISATION_MATRIX",
    "Access",
    "AuthorisationMatrix",
    "Principal",
    "Role",
    "RoleCheck",
    "SecurityGuard",
    "check_routes",
    "install_security",
    "require",
    "security_responses",
]

log = logging.getLogger(__name__)

_PARAM = re.compile(r"\{[^}]*\}")
_WWW_AUTHENTICATE = 'Bearer realm="fintwin"'


def _shape(path: str) -> str:
    """A path with its parameter names erased: ``/v1/decisions/{id}`` -> ``/v1/decisions/{}``."""
    return _PARAM.sub("{}", path)


@dataclass(frozen=True, slots=True)
class Access:
    """Who may call one endpoint.

    ``public`` endpoints need no key (health probes); every other endpoint lists its roles.
    """

    method: str
    path: str
    roles: frozenset[Role]
    public: bool = False
    why: str = ""


class AuthorisationMatrix:
    """Endpoint -> allowed roles, shared by the app (via :func:`check_routes`) and its tests.

    Parameters
    ----------
    entries : iterable of Access
        One per (method, path); path parameters may be named anything.
    """

    def __init__(self, entries: Iterable[Access]) -> None:
        self._entries: dict[tuple[str, str], Access] = {}
        for a in entries:
            key = (a.method.upper(), _shape(a.path))
            if key in self._entries:
                raise ParameterError(f"authorisation matrix lists {a.method} {a.path} twice")
            if a.public == bool(a.roles):
                raise ParameterError(
                    f"authorisation matrix: {a.method} {a.path} must be public or list roles, "
                    "not both nor neither"
                )
            self._entries[key] = a

    def __iter__(self) -> Iterator[Access]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, method: str, path: str) -> Access | None:
        """The entry of an endpoint, or None when the matrix does not list it."""
        return self._entries.get((method.upper(), _shape(path)))

    def allows(self, method: str, path: str, role: Role | None) -> bool:
        """Whether a key with ``role`` (None: no key) may call the endpoint; unlisted: no one."""
        a = self.get(method, path)
        if a is None:
            return False
        return a.public or (role is not None and role in a.roles)

    def require(self, method: str, path: str) -> Any:
        """:func:`require` with the roles the matrix lists for the endpoint."""
        a = self.get(method, path)
        if a is None or a.public:
            raise AuthorisationConfigError(
                f"{method} {path} is {'public' if a else 'not in the authorisation matrix'}"
            )
        return require(*a.roles)

    def as_markdown(self) -> str:
        """The matrix as a Markdown table (one column per role; docs/service.md shows it)."""
        roles = list(Role)
        head = "| endpoint | " + " | ".join(r.value for r in roles) + " | why |"
        rule = "|---|" + "---|" * len(roles) + "---|"
        rows = []
        for a in self:
            cells = ["public" if a.public else ("yes" if r in a.roles else "-") for r in roles]
            rows.append(f"| `{a.method} {a.path}` | " + " | ".join(cells) + f" | {a.why} |")
        return "\n".join([head, rule, *rows])


def _a(method: str, path: str, *roles: Role, why: str) -> Access:
    return Access(method, path, frozenset(roles), public=not roles, why=why)


S, AN, AD, AU = Role.SCORER, Role.ANALYST, Role.ADMIN, Role.AUDITOR

AUTHORISATION_MATRIX = AuthorisationMatrix(
    [
        _a("POST", "/v1/decisions", S, why="the payment system asks"),
        _a("POST", "/v1/decisions/batch", S, why="the payment system asks"),
        _a(
            "GET",
            "/v1/decisions/{id}",
            S,
            AN,
            AU,
            why="caller re-reads after a timeout; analysts and auditors investigate",
        ),
        _a("GET", "/v1/reviews", AN, AU, why="the queue is worked by analysts, read by auditors"),
        _a("POST", "/v1/reviews/{id}", AN, why="only an analyst gives a verdict"),
        _a(
            "POST",
            "/v1/labels",
            S,
            AN,
            why="chargebacks from the payment system; analysts' findings",
        ),
        _a("POST", "/v1/credit/decisions", S, why="the loan origination system asks"),
        _a("GET", "/v1/models", AN, AD, AU, why="which model decided; read-only"),
        _a("POST", "/v1/models/{id}/activate", AD, why="changes every later decision"),
        _a("POST", "/v1/policies", AD, why="changes every later decision"),
        _a("GET", "/metrics", AD, AU, why="operations; give Prometheus an auditor key"),
        _a("GET", "/healthz", why="liveness probe"),
        _a("GET", "/readyz", why="readiness probe"),
    ]
)
"""The endpoints of the decision service and the roles allowed on each. Duties are separated:
an admin (who changes models and policies) cannot decide, review or label; an analyst cannot
change models; an auditor changes nothing."""

del S, AN, AD, AU


class SecurityGuard:
    """Authenticates keys, applies the per-key rate limit and checks roles.

    Parameters
    ----------
    keys : ApiKeyStore
        The keys file.
    limiter : RateLimiter
        Per-key token buckets.
    """

    def __init__(self, keys: ApiKeyStore, limiter: RateLimiter) -> None:
        self.keys = keys
        self.limiter = limiter

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> SecurityGuard:
        """The guard of ``FINTWIN_API_KEYS_FILE`` and ``FINTWIN_RATE_LIMIT_*``."""
        return cls(
            ApiKeyStore(settings.api_keys_file),
            RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
        )

    def authorise(
        self, request: Request, presented: str | None, roles: frozenset[Role]
    ) -> Principal:
        """The principal of a request allowed on a route needing one of ``roles``.

        Raises
        ------
        HTTPException
            401 (no or bad key), 429 (rate limited), 403 (no allowed role).
        """
        principal = getattr(request.state, "principal", None)
        if principal is None:
            if not presented:
                raise HTTPException(
                    401,
                    "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
                    headers={"WWW-Authenticate": _WWW_AUTHENTICATE},
                )
            principal = self.keys.authenticate(presented)
            if principal is None:
                parsed = parse_api_key(presented)
                # the id part is not secret; the rest of the presented value is never logged
                log.warning(
                    "refused API key %s on %s %s",
                    f"id {parsed[0]}" if parsed else "(malformed)",
                    request.method,
                    request.url.path,
                )
                raise HTTPException(
                    401,
                    "invalid API key (unknown, revoked or malformed)",
                    headers={"WWW-Authenticate": _WWW_AUTHENTICATE + ', error="invalid_token"'},
                )
            self.throttle(principal)
            request.state.principal = principal
        if not roles & principal.roles:
            raise HTTPException(
                403,
                f"key {principal.key_id} has role(s) {_names(principal.roles)}; "
                f"{request.method} {request.url.path} needs one of {_names(roles)}",
            )
        return principal

    def throttle(self, principal: Principal) -> None:
        """Take a token from the key's bucket.

        Raises
        ------
        HTTPException
            429 with ``Retry-After`` when the bucket is empty.
        """
        wait = self.limiter.acquire(principal.key_id)
        if wait > 0.0:
            retry = RateLimiter.retry_after(wait)
            raise HTTPException(
                429,
                f"rate limit of key {principal.key_id} exceeded "
                f"({self.limiter.rate:g}/s, burst {self.limiter.burst}); retry in {retry} s",
                headers={"Retry-After": retry},
            )


def _names(roles: Iterable[Role]) -> str:
    return ", ".join(sorted(r.value for r in roles))


_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


class RoleCheck:
    """The dependency :func:`require` returns; :func:`check_routes` finds it by type."""

    def __init__(self, roles: Iterable[Role | str]) -> None:
        self.roles = frozenset(Role(r) for r in roles)
        if not self.roles:
            raise ParameterError("require() needs at least one role")

    def __repr__(self) -> str:
        return f"require({_names(self.roles)})"

    async def __call__(
        self,
        request: Request,
        bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
        api_key: str | None = Depends(_api_key_header),
    ) -> Principal:
        guard = getattr(request.app.state, "fintwin_guard", None)
        if guard is None:  # pragma: no cover - install_security was not called
            raise RuntimeError("install_security(app, guard) was not called")
        presented = bearer.credentials if bearer is not None else api_key
        return guard.authorise(request, presented, self.roles)


def require(*roles: Role | str) -> Any:
    """A FastAPI dependency allowing keys with any of ``roles``; returns the
    :class:`Principal`.

    Use as a parameter default (``who: Principal = require(Role.ANALYST)``) or in a route's
    ``dependencies=[require(...)]``.
    """
    return Depends(RoleCheck(roles))


def _declared_roles(route: APIRoute) -> list[frozenset[Role]]:
    found: list[frozenset[Role]] = []
    stack = [route.dependant]
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, RoleCheck):
            found.append(dep.call.roles)
        stack.extend(dep.dependencies)
    return found


def _api_routes(app: FastAPI) -> Iterator[tuple[str, APIRoute]]:
    """Every API route of the app with its full path, inside included routers too."""
    # FastAPI >= 0.16x keeps included routers as lazy entries of app.routes, which only
    # routing.iter_route_contexts opens; older versions copy their routes into app.routes
    iter_contexts = getattr(fastapi_routing, "iter_route_contexts", None)
    if iter_contexts is None:
        routes = [(getattr(r, "path", ""), r) for r in app.routes]
    else:
        routes = [(c.path or "", c.original_route) for c in iter_contexts(app.routes)]
    for path, route in routes:
        if isinstance(route, APIRoute):
            yield path, route


def check_routes(
    app: FastAPI, matrix: AuthorisationMatrix = AUTHORISATION_MATRIX, *, complete: bool = True
) -> None:
    """Refuse an app whose routes and authorisation matrix disagree (deny by default).

    Every API route must be in the matrix; a public one must declare no roles; any other must
    declare, through :func:`require`, exactly the roles the matrix lists. With ``complete``, every
    matrix entry must also have a route. FastAPI's own documentation routes (``/docs``,
    ``/openapi.json``) are not API routes and stay public.

    Raises
    ------
    AuthorisationConfigError
        Listing every disagreement.
    """
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    for path, route in _api_routes(app):
        declared = _declared_roles(route)
        for method in sorted(route.methods):
            access = matrix.get(method, path)
            where = f"{method} {path}"
            if access is None:
                problems.append(f"{where} is not in the authorisation matrix")
                continue
            seen.add((method, _shape(path)))
            if access.public:
                if declared:
                    problems.append(f"{where} is public in the matrix but requires roles")
            elif not declared:
                problems.append(f"{where} declares no roles (use require(...))")
            elif any(d != access.roles for d in declared):
                problems.append(
                    f"{where} requires {' and '.join(_names(d) for d in declared)}; "
                    f"the matrix says {_names(access.roles)}"
                )
    if complete:
        for a in matrix:
            if (a.method.upper(), _shape(a.path)) not in seen:
                problems.append(f"{a.method} {a.path} is in the matrix but has no route")
    if problems:
        raise AuthorisationConfigError(
            "routes disagree with the authorisation matrix: " + "; ".join(problems)
        )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(validation_error_body(list(exc.errors())), status_code=422)


def install_security(
    app: FastAPI,
    guard: SecurityGuard,
    *,
    max_body_bytes: int = 1 << 20,
    matrix: AuthorisationMatrix = AUTHORISATION_MATRIX,
    complete: bool = True,
) -> None:
    """Wire the security layer into ``app``, before it starts.

    - the guard that :func:`require` uses (``app.state.fintwin_guard``);
    - :class:`~fintwin.service.limits.BodySizeLimitMiddleware` with ``max_bytes``;
    - 422 bodies naming each field, never echoing the input
      (:func:`~fintwin.service.schemas.validation_error_body`);
    - :func:`check_routes` at startup (in the app's lifespan, so routes included after this
      call are checked too): the app refuses to start when a route breaks the matrix.
    """
    app.state.fintwin_guard = guard
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_body_bytes)
    app.add_exception_handler(RequestValidationError, _validation_error)
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        check_routes(app, matrix, complete=complete)
        async with inner(a) as state:
            yield state

    app.router.lifespan_context = lifespan


def security_responses(*, public: bool = False) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route, so its OpenAPI lists what the security layer may answer."""
    out: dict[int | str, dict[str, Any]] = {
        400: {"model": ErrorOut, "description": "Request body cannot be parsed (not UTF-8)"},
        413: {"model": ErrorOut, "description": "Request body too large"},
    }
    if not public:
        out[422] = {"model": ValidationErrorOut, "description": "Invalid request, fields named"}
        out |= {
            401: {"model": ErrorOut, "description": "Missing, unknown or revoked API key"},
            403: {"model": ErrorOut, "description": "The key's roles do not allow this endpoint"},
            429: {
                "model": ErrorOut,
                "description": "Rate limit of the key exceeded",
                "headers": {
                    "Retry-After": {"description": "seconds", "schema": {"type": "integer"}}
                },
            },
        }
    return out
