"""The warnings and exceptions of skmice, besides Python's own (as sklearn.exceptions)."""

from __future__ import annotations

__all__ = ["NumericalError", "WeakIdentificationWarning"]


class NumericalError(ValueError, FloatingPointError):
    """A numerical failure while imputing a column (overflow, non-finite draws).

    It is both a ValueError (bad input for the model, as scikit-learn reports
    data problems) and a FloatingPointError (its numerical nature); the
    message names the column.

    Examples
    --------
    >>> from skmice.exceptions import NumericalError
    >>> issubclass(NumericalError, ValueError), issubclass(NumericalError, FloatingPointError)
    (True, True)
    """


class WeakIdentificationWarning(UserWarning):
    """A model parameter the data hardly identify (e.g. a selection model's rho).

    The imputations are then driven by the prior on that parameter more than
    by the data: treat the result as a sensitivity analysis. Filter it like
    any warning: ``warnings.simplefilter("ignore", WeakIdentificationWarning)``.
    """
