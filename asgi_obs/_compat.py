"""Differences between the supported Python versions, in one place."""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    EXCEPTION_GROUP_TYPES: tuple[type[BaseException], ...] = (BaseExceptionGroup,)
else:  # pragma: no cover - exercised on Python 3.10 only
    try:  # anyio and trio bring the backport on 3.10; without it no group can be raised.
        from exceptiongroup import BaseExceptionGroup as _Group
    except ImportError:
        EXCEPTION_GROUP_TYPES = ()
    else:
        EXCEPTION_GROUP_TYPES = (_Group,)


def group_members(exc: BaseException) -> tuple[BaseException, ...]:
    """Return the members of an exception group, or ``()`` for any other exception."""
    if EXCEPTION_GROUP_TYPES and isinstance(exc, EXCEPTION_GROUP_TYPES):
        return tuple(exc.exceptions)  # type: ignore[attr-defined]
    return ()
