"""The exceptions skmice raises besides Python's own."""

from __future__ import annotations

__all__ = ["NumericalError"]


class NumericalError(ValueError, FloatingPointError):
    """A numerical failure while imputing a column (overflow, non-finite draws).

    It is both a ValueError (bad input for the model, as scikit-learn reports
    data problems) and a FloatingPointError (its numerical nature); the
    message names the column.

    Examples
    --------
    >>> from skmice._errors import NumericalError
    >>> issubclass(NumericalError, ValueError), issubclass(NumericalError, FloatingPointError)
    (True, True)
    """
