"""Models and policies: ``GET /v1/models``, ``POST /v1/models/{model_id}/activate``,
``POST /v1/policies``.

An activation or policy change is checked before it is recorded (the model loads, its
SHA-256 digests match, the service can compute its features; the policy compiles and uses only
the model's features), then recorded in the store, chained into the audit ledger and served at
once by this worker; other workers follow within ``FINTWIN_CONFIG_POLL_S`` seconds
(:mod:`fintwin.service.runtime`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from fintwin.exceptions import (
    ModelNotFoundError,
    ModelRegistryError,
    ParameterError,
    PolicyError,
    ServiceConfigError,
    StoreUnavailableError,
)
from fintwin.service.apikeys import Principal
from fintwin.service.routers._common import (
    UNAVAILABLE_RESPONSE,
    IdempotencyKey,
    actor,
    invalid,
    replayed_header,
    unavailable,
)
from fintwin.service.runtime import ServiceRuntime, get_runtime
from fintwin.service.schemas import ErrorOut, _Strict
from fintwin.service.security import AUTHORISATION_MATRIX, security_responses
from fintwin.store.decisions import ModelActivation, PolicyChange

__all__ = ["ActivationIn", "ModelOut", "ModelsOut", "PolicyIn", "router"]

router = APIRouter(tags=["models"])

_MAY_LIST = AUTHORISATION_MATRIX.require("GET", "/v1/models")
_MAY_ACTIVATE = AUTHORISATION_MATRIX.require("POST", "/v1/models/{id}/activate")
_MAY_CHANGE_POLICY = AUTHORISATION_MATRIX.require("POST", "/v1/policies")

MAX_POLICY_CHARS = 200_000
_NOTE = Field(default="", max_length=2000, description="Why (kept in the audit ledger).")


class ModelOut(BaseModel):
    model_id: str
    name: str
    version: int
    registered_at: str
    digest: str = Field(description="SHA-256 of the model's manifest: the exact artefact.")
    active: bool


class ModelsOut(BaseModel):
    models: list[ModelOut]
    active_model_id: str | None
    serving_model_id: str = Field(description="The model this worker decides with now.")
    policy_hash: str = Field(description="Content hash of the policy this worker decides with.")


class ActivationIn(_Strict):
    note: str = _NOTE


class PolicyIn(_Strict):
    policy_yaml: str = Field(
        min_length=1, max_length=MAX_POLICY_CHARS, description="The policy, as YAML text."
    )
    model_id: str | None = Field(
        default=None, max_length=200, description="The model it decides with; null: the active."
    )
    note: str = _NOTE


def _refused(exc: Exception, field: tuple[str, str]) -> Exception:
    """The answer to a refused activation or policy; ``field`` is what a 422 is about."""
    if isinstance(exc, ModelNotFoundError):
        return HTTPException(404, str(exc))
    if isinstance(exc, PolicyError | ParameterError):
        return invalid(*field, str(exc))
    if isinstance(exc, StoreUnavailableError):
        return unavailable("decision store", exc)
    return HTTPException(409, str(exc))  # registry corrupt, model not servable


_REFUSALS = (
    ModelRegistryError,
    PolicyError,
    ParameterError,
    ServiceConfigError,
    StoreUnavailableError,
)


@router.get(
    "/v1/models",
    response_model=ModelsOut,
    responses={**security_responses(), **UNAVAILABLE_RESPONSE},
    summary="Registered models and the one in force",
)
def list_models(
    rt: Annotated[ServiceRuntime, Depends(get_runtime)],
    who: Annotated[Principal, _MAY_LIST],
) -> Any:
    """Every model of the registry, newest version last, and which one decides."""
    try:
        active = rt.store.active_model()
    except StoreUnavailableError as exc:
        raise unavailable("decision store", exc) from None
    active_id = None if active is None else active.model_id
    decider = rt.decider
    return ModelsOut(
        models=[
            ModelOut(
                model_id=v.model_id,
                name=v.name,
                version=v.version,
                registered_at=v.registered_at.isoformat(),
                digest=v.digest,
                active=v.model_id == active_id,
            )
            for v in rt.registry.list()
        ],
        active_model_id=active_id,
        serving_model_id=decider.model_id,
        policy_hash=decider.policy.content_hash,
    )


@router.post(
    "/v1/models/{model_id:path}/activate",
    responses={
        **security_responses(),
        404: {"model": ErrorOut, "description": "No such model in the registry"},
        409: {"model": ErrorOut, "description": "The model cannot be served"},
        **UNAVAILABLE_RESPONSE,
    },
    summary="Put a registered model into service",
)
def activate_model(
    model_id: Annotated[str, PathParam(min_length=1, max_length=200)],
    body: ActivationIn,
    rt: Annotated[ServiceRuntime, Depends(get_runtime)],
    who: Annotated[Principal, _MAY_ACTIVATE],
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Activate ``model_id`` (e.g. ``fraud-handbook/2``) for every later decision."""
    try:
        activation = ModelActivation(
            model_id,
            activated_by=actor(who),
            note=body.note,
            **({"activation_id": idempotency_key} if idempotency_key else {}),
        )
        stored, created = rt.activate(activation)
    except _REFUSALS as exc:
        raise _refused(exc, ("path", "model_id")) from None
    return JSONResponse(
        {**stored.to_json(), "policy_hash": rt.decider.policy.content_hash},
        headers=replayed_header(not created),
    )


@router.post(
    "/v1/policies",
    responses={
        **security_responses(),
        404: {"model": ErrorOut, "description": "No such model in the registry"},
        409: {"model": ErrorOut, "description": "The model cannot be served"},
        **UNAVAILABLE_RESPONSE,
    },
    summary="Upload the decision policy of a model",
)
def change_policy(
    body: PolicyIn,
    rt: Annotated[ServiceRuntime, Depends(get_runtime)],
    who: Annotated[Principal, _MAY_CHANGE_POLICY],
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Check a policy against the model's features, record it and put it in force."""
    try:
        model = rt.model(body.model_id or rt.decider.model_id)
        policy = rt.check_policy(model, body.policy_yaml)
        change = PolicyChange(
            model_id=model.model_id,
            policy_hash=policy.content_hash,
            policy_yaml=body.policy_yaml,
            changed_by=actor(who),
            note=body.note,
            **({"change_id": idempotency_key} if idempotency_key else {}),
        )
        stored, created = rt.change_policy(change, model, policy)
    except _REFUSALS as exc:
        raise _refused(exc, ("body", "policy_yaml")) from None
    out = {k: v for k, v in stored.to_json().items() if k != "policy_yaml"}
    out["in_force"] = rt.decider.model_id == stored.model_id and (
        rt.decider.policy.content_hash == stored.policy_hash
    )
    return JSONResponse(out, headers=replayed_header(not created))
