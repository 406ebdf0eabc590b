"""The one set of checks at the boundary of a conditional method.

:meth:`ConditionalMethod.fit <skmice.methods.ConditionalMethod.fit>` and
:meth:`~skmice.methods.ConditionalMethod.sample` run these once and hand the
method's ``_fit`` and ``_sample`` a :class:`Design` of contiguous float64
arrays, a float target and a generator: the computations never check their
input again.
"""

from __future__ import annotations

import numpy as np

from ._base import Design, Level
from ._remembered import Remembered

__all__ = ["check_design", "check_observed", "check_target"]


# Stamps of columns found finite kept per method, up to this many.
_MAX_FINITE_STAMPS = 4096

# Arrays of stamped designs checked before (unit codes, targets, whole designs),
# remembered per method by weak reference (:class:`Remembered`): a stamped
# design promises not to change its unit codes and target in place, so the
# same array passes without a second look.


def _remembered(method, key: str) -> Remembered:
    return method.__dict__.setdefault(key, Remembered())


def _seen_before(method, key: str, a) -> bool:
    """Whether ``a`` (an array of a stamped design) was checked before; remember it."""
    seen = _remembered(method, key)
    if seen.find((a,)) is not None:
        return True
    seen.add((a,))
    return False


def all_finite(a: np.ndarray) -> bool:
    """Whether every value of the float array ``a`` is finite.

    The sum of squares (one BLAS dot product: ``np.vdot`` raises no
    floating-point warning) decides at once when it is finite: NaN and
    infinities propagate through it. The values are tested one by one only
    when it is not, which finite values above about 1e154 can cause by
    overflowing.
    """
    flat = a.ravel(order="K")  # a view of a C- or F-contiguous array
    return bool(np.isfinite(np.vdot(flat, flat)) or np.isfinite(a).all())


def _float2d(a, name: str, method: str, checked=None) -> np.ndarray:
    """``a`` as a 2-d float64 array, C- or F-contiguous (the imputer's designs are
    column-major); its columns finite (but those ``checked``)."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{method}: design.{name} must be 2-dimensional, got shape {a.shape}.")
    if checked is not None and checked.shape == (a.shape[1],) and checked.any():
        # the columns not checked before, each through a view (no copy of the block)
        finite = all(all_finite(a[:, k]) for k in np.flatnonzero(~checked).tolist())
    else:
        finite = all_finite(a)
    if not finite:
        raise ValueError(f"{method}: design.{name} holds NaN or infinite values.")
    return a if a.flags.f_contiguous or a.flags.c_contiguous else np.ascontiguousarray(a)


def _known_finite(method, design, p: int):
    """Columns of X whose stamps the method has found finite before (None: no stamps)."""
    stamps = design.stamps
    if stamps is None or p < 0:  # (a design without a 2-d X fails its own check)
        return None, None
    stamps = np.asarray(stamps)
    if stamps.shape != (p,) or stamps.dtype.kind not in "iu":
        raise ValueError(
            f"{method._label()}: design.stamps must hold one integer per column of X "
            f"({p}), got shape {stamps.shape}."
        )
    seen = method.__dict__.setdefault("_finite_stamps", set())
    if len(seen) > _MAX_FINITE_STAMPS:
        seen.clear()
    checked = np.array([s in seen for s in stamps.tolist()], dtype=bool)  # (seen holds s > 0)
    return stamps, checked


def check_design(method, design, n_rows: int | None = None, fitted: bool = False) -> Design:
    """Validate the design given to a method; return it with float64 arrays.

    Parameters
    ----------
    method : ConditionalMethod
        The method: its class attributes say which parts the design needs
        (``needs_groups``: ``Z`` and ``groups``; ``needs_selection``: ``W``).
    design : Design
    n_rows : int, optional
        Number of rows the design must have (the length of ``y``).
    fitted : bool, default=False
        Check the numbers of columns against those seen in ``fit``
        (``n_features_in_`` and, for two-level methods, ``n_features_z_``).

    Returns
    -------
    Design
    """
    name = method._label()
    if not isinstance(design, Design):
        raise TypeError(f"{name}: design must be a Design, got {type(design).__name__}.")
    X = np.asarray(design.X)
    stamps, checked = _known_finite(method, design, X.shape[1] if X.ndim == 2 else -1)
    again = _checked_before(method, design, stamps, checked, n_rows, fitted)
    if again is not None:
        return again
    X = _float2d(X, "X", name, checked)
    n = X.shape[0]
    if X.shape[1] == 0:
        raise ValueError(f"{name}: design.X needs at least the intercept column.")
    if n_rows is not None and n != n_rows:
        raise ValueError(
            f"{name}: y must be 1-D with one value per row of design.X ({n}), "
            f"got {n_rows} values."
        )
    Z, groups, W = design.Z, design.groups, design.W
    n_groups = int(design.n_groups)
    if method.cluster_level and groups is None:
        raise ValueError(f"{name} imputes a cluster-level variable: the design needs groups.")
    if method.needs_groups:
        if groups is None or (Z is None and method.needs_random_part):
            raise ValueError(
                f"{name} is a two-level method: the design needs Z and groups (a cluster column)."
            )
        groups = np.asarray(groups)
        if groups.ndim != 1 or (groups.size and groups.dtype.kind not in "iu"):
            raise TypeError(f"{name}: design.groups must be a 1-d array of integer codes.")
        if groups.shape[0] != n:
            raise ValueError(f"{name}: X and groups have {n} and {groups.shape[0]} rows.")
        if Z is not None:  # methods that use only the unit codes need no random part
            z_checked = None
            if stamps is not None and design.z_in_x is not None:
                # a stamped design's Z copies the X columns z_in_x names: checked with X
                z_checked = np.asarray(design.z_in_x) >= 0
            Z = _float2d(Z, "Z", name, z_checked)
            if Z.shape[0] != n:
                raise ValueError(f"{name}: X and Z have {n} and {Z.shape[0]} rows.")
            if Z.shape[1] == 0:
                raise ValueError(
                    f"{name}: design.Z needs at least the random intercept column.")
        trusted = stamps is not None and _seen_before(method, "_checked_groups", groups)
        if groups.size and not trusted and (groups.min() < 0 or groups.max() >= max(n_groups, 0)):
            raise ValueError(
                f"{name}: cluster codes must lie in [0, n_groups={n_groups}), "
                f"got {groups.min()} to {groups.max()}."
            )
        groups = groups.astype(np.int64, copy=False)
    elif method.cluster_level:
        groups = np.asarray(groups, dtype=np.int64)
        if groups.shape != (n,) or (n and (groups.min() < 0 or groups.max() >= n_groups)):
            raise ValueError(f"{name}: design.groups must hold {n} codes in [0, {n_groups}).")
    if method.needs_selection:
        if W is None:
            raise ValueError(
                f"{name} is a selection model: the design needs W (the selection equation)."
            )
        W = _float2d(W, "W", name)
        if W.shape[0] != n:
            raise ValueError(f"{name}: X and W have {n} and {W.shape[0]} rows.")
    if fitted:
        want = getattr(method, "n_features_in_", None)
        if want is not None and X.shape[1] != want:
            raise ValueError(
                f"{name}: design.X must have {want} columns as in fit, got shape {X.shape}."
            )
        want_z = getattr(method, "n_features_z_", None)
        if method.needs_groups and want_z is not None and Z is not None \
                and Z.shape[1] != want_z:
            raise ValueError(
                f"{name}: the design has {X.shape[1]} fixed and {Z.shape[1]} random "
                f"columns; fit saw {want} and {want_z}."
            )
    if stamps is not None:
        _remember(method, design, X, Z, groups, W)
    return _checked(method, design, X, Z, groups, n_groups, W, stamps, checked)


def _checked(method, design, X, Z, groups, n_groups, W, stamps, checked) -> Design:
    """The design made of its checked arrays (the first level's rebuilt with them);
    the stamps of the columns just found finite are recorded."""
    levels = list(design.levels)
    if levels:
        first = levels[0]
        levels[0] = Level(groups, n_groups, Z, first.z_in_x, first.name, first.z_names)
    if stamps is not None:
        method.__dict__["_finite_stamps"].update(s for s in stamps[~checked].tolist() if s > 0)
    return Design(X=X, W=W, levels=levels, stamps=stamps)


def _key(design) -> tuple:
    """The arrays of a design's fixed part and first level (compared by identity)
    and its number of units."""
    return (design.X, design.Z, design.groups, design.z_in_x, design.W), design.n_groups


def _remember(method, design, X, Z, groups, W) -> None:
    """Keep a stamped design's arrays as checked, when nothing of it escapes the stamps:
    no selection equation, and a random part that copies columns of X."""
    z_in_x = design.z_in_x
    if W is not None or (Z is not None and (z_in_x is None or not (
            np.shape(z_in_x) == (Z.shape[1],) and np.all(np.asarray(z_in_x) >= 0)))):
        return
    arrays, n_groups = _key(design)
    _remembered(method, "_checked_designs").add(arrays, extra=(X, Z, groups), tag=n_groups)


def _checked_before(method, design, stamps, checked, n_rows, fitted):
    """The checked design again, when the same arrays passed before; else None.

    Only the columns of X with stamps not seen before are read (for NaN):
    the others hold values found finite, Z copies columns of X, and a
    stamped design keeps its unit codes.
    """
    if stamps is None:
        return None
    arrays, n_groups = _key(design)
    found = _remembered(method, "_checked_designs").find(arrays, tag=n_groups)
    if found is None:
        return None
    X, Z, groups = found
    if n_rows is not None and X.shape[0] != n_rows:
        return None  # the full check names the mismatch
    if fitted and (X.shape[1] != getattr(method, "n_features_in_", X.shape[1]) or (
            Z is not None and Z.shape[1] != getattr(method, "n_features_z_", Z.shape[1]))):
        return None
    X = _float2d(X, "X", method._label(), checked)
    return _checked(method, design, X, Z, groups, n_groups, None, stamps, checked)


def check_target(method, y, stamped: bool = False) -> np.ndarray:
    """Validate the target given to ``fit``; return it as a float64 array.

    NaN marks the rows to impute for methods that fit on every row
    (``needs_all_rows``); otherwise every value must be finite. With
    ``stamped`` (the design carries column stamps, which promises that its
    target is not changed in place), a float64 array checked before passes
    at once.
    """
    name = method._label()
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"{name}: y must be 1-D, got shape {y.shape}.")
    if stamped and _remembered(method, "_checked_targets").find((y,)) is not None:
        return y
    if method.needs_all_rows:
        if np.isinf(y).any():
            raise ValueError(f"{name}: y holds infinite values.")
        finite = np.isfinite(y).any()
    elif not (finite := all_finite(y)):
        raise ValueError(f"{name}: y holds NaN or infinite values; pass the observed rows only.")
    if y.shape[0] == 0 or not np.any(finite):
        raise ValueError(f"{name}: there are no observed values of the target to fit on.")
    if stamped:
        _seen_before(method, "_checked_targets", y)
    return y


def check_observed(method, observed):
    """Validate the ``observed`` rows given to ``sample`` (two-level methods).

    Returns
    -------
    tuple (Design, ndarray) or None
    """
    if observed is None or not (method.needs_groups or method.cluster_level):
        return observed
    try:
        design, y = observed
    except (TypeError, ValueError):
        raise TypeError(f"{method._label()}: observed must be a tuple (Design, y).") from None
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"{method._label()}: observed y must be 1-D, got shape {y.shape}.")
    return check_design(method, design, n_rows=y.shape[0], fitted=True), y
