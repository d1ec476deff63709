"""Per-client token authentication and scope checks for the EnforcementService gRPC API.

Clients send `authorization: Bearer <token>` metadata. Billing and auth systems get the `check`
and `report` scopes and may call only CheckAccount and ReportExternalSignal; every other method
needs the `operator` scope, whose client name is recorded as the acting operator. Health and
reflection stay open for probes.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from typing import Any, Final

import grpc

from distillguard.casestore import ClientScope
from enforcement.domain import Client, ClientRegistry

SERVICE: Final = "/distillguard.v1.EnforcementService/"
METHOD_SCOPES: Final[dict[str, ClientScope]] = {
    f"{SERVICE}CheckAccount": ClientScope.CHECK,
    f"{SERVICE}ReportExternalSignal": ClientScope.REPORT,
    f"{SERVICE}ListCases": ClientScope.OPERATOR,
    f"{SERVICE}GetCase": ClientScope.OPERATOR,
    f"{SERVICE}DecideCase": ClientScope.OPERATOR,
    f"{SERVICE}ReverseAction": ClientScope.OPERATOR,
    f"{SERVICE}GetAuditLog": ClientScope.OPERATOR,
}
OPEN_PREFIXES: Final = ("/grpc.health.v1.Health/", "/grpc.reflection.")

#: The authenticated client of the call being served.
current_client: contextvars.ContextVar[Client] = contextvars.ContextVar("current_client")


def _refuse(code: grpc.StatusCode, message: str) -> grpc.RpcMethodHandler[Any, Any]:
    async def refuse(request: object, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        await context.abort(code, message)

    return grpc.unary_unary_rpc_method_handler(refuse)


def _bearer(metadata: tuple[tuple[str, str | bytes], ...] | None) -> str | None:
    for key, value in metadata or ():
        if key.lower() == "authorization" and isinstance(value, str) and value.startswith("Bearer "):
            return value.removeprefix("Bearer ").strip()
    return None


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    def __init__(self, clients: ClientRegistry) -> None:
        self._clients = clients

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        method: str = details.method
        if method.startswith(OPEN_PREFIXES):
            return await continuation(details)
        required = METHOD_SCOPES.get(method)
        if required is None:
            return _refuse(grpc.StatusCode.UNIMPLEMENTED, f"unknown method {method}")
        token = _bearer(details.invocation_metadata)
        if token is None:
            return _refuse(grpc.StatusCode.UNAUTHENTICATED, "missing 'authorization: Bearer <token>' metadata")
        client = await self._clients.authenticate(token)
        if client is None:
            return _refuse(grpc.StatusCode.UNAUTHENTICATED, "unknown or revoked token")
        if not client.allows(required):
            return _refuse(grpc.StatusCode.PERMISSION_DENIED,
                           f"client {client.name!r} lacks the {required.value!r} scope for {method.removeprefix(SERVICE)}")
        handler = await continuation(details)
        return _with_client(handler, client)


def _with_client(handler: grpc.RpcMethodHandler[Any, Any], client: Client) -> grpc.RpcMethodHandler[Any, Any]:
    """Run the unary handler with `current_client` set (the interceptor's context is not the call's)."""
    inner = handler.unary_unary
    if inner is None:  # pragma: no cover - the service has unary methods only
        return handler

    async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        current_client.set(client)
        return await inner(request, context)  # type: ignore[arg-type]

    return grpc.unary_unary_rpc_method_handler(
        call, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
    )
