"""Differences between the supported Python versions, in one place."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

EXCEPTION_GROUP_TYPES: tuple[type[BaseException], ...]
if sys.version_info >= (3, 11):
    EXCEPTION_GROUP_TYPES = (BaseExceptionGroup,)  # noqa: F821 - builtin since 3.11
else:  # pragma: no cover - exercised on Python 3.10 only
    try:  # anyio and trio bring the backport on 3.10; without it no group can be raised.
        import exceptiongroup  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        EXCEPTION_GROUP_TYPES = ()
    else:
        EXCEPTION_GROUP_TYPES = (exceptiongroup.BaseExceptionGroup,)


def group_members(exc: BaseException) -> tuple[BaseException, ...]:
    """Return the members of an exception group, or ``()`` for any other exception."""
    if isinstance(exc, EXCEPTION_GROUP_TYPES):
        return tuple(getattr(exc, "exceptions", ()))
    return ()


_F = TypeVar("_F", bound=Callable[..., Any])

# mark_coroutine_function(func): mark ``func``, a plain function returning a coroutine, as a
# coroutine function. The context layer's ``send`` returns the server's coroutine instead of
# awaiting it (one coroutine frame less per message); marked, it still passes the
# ``iscoroutinefunction()`` checks of code such as asgiref's ``async_to_sync`` (``inspect``'s on
# 3.12+, ``asyncio``'s before).
if sys.version_info >= (3, 12):
    from inspect import markcoroutinefunction as mark_coroutine_function
else:  # pragma: no cover - exercised on Python 3.10 and 3.11 only
    import asyncio.coroutines

    def mark_coroutine_function(func: _F) -> _F:
        func._is_coroutine = asyncio.coroutines._is_coroutine  # type: ignore[attr-defined]
        return func
