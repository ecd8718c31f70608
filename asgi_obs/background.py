"""Carrying a request's ids and ``bind()`` fields into work that outlives it or runs elsewhere.

Context variables follow a request into the threadpool, task groups and ``asyncio.create_task``
children, but not into a ``ThreadPoolExecutor`` job, a thread of one's own, or a job queue's
worker; and a child that does inherit them shares the request's state, so its ``bind()`` calls
land on the request. :func:`capture_context` takes a :class:`ContextSnapshot` during the
request; the job activates it where it runs::

    snapshot = capture_context()
    executor.submit(snapshot.run, send_email, user_id)         # another thread
    queue.put(json.dumps(snapshot.to_dict()))                   # another process
    ContextSnapshot.from_dict(json.loads(item)).run(handle, item)  # ... in the worker
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from contextvars import Token
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from ._json import render_value, stringify
from .context import RequestState, request_id_var, state_var, trace_id_var
from .fields import RESERVED_FIELDS
from .ids import valid_request_id, valid_trace_id

__all__ = ["ContextSnapshot", "capture_context"]

P = ParamSpec("P")
R = TypeVar("R")


class ContextSnapshot:
    """A request's ``request_id``, ``trace_id`` and bound fields, frozen for background work.

    Made by :func:`capture_context` (or :meth:`from_dict` in another process). The fields are
    copied when the snapshot is taken: ``bind()`` calls the request makes later are not in it.
    Every activation works on its own copy, so ``bind()`` inside a job never reaches the
    request or another job. A snapshot taken outside a request is *empty*: falsy, and
    activating it changes nothing.
    """

    __slots__ = ("_fields", "_id_header", "_request_id", "_sampled", "_trace_id")

    def __init__(self) -> None:
        """An empty snapshot (see :func:`capture_context` and :meth:`from_dict`)."""
        self._request_id: str | None = None
        self._trace_id: str | None = None
        self._fields: dict[str, Any] = {}
        self._sampled: bool | None = None
        self._id_header = "X-Request-ID"

    @classmethod
    def _of(
        cls, request_id: str, trace_id: str, fields: dict[str, Any], sampled: bool | None
    ) -> ContextSnapshot:
        snapshot = cls()
        snapshot._request_id, snapshot._trace_id = request_id, trace_id
        snapshot._fields, snapshot._sampled = fields, sampled
        return snapshot

    @property
    def request_id(self) -> str | None:
        """The captured request id; ``None`` for an empty snapshot."""
        return self._request_id

    @property
    def trace_id(self) -> str | None:
        """The captured trace id; ``None`` for an empty snapshot."""
        return self._trace_id

    @property
    def fields(self) -> dict[str, Any]:
        """A copy of the captured ``bind()`` fields."""
        return dict(self._fields)

    def __bool__(self) -> bool:
        return self._request_id is not None

    def __repr__(self) -> str:
        return f"ContextSnapshot(request_id={self._request_id!r}, trace_id={self._trace_id!r})"

    def activate(self) -> _Activation:
        """Return a context manager that makes the snapshot current while its block runs.

        On entry it sets :data:`~asgi_obs.request_id_var`, :data:`~asgi_obs.trace_id_var` and a
        fresh :class:`~asgi_obs.RequestState` with the same ids and a copy of the fields (so log
        lines, ``get_request_id()``, ``bind()`` and ``outgoing_headers()`` work as in the
        request); on exit it resets all three with their tokens, restoring whatever was current
        before. Enter it in the thread or task that runs the job (context variables are per
        thread and per task). An empty snapshot sets nothing.
        """
        return _Activation(self)

    def run(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``fn(*args, **kwargs)`` with the snapshot active, when the job runs, and return
        its result; e.g. ``executor.submit(snapshot.run, fn, arg)``.

        For a coroutine, use ``with snapshot.activate():`` inside it instead: ``run`` only
        covers the call that creates the coroutine, so it refuses one (``TypeError``).
        """
        with _Activation(self):
            result = fn(*args, **kwargs)
        if inspect.iscoroutine(result):
            result.close()  # never awaited: closed here rather than warned about later
            raise TypeError(
                "ContextSnapshot.run() got a coroutine: use `with snapshot.activate():` inside it"
            )
        return result

    def to_dict(self) -> dict[str, Any]:
        """Return the snapshot as a JSON-serialisable dict, for a job queue's message.

        ``{"request_id": ..., "trace_id": ..., "fields": {...}}`` plus ``"sampled"`` when the
        request's trace carried a sampling decision; ``{}`` for an empty snapshot. Field values
        JSON cannot encode become text, as on log lines (ISO 8601 for dates, ``str()``
        otherwise). The request-id header name used by ``outgoing_headers()`` is not carried:
        the worker announces ``X-Request-ID``.
        """
        if self._request_id is None:
            return {}
        try:
            fields = json.loads(json.dumps(self._fields, default=render_value, allow_nan=False))
        except (TypeError, ValueError, RecursionError):  # NaN, a cycle, a non-str nested key
            fields = stringify(self._fields)
        data: dict[str, Any] = {"request_id": self._request_id, "trace_id": self._trace_id, "fields": fields}
        if self._sampled is not None:
            data["sampled"] = self._sampled
        return data

    @classmethod
    def from_dict(cls, data: Any, *, validator: Callable[[str], bool] | None = None) -> ContextSnapshot:
        """Rebuild a snapshot from :meth:`to_dict`'s output, when a worker picks up a job.

        Checked on the way in, as incoming headers are: ``request_id`` by ``validator``
        (default: the rule of :class:`~asgi_obs.RequestContextMiddleware`, 1-128 characters of
        ``[A-Za-z0-9._:@/+=-]``), ``trace_id`` 32 lowercase hex digits, not all zeros,
        ``sampled`` a bool when present, field names as :func:`~asgi_obs.bind` accepts them.
        ``{}`` (and a dict without ids or fields) gives an empty snapshot; unknown keys are
        ignored. Anything else malformed raises ``ValueError`` naming the key (never quoting a
        rejected id): a broken message fails loudly instead of logging under made-up ids.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"ContextSnapshot.from_dict(): expected a mapping, got {type(data).__name__}")
        request_id, trace_id = data.get("request_id"), data.get("trace_id")
        fields, sampled = data.get("fields"), data.get("sampled")
        if request_id is None and trace_id is None:
            if fields or sampled is not None:
                raise ValueError(
                    "ContextSnapshot.from_dict(): 'fields'/'sampled' without 'request_id' and 'trace_id'"
                )
            return cls()
        check = validator or valid_request_id
        if not isinstance(request_id, str) or not check(request_id):
            raise ValueError("ContextSnapshot.from_dict(): 'request_id' is missing or not a valid request id")
        if not isinstance(trace_id, str) or not valid_trace_id(trace_id):
            raise ValueError(
                "ContextSnapshot.from_dict(): 'trace_id' is missing or not 32 lowercase hex digits"
            )
        if sampled is not None and not isinstance(sampled, bool):
            raise ValueError("ContextSnapshot.from_dict(): 'sampled' must be true, false or absent")
        if fields is None:
            fields = {}
        if not isinstance(fields, Mapping):
            raise ValueError("ContextSnapshot.from_dict(): 'fields' must be a mapping")
        if not all(isinstance(name, str) for name in fields):
            raise ValueError("ContextSnapshot.from_dict(): 'fields' names must be strings")
        clashing = RESERVED_FIELDS.intersection(fields) | {name for name in fields if name.startswith("_")}
        if clashing:
            raise ValueError(
                f"ContextSnapshot.from_dict(): reserved field name(s) in 'fields': {sorted(clashing)}"
            )
        return cls._of(request_id, trace_id, dict(fields), sampled)


class _Activation:
    """The context manager :meth:`ContextSnapshot.activate` returns (one use at a time)."""

    __slots__ = ("_snapshot", "_tokens")

    def __init__(self, snapshot: ContextSnapshot) -> None:
        self._snapshot = snapshot
        self._tokens: tuple[Token[str | None], Token[str | None], Token[RequestState | None]] | None = None

    def __enter__(self) -> None:
        if self._tokens is not None:
            raise RuntimeError("this activation is already active: call snapshot.activate() again")
        snapshot = self._snapshot
        request_id, trace_id = snapshot._request_id, snapshot._trace_id
        if request_id is None or trace_id is None:
            return
        state = RequestState(request_id, trace_id, sampled=snapshot._sampled)
        state.fields.update(snapshot._fields)
        state.id_header = snapshot._id_header
        self._tokens = (request_id_var.set(request_id), trace_id_var.set(trace_id), state_var.set(state))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        tokens, self._tokens = self._tokens, None
        if tokens is not None:
            state_var.reset(tokens[2])
            trace_id_var.reset(tokens[1])
            request_id_var.reset(tokens[0])


def capture_context() -> ContextSnapshot:
    """Capture the current request's ids and bound fields, when handing work to the background.

    Call it inside the request (or inside an activated snapshot), where the work is handed
    over; activate the result where the work runs. Outside a request it returns an empty
    snapshot.
    """
    state = state_var.get()
    if state is None:
        return ContextSnapshot()
    snapshot = ContextSnapshot._of(state.request_id, state.trace_id, dict(state.fields), state.sampled)
    snapshot._id_header = state.id_header
    return snapshot
