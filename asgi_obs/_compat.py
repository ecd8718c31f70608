"""Differences between the supported Python versions, in one place."""

from __future__ import annotations

import sys

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
