"""Exact Polya-Gamma ``PG(1, c)`` draws (Devroye's alternating-series sampler).

``omega ~ PG(1, c)`` is drawn as ``X / 4`` with ``X ~ J*(1, z)``, ``z = |c| / 2``
(Polson, Scott and Windle 2013). The density of ``J*(1, z)`` is
``f(x) = cosh(z) exp(-z^2 x / 2) sum_n (-1)^n a_n(x)``, where the terms
``a_n`` have two closed forms, one used on ``x < t`` and one on ``x > t``;
for ``log(3) / pi^2 < t < 4 / log(3)`` both series alternate with
decreasing terms on their side of ``t`` (Devroye 2009), so their partial
sums bracket the density and a proposal from an envelope
``G >= cosh(z) exp(-z^2 x / 2) a_0(x)`` is accepted or rejected exactly after
a few terms. The ratios of the terms, ``a_n / a_0 = (2n + 1) exp(-n (n + 1)
pi^2 x / 2)`` for ``x > t`` and ``(2n + 1) exp(-2 n (n + 1) / x)`` for
``x < t``, make the first test one exponential per draw.

Two envelopes are used, both exact:

* ``z < 3`` (the common case: ``|c| < 6``), with ``t = 0.3``: on ``x > t`` the
  exponential ``exp(-(pi^2/8 + z^2/2) x)`` (times a constant); on ``x < t``,
  in the variable ``v = x^(-1/2) > 1/sqrt(t)`` where that piece is
  ``exp(h(v))``, ``h(v) = -v^2/2 - z^2/(2 v^2)`` (times a constant), the
  tangent of the concave ``h`` at ``v0 = 2.3``, an exponential too. Both
  pieces are then drawn from one exponential variate, their masses are
  elementary functions of ``z``, and the tangent's excess ``exp(-(tangent -
  h))`` enters the acceptance test: every step is a whole-array pass. The
  acceptance rate is above 0.95 for ``z < 1.5`` and above 0.87 below 3.
* ``z >= 3``: Devroye's envelope with Windle's ``t = 0.64`` (acceptance
  rate above 0.999): the exponential piece and an inverse-Gaussian ``IG(1/z,
  1)`` truncated to ``(0, t)``, chosen with their exact probabilities.

Rejected draws are redrawn with several candidates per pending element at
once, so the loops run over a handful of rounds. The draws are exact (up
to floating-point rounding), not approximate.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr

from .._random import as_generator

__all__ = ["random_polyagamma"]

_PI2 = np.pi**2
_K0 = _PI2 / 8  # K(z) = pi^2 / 8 + z^2 / 2, the rate of the exponential piece
_MAX_SERIES_TERMS = 200  # the series decides after 1 or 2 terms in practice
_MAX_REPLICATES = 64  # candidates per pending element in a redraw round
_ROUND_SIZE = 512  # at least this many candidates in a redraw round

# --- envelope for z < _TANGENT_ZMAX: exponential piece and tangent-exponential piece
_TANGENT_ZMAX = 3.0
_T = 0.3  # switch point of the two pieces
_A = 1.0 / np.sqrt(_T)  # the piece x < t is v > _A
_V0 = 2.3  # tangent point of h(v) = -v^2/2 - z^2/(2 v^2)
_V0_INV3 = 1.0 / _V0**3
_C1 = 0.5 / _V0**2
# mass of the tangent piece over that of the exponential piece:
# exp(_LOG_RATIO + _RATIO_SLOPE z^2) K(z) / lam(z), lam(z) = _V0 - z^2 / _V0^3
_LOG_RATIO = (
    np.log(4.0 * np.sqrt(2.0 / np.pi) / np.pi) - 0.5 * _V0**2 + _V0 * (_V0 - _A) + _K0 * _T
)
_RATIO_SLOPE = 0.5 * _T - (_C1 + (_V0 - _A) * _V0_INV3)

# --- Devroye's envelope for z >= _TANGENT_ZMAX
_TRUNC = 0.64  # Windle's switch point


def _texpon_mass(z):
    """Exact probability of the exponential piece of Devroye's envelope (``t = 0.64``).

    ``p / (p + q)`` with ``p = (pi / 2K) exp(-K t)`` and ``q = 2 exp(-z)
    P(IG(1/z, 1) < t)`` (``K = pi^2/8 + z^2/2``), on the log scale for range.
    """
    t = _TRUNC
    z = np.minimum(z, 100.0)  # the mass underflows to 0 from z = 50 on
    fz = _K0 + 0.5 * z * z
    rt = np.sqrt(1.0 / t)
    b = rt * (t * z - 1)
    a = -rt * (t * z + 1)
    x0 = np.log(fz) + fz * t
    xb = x0 - z + log_ndtr(b)
    xa = x0 + z + log_ndtr(a)
    with np.errstate(over="ignore"):  # exp overflows to inf for large z: the mass is then 0
        return 1.0 / (1.0 + 4 / np.pi * (np.exp(xb) + np.exp(xa)))


def _first_of(x, ok):
    """First accepted of ``R`` candidates per element: ``x``, ``ok`` of shape (R, m)."""
    if x.shape[0] == 1:
        return x[0], ok[0]
    first = ok.argmax(axis=0)
    return x[first, np.arange(x.shape[1])], ok.any(axis=0)


def _replicates(k: int, least: int = 2) -> int:
    """Candidates per element in a round over ``k`` elements (at least ``least``).

    Rounds over few elements draw enough candidates (``_ROUND_SIZE`` in all)
    that they nearly always end the loop: the cost of a round is then its
    fixed overhead, not the candidates.
    """
    return min(_MAX_REPLICATES, max(least, -(-_ROUND_SIZE // max(k, 1))))


def _rejection(candidates, z, rng):
    """Exact rejection sampling with several candidates per pending element per round.

    ``candidates(z, reps, rng)`` draws ``reps`` independent candidates for every
    element of the 1-d ``z`` and returns ``(x, accepted)`` of shape ``(reps,
    z.size)``. Returns one draw per element: the first accepted of its
    independent candidates, which is distributed as the result of a plain
    rejection loop. The elements left without an accepted candidate get
    more candidates per element in the next round.
    """
    x, ok = _first_of(*candidates(z, _replicates(z.size, 1), rng))
    todo = np.flatnonzero(~ok)
    while todo.size:
        xr, okr = _first_of(*candidates(z[todo], _replicates(todo.size), rng))
        x[todo[okr]] = xr[okr]
        todo = todo[~okr]
    return x


def _series_undecided(x, u, s, right, accepted, undecided, n0):
    """Continue the alternating series from term ``n0`` for the ``undecided`` draws.

    ``u`` is the uniform of the test (divided by any extra acceptance factor
    of the proposal), ``s`` the partial sum ``S_{n0 - 1} / a_0``, ``right``
    whether ``x`` lies on the piece above the switch point; the indices
    ``undecided`` are those not decided by the terms before ``n0``. Sets
    ``accepted`` in place.
    """
    und = undecided
    xs, us, ss, rs = x[und], u[und], s[und], right[und]
    alive = np.ones(und.size, dtype=bool)
    # a_n / a_0 = (2n + 1) exp(-n (n + 1) f) with f = pi^2 x / 2 (right) or 2 / x (left)
    f = np.where(rs, 0.5 * _PI2 * xs, 2.0 / xs)
    for n in range(n0, _MAX_SERIES_TERMS + 1):
        a = np.flatnonzero(alive)
        if a.size == 0:
            break
        term = (2 * n + 1) * np.exp(-n * (n + 1) * f[a])
        if n % 2:
            ss[a] -= term
            acc = a[us[a] <= ss[a]]
            accepted[und[acc]] = True
            alive[acc] = False
        else:
            ss[a] += term
            alive[a[us[a] > ss[a]]] = False  # rejected


def _series_test(x, u, r1, right):
    """Accept/reject ``x`` by the alternating series: ``u <= S_n / a_0`` decides.

    ``r1`` is ``a_1 / (3 a_0)``, overwritten. Terms 1 and 2 (``a_2 / a_0 = 5
    r1^3``, on both pieces) are evaluated for all draws; the rare draws they
    leave undecided go on with the later terms.
    """
    s1 = r1 * -3.0
    s1 += 1.0  # S_1 / a_0
    accepted = u <= s1
    if not accepted.all():
        s2 = r1 * r1
        s2 *= r1
        s2 *= 5.0
        s2 += s1  # S_2 / a_0
        undecided = np.flatnonzero(~accepted & (u <= s2))
        if undecided.size:
            _series_undecided(x, u, s2, right, accepted, undecided, 3)
    return accepted


def _candidates_tangent(z, rng):
    """One proposal and its decision per element, for ``z < 3`` (module docstring).

    Returns ``(x, accepted)``; ``x`` is the ``J*(1, z)`` candidate.
    """
    n = z.size
    z2 = z * z
    k = z2 * 0.5
    k += _K0  # rate of the exponential piece
    lam = z2 * -_V0_INV3
    lam += _V0  # rate of the tangent piece, -h'(v0)
    ratio = z2 * _RATIO_SLOPE
    ratio += _LOG_RATIO
    np.exp(ratio, out=ratio)
    ratio *= k
    ratio /= lam  # mass of the tangent piece / mass of the exponential piece
    u = rng.random((3, n))
    # exponential piece with probability 1 / (1 + ratio)
    w = np.subtract(1.0, u[0])
    ratio *= u[0]
    right = ratio < w
    # one exponential variate -log(1 - u) per element drives either piece
    e = np.subtract(1.0, u[2], out=u[2])
    np.log(e, out=e)  # -E
    x_right = e / k
    np.subtract(_T, x_right, out=x_right)  # t + E / K
    v = e / lam
    np.subtract(_A, v, out=v)  # a + E / lam
    v2 = v * v
    x = np.where(right, x_right, np.divide(1.0, v2))
    # first test: u <= exp(-gap) (1 - a_1 / a_0), the gap tangent - h being 0
    # on the exponential piece; a_1 / a_0 = 3 exp(-pi^2 x) or 3 exp(-4 / x)
    g = np.where(right, x_right, v2 * (4.0 / _PI2))
    g *= -_PI2
    np.exp(g, out=g)  # a_1 / (3 a_0)
    # gap = d^2 / 2 + z^2 (1 / (2 v^2) - 1 / (2 v0^2) + d / v0^3), d = v - v0
    d = v - _V0
    gap = d * _V0_INV3
    gap += 0.5 * x
    gap -= _C1
    gap *= z2
    d *= d
    d *= 0.5
    gap += d
    gap *= ~right  # no gap on the exponential piece
    np.exp(gap, out=gap)
    gap *= u[1]  # the uniform over the proposal's acceptance factor
    return x, _series_test(x, gap, g, right)


def _tig_ig(z, reps, rng):
    """Candidates ``IG(1/z, 1)`` (Michael, Schucany and Haas), accepted below ``t = 0.64``."""
    shape = (reps, z.size)
    mu = 1.0 / z
    y = rng.standard_normal(shape)
    mu_y = mu * (y * y)
    x = mu + 0.5 * mu * mu_y - 0.5 * mu * np.sqrt(4 * mu_y + mu_y * mu_y)
    flip = rng.random(shape) * (mu + x) > mu
    x = np.where(flip, mu * mu / x, x)
    return x, x < _TRUNC


def _candidates_devroye(z, rng):
    """One proposal and its decision per element, for ``z >= 3``: Devroye's envelope.

    The exponential piece ``t + E / K`` or, with the exact complementary
    probability, ``IG(1/z, 1)`` truncated to ``(0, t)`` (``t = 0.64``).
    """
    n = z.size
    u = rng.random((2, n))
    right = u[0] < _texpon_mass(z)
    x = _TRUNC + rng.standard_exponential(n) / (_K0 + 0.5 * z * z)
    left = np.flatnonzero(~right)
    if left.size:
        x[left] = _rejection(_tig_ig, z[left], rng)
    return x, _series_test(x, u[1], np.exp(np.where(right, -_PI2 * x, -4.0 / x)), right)


def _pg_candidates(z, reps, rng):
    """``reps`` proposals per element of ``z`` and their accept/reject decisions.

    Returns ``(x, accepted)`` of shape ``(reps, z.size)``; ``x`` is the
    ``J*(1, z)`` candidate (``PG = x / 4``).
    """
    if reps > 1:
        z = np.tile(z, reps)
    small = z < _TANGENT_ZMAX
    if small.all():
        x, accepted = _candidates_tangent(z, rng)
    else:
        x = np.empty_like(z)
        accepted = np.empty(z.shape, dtype=bool)
        for idx, draw in (
            (np.flatnonzero(small), _candidates_tangent),
            (np.flatnonzero(~small), _candidates_devroye),
        ):
            if idx.size:
                x[idx], accepted[idx] = draw(z[idx], rng)
    return x.reshape(reps, -1), accepted.reshape(reps, -1)


def random_polyagamma(c, random_state) -> np.ndarray:
    """Exact draws from the Polya-Gamma distribution ``PG(1, c)``.

    Devroye's alternating-series rejection sampler (Polson, Scott and
    Windle 2013): a two-piece envelope of the density, a proposal from it,
    accepted by evaluating the alternating series of the density until its
    partial sums decide (almost always at the first term). For ``|c| < 6``
    the envelope's piece below the switch point is a tangent exponential
    instead of a truncated inverse Gaussian, so that both pieces are drawn
    from one exponential variate with elementary mixture weights (see
    :mod:`skmice.methods._polyagamma`). Vectorised: the common path is a few
    dozen whole-array passes, and the few rejected elements are redrawn in
    a handful of vectorised rounds.

    Parameters
    ----------
    c : array-like
        Tilting parameters (any real values; ``PG(1, c) = PG(1, -c)``).
    random_state : numpy.random.Generator or int
        Source of randomness.

    Returns
    -------
    omega : ndarray of the shape of ``c``
        Positive draws with mean ``tanh(c / 2) / (2 c)`` (1/4 at ``c = 0``)
        and variance ``(sinh(c) - c) / (4 c^3 cosh(c / 2)^2)`` (1/24 at 0).

    References
    ----------
    Polson, N. G., Scott, J. G. and Windle, J. (2013). Bayesian inference for
    logistic models using Polya-Gamma latent variables. Journal of the
    American Statistical Association, 108(504), 1339-1349.

    Devroye, L. (2009). On exact simulation algorithms for some distributions
    related to Jacobi theta functions. Statistics & Probability Letters,
    79(21), 2251-2259.

    Examples
    --------
    >>> import numpy as np
    >>> from skmice.methods import random_polyagamma
    >>> w = random_polyagamma(np.full(100_000, 2.0), np.random.default_rng(0))
    >>> bool(abs(w.mean() - np.tanh(1.0) / 4) < 0.003)  # the mean tanh(c/2) / (2c)
    True
    """
    rng = as_generator(random_state)
    c = np.asarray(c, dtype=np.float64)
    z = np.abs(c.ravel())
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        # (huge c: K overflows to inf and the inverse-Gaussian draws underflow to 0)
        if not np.isfinite(z.sum()) and not np.all(np.isfinite(z)):
            raise ValueError("random_polyagamma: c must be finite.")
        z *= 0.5
        x = _rejection(_pg_candidates, z, rng)
    x *= 0.25
    return x.reshape(c.shape)
