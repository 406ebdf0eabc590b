"""The relative covariance factor and its parameter vector theta (lme4's parametrisation).

The random effects of a cluster are ``b_j = T u_j`` with ``u_j ~ N(0, sigma^2 I)``,
so their covariance is ``sigma^2 T T'``. ``T`` is lower triangular; with
several random parts over one grouping factor (or ``||``) it is
block-diagonal, one block per part. ``theta`` lists the free entries of
``T`` block by block, each block's lower triangle column by column (the
order of lme4's ``getME(fit, "theta")``). The diagonal entries are bounded
below by 0 (Bates et al., 2015, section 3.1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ThetaLayout"]


@dataclass(frozen=True)
class ThetaLayout:
    """Where the entries of theta sit in the q x q factor ``T``.

    Parameters
    ----------
    blocks : tuple of int
        Sizes of the diagonal blocks of ``T``.

    Attributes
    ----------
    q : int
        Order of ``T``.
    rows, cols : ndarray of int
        Position of each theta entry in ``T``.
    diagonal : ndarray of bool
        Which entries are on the diagonal (bounded below by 0).

    Examples
    --------
    >>> from skmice.mixed import ThetaLayout
    >>> layout = ThetaLayout((2,))
    >>> layout.rows.tolist(), layout.cols.tolist(), layout.start().tolist()
    ([0, 1, 1], [0, 0, 1], [1.0, 0.0, 1.0])
    >>> layout.factor([2.0, 0.5, 1.0])
    array([[2. , 0. ],
           [0.5, 1. ]])
    """

    blocks: tuple

    def __post_init__(self):
        rows, cols = [], []
        offset = 0
        for size in self.blocks:
            for c in range(size):
                for r in range(c, size):
                    rows.append(offset + r)
                    cols.append(offset + c)
            offset += size
        object.__setattr__(self, "rows", np.array(rows, dtype=np.intp))
        object.__setattr__(self, "cols", np.array(cols, dtype=np.intp))
        object.__setattr__(self, "diagonal", self.rows == self.cols)
        object.__setattr__(self, "q", int(offset))

    @property
    def size(self) -> int:
        """Number of entries of theta."""
        return self.rows.shape[0]

    def start(self) -> np.ndarray:
        """lme4's starting value: ``T`` the identity."""
        return self.diagonal.astype(np.float64)

    def bounds(self) -> list:
        """Bounds for :func:`scipy.optimize.minimize`: ``(0, None)`` on the diagonal."""
        return [(0.0, None) if d else (None, None) for d in self.diagonal]

    def factor(self, theta) -> np.ndarray:
        """The q x q lower-triangular factor ``T`` of ``theta``."""
        T = np.zeros((self.q, self.q))
        T[self.rows, self.cols] = theta
        return T

    def gradient(self, dT: np.ndarray) -> np.ndarray:
        """The derivative with respect to theta from the derivative with respect to ``T``."""
        return dT[self.rows, self.cols]
