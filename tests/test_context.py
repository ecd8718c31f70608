"""context: the ids and bind(), read and written directly (the layers are tested elsewhere)."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from asgi_obs import bind, get_request_id, get_trace_id, request_id_var, trace_id_var
from asgi_obs.context import RequestState, current_state, state_var


def test_outside_a_request_everything_is_none() -> None:
    """Without a request the getters return None and bind() is a no-op returning False."""
    assert get_request_id() is None
    assert get_trace_id() is None
    assert current_state() is None
    assert bind(user_id=1) is False


def test_getters_read_the_variables() -> None:
    """get_request_id()/get_trace_id() return what the variables hold."""
    rid, tid = request_id_var.set("r1"), trace_id_var.set("t" * 32)
    try:
        assert (get_request_id(), get_trace_id()) == ("r1", "t" * 32)
    finally:
        trace_id_var.reset(tid)
        request_id_var.reset(rid)
    assert get_request_id() is None


def test_bind_reaches_the_state_from_a_copied_context() -> None:
    """A child context (threadpool, create_task) shares the state object: its bind() is seen."""
    state = RequestState("r1", "a" * 32, "b" * 16)
    token = state_var.set(state)
    try:
        contextvars.copy_context().run(bind, user_id=7)

        async def child() -> None:
            bind(plan="pro")

        asyncio.run(child())
    finally:
        state_var.reset(token)
    assert state.fields == {"user_id": 7, "plan": "pro"}


@pytest.mark.parametrize("name", ["msg", "args", "levelname", "request_id", "message", "exc_info"])
def test_bind_refuses_reserved_names(name: str) -> None:
    """Names that would clobber LogRecord attributes or the ids are a ValueError."""
    with pytest.raises(ValueError, match=name):
        bind(**{name: 1})


@pytest.mark.parametrize("name", ["_private", "color_message"])
def test_bind_refuses_names_the_output_drops(name: str) -> None:
    """Underscore names and uvicorn's color_message never reach the JSON: refused, not lost."""
    with pytest.raises(ValueError, match=name):
        bind(**{name: 1})
