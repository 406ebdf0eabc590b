"""A hook called after every iteration of the chained equations, set by the chains' runner.

The runner of the m chains shows progress per iteration when the chains
run in its own process. It sets the hook for the duration of one
``fit_transform`` (:func:`iteration_hook`), in a context variable, so the
imputer is fitted through its public ``fit_transform`` (and its
``set_output`` container applies) and nothing is set on the imputer from
outside.
"""

from __future__ import annotations

import contextlib
import contextvars

__all__ = ["iteration_hook", "current_iteration_hook"]

_HOOK = contextvars.ContextVar("skmice_iteration_hook", default=None)


@contextlib.contextmanager
def iteration_hook(hook):
    """Call ``hook()`` after every iteration of the chained equations run inside.

    Parameters
    ----------
    hook : callable or None
        Called with no argument; None sets no hook.

    Examples
    --------
    >>> from skmice._hooks import current_iteration_hook, iteration_hook
    >>> with iteration_hook(print):
    ...     current_iteration_hook() is print
    True
    >>> current_iteration_hook() is None
    True
    """
    token = _HOOK.set(hook)
    try:
        yield
    finally:
        _HOOK.reset(token)


def current_iteration_hook():
    """The hook set by the innermost :func:`iteration_hook`, or None."""
    return _HOOK.get()
