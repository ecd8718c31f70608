"""Django ASGI, configured in code and built with ``get_asgi_application()``, through the shared checks.

Django logs a failure itself on ``django.request`` (``"Internal Server Error: /boom"`` with the
traceback, ``"Service Unavailable: /http503"``) and then sends its 500 outside the ``except``
block: those records are absorbed into the error layer's one record. Django does not put the
resolved route in the ASGI scope, so the access record's ``route`` is ``null``. Django has no
WebSockets of its own (that is Channels).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

pytest.importorskip("django")

import django
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import path

from asgi_obs import get_request_id

from ._checks import *  # noqa: F403 - the shared checks, collected here for this framework
from ._checks import Framework, app_log


async def ok(request: HttpRequest) -> JsonResponse:
    app_log.info("ok", extra={"user_id": 7})
    return JsonResponse({"request_id": get_request_id()})


async def item(request: HttpRequest, id: int) -> JsonResponse:
    return JsonResponse({"id": id})


async def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom")


async def http503(request: HttpRequest) -> HttpResponse:
    return HttpResponse("unavailable", status=503)  # Django has no HTTP exception for a 503


async def _chunks(fail: bool) -> AsyncIterator[bytes]:
    yield b"a"
    if fail:
        raise RuntimeError("stream boom")
    yield b"b"


async def stream(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(_chunks(fail=False))


async def stream_fail(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(_chunks(fail=True))


urlpatterns = [
    path("ok", ok),
    path("items/<int:id>", item),
    path("boom", boom),
    path("http503", http503),
    path("stream", stream),
    path("stream-fail", stream_fail),
]

if not settings.configured:  # once per process: Django's settings cannot be configured twice
    settings.configure(
        DEBUG=False,
        SECRET_KEY="tests-only",
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["*"],
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        LOGGING_CONFIG=None,  # the recipe: Django leaves the logging of init_structured_logging alone
    )
    django.setup()


def build(logs: Any) -> Any:
    from django.core.asgi import get_asgi_application

    return get_asgi_application()


# Django's ASGIHandler does not close the request's body file when sending a streamed response
# fails (its own leak, under any server): collected here, so that it is not reported in
# whichever test the garbage collector happens to run in.
pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(autouse=True)
def _collect_django_leaks() -> Iterator[None]:
    yield
    gc.collect()


@pytest.fixture
def framework() -> Framework:
    from sentry_sdk.integrations.django import DjangoIntegration

    return Framework(
        "django", build, item_route=None, websocket=False, sentry_integrations=lambda: [DjangoIntegration()]
    )
