"""Every 204 route of the API returns nothing, and is answered with no body and no content
type (``idempotency.route.IdempotentRoute`` gives it a plain ``Response``)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from fastapi import APIRouter, Response
from fastapi.routing import APIRoute

import mdm_hub


def _api_routes() -> list[APIRoute]:
    routes: list[APIRoute] = []
    for module in pkgutil.iter_modules(mdm_hub.__path__):
        if not module.ispkg:
            continue
        try:
            feature = importlib.import_module(f"mdm_hub.{module.name}.router")
        except ModuleNotFoundError:
            continue
        router = getattr(feature, "router", None)
        if isinstance(router, APIRouter):
            routes += [r for r in router.routes if isinstance(r, APIRoute)]
    return routes


def test_every_no_content_route_answers_without_a_body() -> None:
    routes = [r for r in _api_routes() if r.status_code == 204]
    assert {(r.path, *sorted(r.methods)) for r in routes} >= {
        ("/v1/custom-fields/{key}", "DELETE"),
        ("/v1/customers/{customer_id}", "DELETE"),
        ("/v1/customers/{customer_id}/registry", "DELETE"),
        ("/v1/customers/{customer_id}/relations/{axis}", "DELETE"),
        ("/v1/webhooks/endpoints/{endpoint_id}", "DELETE"),
    }
    for route in routes:
        assert route.response_class is Response, route.path
        assert inspect.signature(route.endpoint).return_annotation in (None, "None"), route.path
