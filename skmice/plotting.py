"""Plots to look at before and after imputing: missingness, model, convergence, imputations.

matplotlib versions of mice's and ggmice's plots (``md.pattern``,
``plot_pattern``, ``plot_corr``, ``plot_pred``, ``plot_trace``,
``densityplot``, ``stripplot``, ``bwplot``). Every function returns the
matplotlib Axes it drew on (single-panel plots, which accept ``ax=``) or the
Figure (grids of panels). Observed data are blue and missing or imputed data
red, as in mice.

matplotlib is an optional dependency: ``pip install 'skmice[plot]'``. It is
imported when a plot is drawn, so ``import skmice.plotting`` works without it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ._data import encode
from ._random import as_seed_sequence
from .diagnostics import _as_frame, _as_trace, md_pattern, missingness_test, rhat

__all__ = [
    "plot_corr",
    "plot_imputed",
    "plot_missing_hist",
    "plot_pattern",
    "plot_pred",
    "plot_trace",
]

OBSERVED_COLOR = "#006CC2"  # mice / ggmice blue
MISSING_COLOR = "#B61A51"  # mice / ggmice red

# predictor-matrix codes: colour (Okabe-Ito, colour-blind safe) and meaning
_PRED_CODES = {
    1: ("#56B4E9", "fixed effect"),
    2: ("#0072B2", "fixed + random effect"),
    3: ("#009E73", "fixed + cluster mean"),
    4: ("#CC79A7", "fixed + random + cluster mean"),
    -2: ("#3B3B3B", "cluster identifier"),
    -3: ("#E69F00", "selection equation only"),
    -4: ("#D55E00", "outcome equation only"),
    0: ("#FFFFFF", "not used"),
}


def _pyplot():
    """matplotlib.pyplot, or an ImportError saying how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "skmice.plotting needs matplotlib, an optional dependency: pip install 'skmice[plot]'"
        ) from exc
    return plt


def _new_axes(ax, figsize):
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=figsize, layout="constrained")
    return ax


def _data_of(X) -> pd.DataFrame:
    """The incomplete data of a DataFrame, an array or a MultiplyImputedData."""
    if hasattr(X, "imputations") and hasattr(X, "data"):
        X = X.data
    return _as_frame(X)


def _below(ax, inches: float):
    """Axes coordinates shifted down by ``inches`` (to anchor a legend under the labels)."""
    from matplotlib.transforms import ScaledTranslation

    return ax.transAxes + ScaledTranslation(0.0, -inches, ax.figure.dpi_scale_trans)


def _right_of(ax, inches: float):
    """Axes coordinates shifted right by ``inches``."""
    from matplotlib.transforms import ScaledTranslation

    return ax.transAxes + ScaledTranslation(inches, 0.0, ax.figure.dpi_scale_trans)


def _needs_rotation(ax, labels, n_cells: int, fontsize: float = 10.0) -> bool:
    """Whether horizontal tick labels would be wider than their cells."""
    fig = ax.figure
    cell = ax.get_position().width * fig.get_figwidth() / max(n_cells, 1)
    longest = max((len(str(s)) for s in labels), default=0)
    return longest * 0.62 * fontsize / 72.0 > 0.92 * cell


def _cell_grid(ax, n_rows: int, n_cols: int, color: str, width: float) -> None:
    """Lines between the cells of an imshow grid."""
    ax.set_xticks(np.arange(n_cols + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(n_rows + 1) - 0.5, minor=True)
    ax.grid(which="minor", color=color, linewidth=width)
    ax.grid(which="major", visible=False)
    ax.tick_params(which="minor", length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)


# --------------------------------------------------------------------------- #
# Missing-data pattern
# --------------------------------------------------------------------------- #
def plot_pattern(
    X,
    ax=None,
    rotate_names: bool | None = None,
    legend: bool = True,
    max_patterns: int | None = None,
):
    """Draw the missing-data pattern, as R's ``md.pattern`` and ggmice's ``plot_pattern``.

    One row per distinct pattern of observed (blue) and missing (red)
    cells; variables sorted by their number of missing values. Margins: the
    number of rows with each pattern (left), the number of missing variables
    in each pattern (right), the variable names (top) and the number of
    missing values per variable (bottom, with the total in the axis label).

    Parameters
    ----------
    X : DataFrame, array-like or MultiplyImputedData
        Incomplete data (of a MultiplyImputedData: its ``data``).
    ax : matplotlib Axes, optional
        Where to draw; a new figure by default.
    rotate_names : bool, optional
        Rotate the variable names by 45 degrees; by default when they are
        long or many.
    legend : bool, default=True
    max_patterns : int, optional
        Show only the most frequent patterns (in the same order); the
        margins' totals still count all rows. Default: all, as R. The figure
        is at most 10 inches tall: with many patterns, use this to keep the
        labels legible.

    Returns
    -------
    matplotlib Axes

    See Also
    --------
    skmice.diagnostics.md_pattern : the table drawn here.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np, pandas as pd
    >>> from skmice.plotting import plot_pattern
    >>> X = pd.DataFrame({"a": [1, 2, 3, 4], "b": [1.0, np.nan, 3.0, np.nan],
    ...                   "c": [np.nan, 2.0, 3.0, 4.0]})
    >>> ax = plot_pattern(X)
    >>> [t.get_text() for t in ax.get_yticklabels()]  # rows per pattern
    ['1', '2', '1']
    """
    table = md_pattern(_data_of(X))
    body = table.iloc[:-1, :-1].to_numpy()
    counts = np.array([int(c) for c in table.index[:-1]])
    per_pattern = table.iloc[:-1, -1].to_numpy()
    per_variable = table.iloc[-1, :-1].to_numpy()
    names = [str(c) for c in table.columns[:-1]]
    n_all = body.shape[0]
    if max_patterns is not None:
        if not isinstance(max_patterns, (int, np.integer)) or max_patterns < 1:
            raise ValueError(f"max_patterns must be a positive int, got {max_patterns!r}.")
        if n_all > max_patterns:
            keep = np.sort(np.argsort(-counts, kind="stable")[:max_patterns])
            body, counts, per_pattern = body[keep], counts[keep], per_pattern[keep]
    n_pat, n_var = body.shape
    height = min(10.0, max(3.0, 0.32 * n_pat + 2.4))
    row = (height - 2.4) / n_pat * 72.0  # points per pattern row
    fontsize = float(np.clip(0.75 * row, 4.0, 9.0))
    labelled = 0.75 * row >= 4.0  # else too many patterns to label legibly
    ax = _new_axes(ax, (max(4.5, 0.75 * n_var + 3.0), height))
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    cmap = ListedColormap([MISSING_COLOR, OBSERVED_COLOR])
    ax.imshow(body, cmap=cmap, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    _cell_grid(ax, n_pat, n_var, "white", float(np.clip(0.08 * row, 0.3, 1.5)))
    if labelled:
        ax.set_yticks(np.arange(n_pat), labels=[str(c) for c in counts], fontsize=fontsize)
        ax.set_ylabel("Pattern frequency (rows)")
    else:
        ax.set_yticks([])
        ax.set_ylabel(f"{n_pat} patterns (too many to label: set max_patterns)")
    ax.set_xticks(np.arange(n_var), labels=[str(int(v)) for v in per_variable], fontsize=9)
    xlabel = f"Number of missing entries per variable (total {int(table.iloc[-1, -1])})"
    if n_pat < n_all:
        xlabel += f"\nshowing the {n_pat} most frequent of {n_all} patterns"
    ax.set_xlabel(xlabel)
    ax.tick_params(axis="both", which="major", length=0)
    if rotate_names is None:
        rotate_names = _needs_rotation(ax, names, n_var)
    rotate = 45 if rotate_names else 0
    top = ax.secondary_xaxis("top")
    top.set_xticks(
        np.arange(n_var),
        labels=names,
        rotation=rotate,
        ha="left" if rotate else "center",
        rotation_mode="anchor",
        fontsize=10,
    )
    top.tick_params(length=0)
    right = ax.secondary_yaxis("right")
    if labelled:
        right.set_yticks(
            np.arange(n_pat), labels=[str(int(v)) for v in per_pattern], fontsize=fontsize
        )
        right.set_ylabel("Missing entries per pattern")
    else:
        right.set_yticks([])
    right.tick_params(length=0)
    for sec in (top, right):
        for spine in sec.spines.values():
            spine.set_visible(False)
    if legend:
        handles = [
            Patch(facecolor=OBSERVED_COLOR, label="observed"),
            Patch(facecolor=MISSING_COLOR, label="missing"),
        ]
        ax.legend(
            handles=handles,
            loc="upper center",
            ncol=2,
            frameon=False,
            fontsize=9,
            bbox_to_anchor=(0.5, 0.0),
            bbox_transform=_below(ax, 0.5 if n_pat == n_all else 0.68),
        )
    return ax


# --------------------------------------------------------------------------- #
# Correlations
# --------------------------------------------------------------------------- #
def plot_corr(
    X, label: bool = False, diagonal: bool = False, columns=None, ax=None, cmap: str = "RdBu_r"
):
    """Heat map of the pairwise-complete correlations, as ggmice's ``plot_corr``.

    Pearson correlations of every pair of variables over the rows where both
    are observed. Categorical, string and boolean columns enter by their
    category codes (0, 1, ...), so their correlations only mean something for
    binary or ordered variables.

    Parameters
    ----------
    X : DataFrame, array-like or MultiplyImputedData
        Incomplete data (of a MultiplyImputedData: its ``data``).
    label : bool, default=False
        Write the correlations in the cells.
    diagonal : bool, default=False
        Show the diagonal (all ones).
    columns : list of column labels, optional
        Variables to show (e.g. without the cluster identifier); default all.
    ax : matplotlib Axes, optional
    cmap : str, default="RdBu_r"
        A diverging colormap, centred on 0 (red positive, blue negative).

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skmice.datasets import make_popularity
    >>> from skmice.plotting import plot_corr
    >>> data = make_popularity(random_state=0).data
    >>> ax = plot_corr(data, label=True, columns=["popular", "sex", "texp", "teachpop"])
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['popular', 'sex', 'texp', 'teachpop']
    """
    frame = _data_of(X)
    if columns is not None:
        unknown = [c for c in columns if c not in frame.columns]
        if unknown:
            raise ValueError(f"columns {unknown} are not columns of X.")
        frame = frame[list(columns)]
    enc = encode(frame)
    corr = pd.DataFrame(enc.values).corr(min_periods=2).to_numpy().copy()
    if not diagonal:
        np.fill_diagonal(corr, np.nan)
    names = [str(c) for c in enc.columns]
    p = len(names)
    longest = max(len(n) for n in names)
    ax = _new_axes(
        ax, (max(4.0, 0.6 * p + 2.6) + 0.08 * longest, max(3.4, 0.55 * p + 2.0) + 0.04 * longest)
    )
    import matplotlib as mpl

    colormap = mpl.colormaps[cmap].with_extremes(bad="#EBEBEB")
    image = ax.imshow(
        np.ma.masked_invalid(corr),
        cmap=colormap,
        vmin=-1,
        vmax=1,
        interpolation="nearest",
        aspect="auto",
    )
    _cell_grid(ax, p, p, "white", 1.0)
    rotation = 45 if _needs_rotation(ax, names, p) else 0
    ax.set_xticks(
        np.arange(p),
        labels=names,
        rotation=rotation,
        ha="right" if rotation else "center",
        rotation_mode="anchor",
    )
    ax.set_yticks(np.arange(p), labels=names)
    ax.tick_params(which="major", length=0)
    cbar = ax.figure.colorbar(image, ax=ax, shrink=0.85, fraction=0.05, pad=0.03)
    cbar.set_label("Correlation (pairwise complete)")
    cbar.outline.set_visible(False)
    if label:
        size = 9 if p <= 10 else max(5, 9 - (p - 10) // 3)
        for i, j in zip(*np.nonzero(np.isfinite(corr))):
            r = corr[i, j]
            ax.text(
                j,
                i,
                f"{r:.2f}",
                ha="center",
                va="center",
                fontsize=size,
                color="white" if abs(r) > 0.55 else "black",
            )
    return ax


# --------------------------------------------------------------------------- #
# Predictor matrix
# --------------------------------------------------------------------------- #
def _predictor_matrix_of(obj):
    """(predictor matrix DataFrame, method names dict or None) of an input."""
    if hasattr(obj, "imputers") and hasattr(obj, "imputations"):
        if not obj.imputers:
            raise ValueError("This MultiplyImputedData has no fitted imputers.")
        obj = obj.imputers[0]
    if hasattr(obj, "fit") and hasattr(obj, "get_params"):
        if not hasattr(obj, "predictor_matrix_"):
            raise ValueError(
                "The imputer is not fitted: call fit first, or pass its predictor_matrix."
            )
        names = getattr(obj, "method_names_", None)
        return obj.predictor_matrix_, names
    if isinstance(obj, pd.DataFrame):
        pm = obj
    else:
        arr = np.asarray(obj)
        if arr.ndim != 2:
            raise ValueError(f"predictor_matrix must be 2-dimensional, got shape {arr.shape}.")
        pm = pd.DataFrame(arr)
    if pm.shape[0] != pm.shape[1]:
        raise ValueError(f"predictor_matrix must be square, got shape {pm.shape}.")
    return pm, None


def plot_pred(predictor_matrix, label: bool = True, method=None, ax=None):
    """Draw a predictor matrix with one colour per code, as ggmice's ``plot_pred``.

    Rows are the variables imputed, columns the predictors; each cell shows
    mice's code: 1 fixed effect, 2 fixed and random effect, 3 fixed effect
    plus the cluster mean, 4 fixed and random effect plus the cluster mean,
    -2 the cluster identifier, -3 / -4 selection-model equations, 0 (blank)
    not used.

    Parameters
    ----------
    predictor_matrix : DataFrame, array-like, MultilevelIterativeImputer or MultiplyImputedData
        The matrix, or a fitted imputer (its ``predictor_matrix_``; the
        methods are then shown too) or a multiple imputation (its first
        imputer).
    label : bool, default=True
        Write the code in each used cell.
    method : dict or list, optional
        Imputation method per row, shown on the right (default: the
        imputer's, when given one).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from skmice.plotting import plot_pred
    >>> cols = ["school", "popular", "sex", "texp"]
    >>> pm = pd.DataFrame(0, index=cols, columns=cols)
    >>> pm.loc["popular"] = [-2, 0, 2, 1]
    >>> ax = plot_pred(pm, method={"popular": "2l.pan"})
    >>> sorted(t.get_text() for t in ax.texts)
    ['-2', '1', '2']
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['1  fixed effect', '2  fixed + random effect', '-2  cluster identifier', '0  not used']
    """
    pm, methods = _predictor_matrix_of(predictor_matrix)
    if method is not None:
        methods = method
    try:
        codes = pm.to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("predictor_matrix must hold integer codes.") from None
    if np.isnan(codes).any() or np.any(codes != np.round(codes)):
        raise ValueError("predictor_matrix must hold integer codes (no NaN, no fractions).")
    codes = codes.astype(np.int64)
    unknown = sorted(set(np.unique(codes)) - set(_PRED_CODES))
    if unknown:
        raise ValueError(
            f"predictor_matrix holds unknown codes {unknown}; allowed codes are "
            f"{sorted(_PRED_CODES)}."
        )
    rows = [str(r) for r in pm.index]
    cols = [str(c) for c in pm.columns]
    n_rows, n_cols = codes.shape
    order = list(_PRED_CODES)  # legend order
    ranked = sorted(_PRED_CODES)
    index = np.searchsorted(ranked, codes)
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    cmap = ListedColormap([_PRED_CODES[c][0] for c in ranked])
    norm = BoundaryNorm(np.arange(len(ranked) + 1) - 0.5, len(ranked))
    ax = _new_axes(ax, (max(5.0, 0.6 * n_cols + 5.0), max(3.0, 0.45 * n_rows + 1.8)))
    ax.imshow(index, cmap=cmap, norm=norm, interpolation="nearest", aspect="auto")
    _cell_grid(ax, n_rows, n_cols, "#C8C8C8", 0.8)
    rotation = 45 if _needs_rotation(ax, cols, n_cols) else 0
    ax.set_xticks(
        np.arange(n_cols),
        labels=cols,
        rotation=rotation,
        ha="right" if rotation else "center",
        rotation_mode="anchor",
    )
    ax.set_yticks(np.arange(n_rows), labels=rows)
    ax.tick_params(which="major", length=0)
    ax.set_xlabel("Predictor")
    ax.set_ylabel("Imputation model for")
    if label:
        for i, j in zip(*np.nonzero(codes)):
            c = int(codes[i, j])
            dark = c in (2, 4, -2, -4, 3)
            ax.text(
                j,
                i,
                str(c),
                ha="center",
                va="center",
                fontsize=9,
                color="white" if dark else "black",
            )
    gap = 0.1
    if methods is not None:
        if isinstance(methods, dict):
            labels = [
                _method_label(methods.get(r, methods.get(orig))) for r, orig in zip(rows, pm.index)
            ]
        else:
            labels = [_method_label(m) for m in methods]
            if len(labels) != n_rows:
                raise ValueError(f"method has {len(labels)} entries for {n_rows} rows.")
        right = ax.secondary_yaxis("right")
        right.set_yticks(np.arange(n_rows), labels=labels, fontsize=9)
        right.tick_params(length=0)
        right.set_ylabel("Imputation method")
        for spine in right.spines.values():
            spine.set_visible(False)
        gap = 0.45 + 0.075 * max((len(s) for s in labels), default=0)
    present = set(np.unique(codes))
    handles = [
        Patch(facecolor=_PRED_CODES[c][0], edgecolor="#9A9A9A", label=f"{c}  {_PRED_CODES[c][1]}")
        for c in order
        if c in present
    ]
    ax.legend(
        handles=handles,
        title="Code",
        loc="upper left",
        frameon=False,
        fontsize=9,
        bbox_to_anchor=(1.0, 1.0),
        bbox_transform=_right_of(ax, gap),
        borderaxespad=0.0,
    )
    return ax


def _method_label(m) -> str:
    if m is None:
        return ""
    if isinstance(m, str):
        return m
    return type(m).__name__


# --------------------------------------------------------------------------- #
# Missingness of one variable against another
# --------------------------------------------------------------------------- #
def plot_missing_hist(
    X,
    variable,
    by,
    test: str | None = "welch",
    bins="auto",
    density: bool = False,
    ax=None,
    n_permutations: int = 9999,
    random_state=0,
):
    """Histogram of a variable split by the missingness of another: a check of MAR.

    The tutorial's check on the popularity data: is the teacher's experience
    (``texp``) different for pupils whose popularity is missing? Rows where
    ``by`` is observed are blue, rows where it is missing red; dashed lines
    mark the two means and the title reports the test
    (:func:`skmice.diagnostics.missingness_test`).

    Parameters
    ----------
    X : DataFrame or MultiplyImputedData
        Incomplete data (of a MultiplyImputedData: its ``data``).
    variable : column label
        Numeric variable drawn.
    by : column label
        Variable whose missingness splits the rows.
    test : {"welch", "permutation"} or None, default="welch"
        Test reported in the title (None: no test).
    bins : int, sequence or str, default="auto"
        As in :func:`numpy.histogram_bin_edges`; integer-valued variables
        with few values get one bin per value by default.
    density : bool, default=False
        Normalise each group's histogram (groups of very different sizes).
    ax : matplotlib Axes, optional
    n_permutations : int, default=9999
        For ``test="permutation"``.
    random_state : None, int or Generator, default=0
        Seed of the permutations.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skmice.datasets import make_popularity
    >>> from skmice.plotting import plot_missing_hist
    >>> data = make_popularity(random_state=0).data
    >>> ax = plot_missing_hist(data, "texp", by="popular")
    >>> print(ax.get_title())
    texp by missingness of popular
    Welch t = 5.62, df = 1904.8, p = 2.2e-08
    """
    frame = _data_of(X)
    result = None
    if test is not None:
        result = missingness_test(
            frame,
            variable,
            by,
            method=test,
            n_permutations=n_permutations,
            random_state=random_state,
        )
    else:
        for name, lab in (("variable", variable), ("by", by)):
            if lab not in frame.columns:
                raise ValueError(f"{name} {lab!r} is not a column of X.")
        if not pd.api.types.is_numeric_dtype(frame[variable]):
            raise TypeError(
                f"variable {variable!r} must be numeric, got dtype {frame[variable].dtype}."
            )
    x = frame[variable].to_numpy(dtype=np.float64, na_value=np.nan)
    is_missing = frame[by].isna().to_numpy()
    keep = ~np.isnan(x)
    x, is_missing = x[keep], is_missing[keep]
    values = np.unique(x)
    if (
        isinstance(bins, str)
        and bins == "auto"
        and values.size <= 40
        and np.all(values == np.round(values))
    ):
        edges = np.arange(values.min(), values.max() + 2) - 0.5
    else:
        edges = np.histogram_bin_edges(x, bins=bins)
    ax = _new_axes(ax, (8.0, 4.2))
    groups = [(~is_missing, OBSERVED_COLOR, "observed"), (is_missing, MISSING_COLOR, "missing")]
    for rows, color, word in groups:
        if not rows.any():
            continue
        ax.hist(
            x[rows],
            bins=edges,
            density=density,
            color=color,
            alpha=0.45,
            label=f"{by} {word} (n = {int(rows.sum()):,})",
        )
        ax.hist(x[rows], bins=edges, density=density, histtype="step", color=color, linewidth=1.4)
        ax.axvline(x[rows].mean(), color=color, linestyle="--", linewidth=1.6)
    ax.set_xlabel(str(variable))
    ax.set_ylabel("Density" if density else "Count")
    title = f"{variable} by missingness of {by}"
    if result is not None:
        title += f"\n{result}"
    ax.set_title(title, fontsize=11)
    from matplotlib.lines import Line2D

    handles, _ = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="#555555", linestyle="--", label="group means"))
    ax.legend(
        handles=handles, frameon=False, fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0)
    )
    ax.spines[["top", "right"]].set_visible(False)
    return ax


# --------------------------------------------------------------------------- #
# Convergence
# --------------------------------------------------------------------------- #
def plot_trace(mi, variables=None, statistics=("mean", "sd"), show_rhat: bool = True, figsize=None):
    """Trace plots: mean and sd of the imputed values per iteration, one line per chain.

    The convergence check of mice's ``plot(imp)``: the chains should mix
    (cross each other) and show no trend after the first iterations. With at
    least two chains and four iterations each panel's title reports the
    split R-hat (:func:`skmice.diagnostics.rhat`; below about 1.1 is fine
    for imputation).

    Parameters
    ----------
    mi : MultiplyImputedData, MultilevelIterativeImputer or DataFrame
        A multiple imputation, one fitted imputer (a single chain) or a
        trace (columns ``iteration``, ``variable``, ``mean``, ``sd`` and
        optionally ``chain``).
    variables : list, optional
        Variables to show (default: all imputed ones).
    statistics : tuple of {"mean", "sd"}, default=("mean", "sd")
        The columns of the grid.
    show_rhat : bool, default=True
    figsize : tuple, optional
        Default: 4 inches wide per column, 2.4 tall per variable.

    Returns
    -------
    matplotlib Figure
        One row of panels per variable.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np, pandas as pd
    >>> from skmice import MultilevelIterativeImputer, multiple_impute
    >>> from skmice.plotting import plot_trace
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"x": rng.normal(size=80)})
    >>> X["y"] = X["x"] + rng.normal(size=80)
    >>> X.loc[:19, "y"] = np.nan
    >>> mi = multiple_impute(X, MultilevelIterativeImputer(max_iter=5), 3, random_state=0)
    >>> fig = plot_trace(mi)
    >>> [ax.get_title().split(" (")[0] for ax in fig.axes]
    ['y: mean', 'y: sd']
    >>> len(fig.axes[0].get_lines())  # one line per chain
    3
    """
    trace = _as_trace(mi)
    statistics = tuple(statistics) if not isinstance(statistics, str) else (statistics,)
    bad = [s for s in statistics if s not in ("mean", "sd")]
    if bad or not statistics:
        raise ValueError(f"statistics must hold 'mean' and/or 'sd', got {statistics!r}.")
    all_vars = list(dict.fromkeys(trace["variable"]))
    if variables is None:
        variables = all_vars
    else:
        variables = [variables] if isinstance(variables, str) else list(variables)
        unknown = [v for v in variables if v not in all_vars]
        if unknown:
            raise ValueError(f"variables {unknown} have no trace; traced: {all_vars}.")
    if not variables:
        raise ValueError("The trace is empty: nothing was imputed.")
    chains = sorted(trace["chain"].unique())
    n_iter = trace["iteration"].nunique()
    rhats = {}
    if show_rhat and len(chains) >= 2 and n_iter >= 4:
        for s in statistics:
            rhats[s] = rhat(trace[trace["variable"].isin(variables)], statistic=s)
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    n_rows, n_cols = len(variables), len(statistics)
    if figsize is None:
        figsize = (4.2 * n_cols, 2.3 * n_rows + 0.9)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=figsize, sharex=True, squeeze=False, layout="constrained"
    )
    colors = plt.get_cmap("tab10").colors
    for i, var in enumerate(variables):
        t = trace[trace["variable"] == var]
        for j, s in enumerate(statistics):
            ax = axes[i, j]
            for k, (chain, tc) in enumerate(t.groupby("chain", sort=True)):
                tc = tc.sort_values("iteration")
                ax.plot(
                    tc["iteration"],
                    tc[s],
                    color=colors[k % 10],
                    linewidth=1.3,
                    marker="o",
                    markersize=2.5,
                    label=f"chain {chain}",
                )
            title = f"{var}: {s}"
            if s in rhats and var in rhats[s].index:
                title += f" (R-hat {rhats[s][var]:.2f})"
            ax.set_title(title, fontsize=10)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.spines[["top", "right"]].set_visible(False)
            ax.tick_params(labelsize=8)
            if i == n_rows - 1:
                ax.set_xlabel("Iteration")
    if 1 < len(chains) <= 12:
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(
            handles,
            labels,
            loc="outside upper center",
            ncol=min(len(chains), 6),
            frameon=False,
            fontsize=8,
        )
    return fig


# --------------------------------------------------------------------------- #
# Observed versus imputed values
# --------------------------------------------------------------------------- #
def _imputed_values(mi, variable):
    """Observed values, list of imputed values per imputation, missing mask, kind."""
    if not (hasattr(mi, "imputations") and hasattr(mi, "data")):
        raise TypeError(f"mi must be a MultiplyImputedData, got {type(mi).__name__}.")
    data = _as_frame(mi.data)
    if variable not in data.columns:
        raise ValueError(f"variable {variable!r} is not a column of the data.")
    col = data[variable]
    mask = col.isna().to_numpy()
    if not mask.any():
        raise ValueError(f"variable {variable!r} has no missing values: nothing was imputed.")
    numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
    comps = [_as_frame(d)[variable] for d in mi.imputations]
    if numeric:
        observed = col.to_numpy(dtype=np.float64, na_value=np.nan)[~mask]
        imputed = [c.to_numpy(dtype=np.float64, na_value=np.nan) for c in comps]
    else:
        observed = col.to_numpy(dtype=object)[~mask]
        imputed = [c.to_numpy(dtype=object) for c in comps]
    return data, observed, imputed, mask, numeric


def _kde_line(ax, values, grid, color, linewidth, alpha, zorder):
    from scipy.stats import gaussian_kde

    values = values[np.isfinite(values)]
    if values.size >= 2 and np.ptp(values) > 0:
        ax.plot(
            grid,
            gaussian_kde(values)(grid),
            color=color,
            linewidth=linewidth,
            alpha=alpha,
            zorder=zorder,
        )
    elif values.size:
        ax.plot(
            values,
            np.zeros_like(values),
            "|",
            color=color,
            markersize=12,
            alpha=alpha,
            zorder=zorder,
        )


def _draw_numeric(ax, kind, observed, imputed, rng, limits, ylabel):
    """One panel: observed (blue) against imputed (red) values."""
    m = len(imputed)
    if kind == "density":
        lo, hi = limits
        grid = np.linspace(lo, hi, 256)
        for values in imputed:
            _kde_line(ax, values, grid, MISSING_COLOR, 1.0, 0.75, 2)
        _kde_line(ax, observed, grid, OBSERVED_COLOR, 2.4, 1.0, 3)
        ax.set_xlim(lo, hi)
        ax.set_xlabel(ylabel)
        ax.set_ylabel("Density")
    elif kind == "hist":
        # bins sized for the smaller sample (one imputation's or the observed values)
        sample = observed if observed.size <= imputed[0].size else imputed[0]
        n_bins = np.histogram_bin_edges(sample, bins="auto").size - 1 if sample.size > 1 else 1
        edges = np.linspace(limits[0], limits[1], int(np.clip(n_bins, 10, 60)) + 1)
        pooled = np.concatenate(imputed)
        for values, color in ((observed, OBSERVED_COLOR), (pooled, MISSING_COLOR)):
            if values.size:
                ax.hist(values, bins=edges, density=True, color=color, alpha=0.45)
                ax.hist(
                    values, bins=edges, density=True, histtype="step", color=color, linewidth=1.3
                )
        ax.set_xlabel(ylabel)
        ax.set_ylabel("Density")
    elif kind == "strip":
        size = 9 if observed.size + sum(v.size for v in imputed) / max(m, 1) < 300 else 4
        ax.scatter(
            rng.uniform(-0.25, 0.25, observed.size),
            observed,
            s=size,
            color=OBSERVED_COLOR,
            alpha=0.55,
            linewidths=0,
        )
        for k, values in enumerate(imputed, start=1):
            ax.scatter(
                k + rng.uniform(-0.25, 0.25, observed.size),
                observed,
                s=size,
                color=OBSERVED_COLOR,
                alpha=0.2,
                linewidths=0,
                zorder=1,
            )
            ax.scatter(
                k + rng.uniform(-0.25, 0.25, values.size),
                values,
                s=size,
                color=MISSING_COLOR,
                alpha=0.7,
                linewidths=0,
                zorder=2,
            )
        _imputation_axis(ax, m)
        ax.set_ylabel(ylabel)
    else:  # box
        data = [observed, *imputed]
        keep = [k for k, d in enumerate(data) if d.size]
        parts = ax.boxplot(
            [data[k] for k in keep],
            positions=keep,
            widths=0.6,
            patch_artist=True,
            showfliers=True,
            flierprops={"markersize": 3, "alpha": 0.5},
            medianprops={"color": "black"},
        )
        for k, patch in zip(keep, parts["boxes"]):
            color = OBSERVED_COLOR if k == 0 else MISSING_COLOR
            patch.set_facecolor(color)
            patch.set_alpha(0.55)
            patch.set_edgecolor(color)
        _imputation_axis(ax, m)
        ax.set_ylabel(ylabel)
    ax.spines[["top", "right"]].set_visible(False)


def _imputation_axis(ax, m):
    ax.set_xticks(np.arange(m + 1), labels=["obs"] + [str(k) for k in range(1, m + 1)])
    ax.set_xlim(-0.6, m + 0.6)
    ax.set_xlabel("Imputation (obs = observed data)")


def _draw_categorical(ax, observed, imputed, ylabel):
    """Proportions of each category: observed against all imputations pooled."""
    pooled = np.concatenate(imputed) if imputed else np.array([], dtype=object)
    cats = pd.unique(pd.Series(np.concatenate([observed, pooled])).dropna())
    try:
        cats = sorted(cats)
    except TypeError:
        cats = list(cats)
    x = np.arange(len(cats))
    width = 0.4
    for values, color, shift in (
        (observed, OBSERVED_COLOR, -width / 2),
        (pooled, MISSING_COLOR, width / 2),
    ):
        counts = pd.Series(values).value_counts()
        props = np.array([counts.get(c, 0) for c in cats], dtype=np.float64)
        props /= max(props.sum(), 1)
        ax.bar(x + shift, props, width=width, color=color, alpha=0.8)
    ax.set_xticks(x, labels=[str(c) for c in cats])
    ax.set_xlabel(ylabel)
    ax.set_ylabel("Proportion")
    ax.spines[["top", "right"]].set_visible(False)


def _cluster_column(mi, cluster):
    if cluster is not None:
        return cluster
    for imp in getattr(mi, "imputers", []) or []:
        c = getattr(imp, "cluster", None)
        if c is not None:
            return c
    raise ValueError(
        "clusters needs the cluster column: pass cluster=, or impute with a "
        "MultilevelIterativeImputer(cluster=...)."
    )


def _pick_clusters(ids: pd.Series, mask: np.ndarray, clusters) -> list:
    """Cluster ids to show: a list (checked) or the first k with imputed values."""
    if isinstance(clusters, (int, np.integer)) and not isinstance(clusters, bool):
        if clusters < 1:
            raise ValueError(f"clusters must be >= 1 or a list of ids, got {clusters}.")
        with_missing = pd.unique(ids[mask])
        try:
            with_missing = sorted(with_missing)
        except TypeError:
            with_missing = list(with_missing)
        return list(with_missing[: int(clusters)])
    chosen = list(clusters)
    known = set(pd.unique(ids))
    unknown = [c for c in chosen if c not in known]
    if unknown:
        raise ValueError(f"clusters {unknown} are not ids of the cluster column.")
    return chosen


def plot_imputed(
    mi,
    variable,
    kind: str = "density",
    clusters=None,
    cluster=None,
    ax=None,
    random_state=0,
    ncols: int = 4,
):
    """Observed against imputed values of one variable, as mice's densityplot and stripplot.

    Observed values are blue and imputed ones red. Imputations should look
    like plausible values: under MAR they may differ from the observed ones
    (that is the point of conditioning on the predictors), but not be
    implausible (out of range, wrong shape, too little spread). Per cluster
    the panels show whether a two-level model keeps the clusters apart.

    Parameters
    ----------
    mi : MultiplyImputedData
        The multiple imputation.
    variable : column label
        The variable to show (it must have missing values).
    kind : {"density", "strip", "box", "hist"}, default="density"
        ``"density"``: kernel densities, the observed values (thick) and each
        imputation (thin), as mice's ``densityplot``. ``"strip"``: the
        values by imputation number (``obs`` = the observed data alone),
        jittered, as ``stripplot``. ``"box"``: box plots of the observed
        values and of each imputation's imputed values, as ``bwplot``.
        ``"hist"``: histograms of the observed values and of all imputed
        values pooled, each normalised. Categorical variables are drawn as
        the proportions of each category (observed against imputed) for
        ``"density"`` and ``"hist"``.
    clusters : int or list, optional
        Also one panel per cluster: a list of cluster ids, or k for the
        first k clusters (in sorted order) that have imputed values.
    cluster : column label, optional
        The cluster column (default: the imputer's ``cluster``).
    ax : matplotlib Axes, optional
        Only without ``clusters``.
    random_state : None, int or Generator, default=0
        Seed of the jitter of ``kind="strip"``.
    ncols : int, default=4
        Panels per row with ``clusters``.

    Returns
    -------
    matplotlib Axes or Figure
        The Axes without ``clusters``; the Figure of panels (all clusters,
        then each chosen cluster) with ``clusters``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skmice import MultilevelIterativeImputer, multiple_impute
    >>> from skmice.datasets import make_popularity
    >>> from skmice.plotting import plot_imputed
    >>> data = make_popularity(random_state=0).data.drop(columns="pupil")
    >>> imp = MultilevelIterativeImputer(cluster="school", methods={"popular": "2l.pan"},
    ...                                  max_iter=3)
    >>> mi = multiple_impute(data, imp, n_imputations=2, random_state=0)
    >>> ax = plot_imputed(mi, "popular")
    >>> len(ax.get_lines())  # observed + one density per imputation
    3
    >>> fig = plot_imputed(mi, "popular", kind="strip", clusters=3)
    >>> [a.get_title() for a in fig.axes][:2]
    ['all clusters', 'school 1: 16 observed, 9 imputed']
    """
    kinds = ("density", "strip", "box", "hist")
    if kind not in kinds:
        raise ValueError(f"kind must be one of {kinds}, got {kind!r}.")
    data, observed, imputed_full, mask, numeric = _imputed_values(mi, variable)
    if not numeric and kind in ("strip", "box"):
        raise ValueError(
            f"kind={kind!r} needs a numeric variable; {variable!r} is "
            "categorical: use kind='density' or 'hist' (category proportions)."
        )
    rng = np.random.default_rng(as_seed_sequence(random_state))
    label = str(variable)
    if numeric:
        every = np.concatenate([observed, *[v[mask] for v in imputed_full]])
        every = every[np.isfinite(every)]
        pad = 0.08 * (np.ptp(every) if every.size and np.ptp(every) > 0 else 1.0)
        limits = (float(every.min()) - pad, float(every.max()) + pad)

    def draw(target_ax, rows):
        obs = data[variable].to_numpy(dtype=object if not numeric else np.float64, na_value=np.nan)[
            rows & ~mask
        ]
        imps = [v[rows & mask] for v in imputed_full]
        if numeric:
            _draw_numeric(target_ax, kind, obs.astype(np.float64), imps, rng, limits, label)
        else:
            _draw_categorical(target_ax, obs, imps, label)
        return int(obs.size), int(imps[0].size)

    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    m = len(imputed_full)
    if kind == "density" and numeric:
        handles = [
            Line2D([], [], color=OBSERVED_COLOR, linewidth=2.4, label="observed"),
            Line2D(
                [],
                [],
                color=MISSING_COLOR,
                linewidth=1.0,
                label=f"imputed (one line per imputation, m = {m})",
            ),
        ]
    else:
        handles = [
            Patch(facecolor=OBSERVED_COLOR, alpha=0.7, label="observed"),
            Patch(
                facecolor=MISSING_COLOR,
                alpha=0.7,
                label="imputed" + (" (all imputations)" if kind in ("hist", "density") else ""),
            ),
        ]
    everything = np.ones(len(data), dtype=bool)
    if clusters is None:
        ax = _new_axes(ax, (6.4, 4.4))
        n_obs, n_imp = draw(ax, everything)
        ax.set_title(
            f"{variable}: {n_obs:,} observed, {n_imp:,} imputed per imputation", fontsize=11, pad=24
        )
        ax.legend(
            handles=handles,
            frameon=False,
            fontsize=9,
            ncol=2,
            loc="lower center",
            bbox_to_anchor=(0.5, 1.0),
            borderaxespad=0.2,
        )
        return ax
    if ax is not None:
        raise ValueError("ax cannot be used with clusters (the panels make a new figure).")
    cluster = _cluster_column(mi, cluster)
    if cluster not in data.columns:
        raise ValueError(f"cluster {cluster!r} is not a column of the data.")
    ids = data[cluster]
    chosen = _pick_clusters(ids, mask, clusters)
    n_panels = 1 + len(chosen)
    ncols = max(1, min(int(ncols), n_panels))
    nrows = math.ceil(n_panels / ncols)
    plt = _pyplot()
    share = {} if kind in ("density", "hist") else {"sharey": True}
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(3.7 * ncols, 2.9 * nrows + 0.5),
        squeeze=False,
        layout="constrained",
        **share,
    )
    flat = axes.ravel()
    draw(flat[0], everything)
    flat[0].set_title("all clusters", fontsize=10)
    id_values = ids.to_numpy()
    for a, c in zip(flat[1:], chosen):
        n_obs, n_imp = draw(a, id_values == c)
        a.set_title(f"{cluster} {c}: {n_obs} observed, {n_imp} imputed", fontsize=10)
    for a in flat[n_panels:]:
        a.set_visible(False)
    for i, a in enumerate(flat[:n_panels]):
        a.tick_params(labelsize=8)
        if i + ncols < n_panels:  # a panel below shows the x label
            a.set_xlabel("")
        if i % ncols:  # the first panel of the row shows the y label
            a.set_ylabel("")
    fig.legend(handles=handles, loc="outside upper center", ncol=2, frameon=False, fontsize=9)
    return fig
