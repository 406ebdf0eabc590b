"""Property-based tests of MultilevelIterativeImputer on generated two-level frames.

Hypothesis generates small clustered DataFrames (10-60 rows, 1-8 clusters of
random sizes, size 1 included, rows shuffled so clusters are not contiguous)
with mixed dtypes (float, integer-valued float, nullable boolean, a 3-level
pandas categorical, object strings, a cluster-level float constant within
clusters) and random missingness: whole clusters, a column missing in some
clusters, single cells; every column keeps a few observed values. Each frame
is imputed with the default methods (``make_methods``: 2l.pmm / 2l.bin /
2l.polyreg / 2lonly.pmm) and single-level (cluster column dropped: pmm /
logreg / polyreg), and the README's guarantees are checked:

- no missing values are left;
- every observed value is unchanged, bit for bit;
- dtypes, index and column order are kept;
- categorical and string imputations are observed categories, numeric ones
  observed values (the defaults are the pmm family); booleans True/False;
- cluster-level variables stay constant within clusters;
- the input is not modified;
- a column missing entirely is a ValueError that names it.

Each frame is also imputed with a method drawn per column from every method
that applies to it (``APPLICABLE``): there, numeric draws are finite and on
the scale of the data.

The examples are derandomized so CI is deterministic; ``test_imputer_properties_long``
is the same property with 10,000 examples (``pytest -m slow``).
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skmice import MultilevelIterativeImputer

MIN_OBSERVED = 3  # observed values kept in every column
CATEGORIES = ["lo", "mid", "hi"]
STRINGS = ["red", "green", "blue"]

COMMON_SETTINGS = dict(
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def two_level_frames(draw):
    """A small clustered DataFrame with mixed dtypes and structured missingness."""
    n_clusters = draw(st.integers(1, 8))
    max_size = max(1, 60 // n_clusters)
    sizes = draw(st.lists(st.integers(1, max_size), min_size=n_clusters, max_size=n_clusters))
    if sum(sizes) < 10:  # at least 10 rows: grow the last cluster
        sizes[-1] += 10 - sum(sizes)
    n = sum(sizes)
    g = np.repeat(np.arange(n_clusters), sizes)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)

    cluster_effect = rng.standard_normal(n_clusters)
    x = cluster_effect[g] + rng.standard_normal(n)
    label_kind = draw(st.sampled_from(["int", "str"]))
    labels = np.array([f"school{k}" for k in range(n_clusters)], dtype=object)
    columns = {
        "g": g if label_kind == "int" else labels[g],
        "x": x,  # float
        "xi": np.round(2 * x + rng.integers(0, 3, n)).astype(np.float64),  # int-valued float
        "b": pd.array(x + rng.standard_normal(n) > 0, dtype="boolean"),
        "c": pd.Categorical.from_codes(rng.integers(0, 3, n), categories=CATEGORIES),
        "s": np.asarray(STRINGS, dtype=object)[rng.integers(0, 3, n)],
        # cluster level: constant within clusters
        "w": np.round(10 + 3 * rng.standard_normal(n_clusters), 1)[g],
    }
    frame = pd.DataFrame(columns)

    # missingness, column by column (never the cluster column)
    for col in ["x", "xi", "b", "c", "s", "w"]:
        pattern = draw(st.sampled_from(["none", "cells", "clusters", "both"]))
        miss = np.zeros(n, dtype=bool)
        if pattern in ("clusters", "both"):
            gone = draw(st.lists(st.integers(0, n_clusters - 1), max_size=n_clusters, unique=True))
            miss |= np.isin(g, gone)
        if pattern in ("cells", "both"):
            p = draw(st.sampled_from([0.05, 0.2, 0.5, 0.8]))
            miss |= rng.random(n) < p
        observed = np.flatnonzero(~miss)
        if len(observed) < MIN_OBSERVED:  # keep a few observed values
            keep = rng.choice(n, MIN_OBSERVED, replace=False)
            miss[keep] = False
        if miss.any():
            frame.loc[miss, col] = np.nan if col in ("x", "xi", "w") else None
    # frame.loc with None keeps the dtypes of boolean/categorical/object columns
    assert frame["b"].dtype == "boolean" and isinstance(frame["c"].dtype, pd.CategoricalDtype)

    # shuffled rows (clusters not contiguous), a non-default index, shuffled columns
    rows = draw(st.permutations(range(n)))
    frame = frame.iloc[list(rows)]
    frame.index = pd.Index([f"r{i}" for i in draw(st.permutations(range(n)))])
    cols = draw(st.permutations(list(frame.columns)))
    return frame[list(cols)]


# every method that applies to each generated column (two-level data)
APPLICABLE = {
    "x": ["2l.pan", "2l.lmer", "2l.norm", "2l.pmm", "pmm", "norm"],
    "xi": ["2l.pan", "2l.norm", "2l.pmm", "pmm", "norm"],
    "b": ["2l.bin", "logreg"],
    "c": ["2l.polyreg", "polyreg"],
    "s": ["2l.polyreg", "polyreg"],
    "w": ["2lonly.mean", "2lonly.norm", "2lonly.pmm"],
}
DONOR_METHODS = {"2l.pmm", "pmm", "2lonly.pmm"}


@st.composite
def method_choices(draw):
    """One applicable method per column."""
    return {col: draw(st.sampled_from(options)) for col, options in APPLICABLE.items()}


def _same_bits(a: pd.Series, b: pd.Series) -> bool:
    """Observed values identical, bit for bit for floats."""
    if a.dtype == np.float64 and b.dtype == np.float64:
        return np.array_equal(a.to_numpy().view(np.uint64), b.to_numpy().view(np.uint64))
    return bool((a.astype(object).to_numpy() == b.astype(object).to_numpy()).all())


def _check_imputation(
    data: pd.DataFrame, out: pd.DataFrame, cluster=None, imputer=None, chosen_methods=False
):
    # shape, index, columns, dtypes
    assert isinstance(out, pd.DataFrame)
    pd.testing.assert_index_equal(out.index, data.index)
    pd.testing.assert_index_equal(out.columns, data.columns)
    pd.testing.assert_series_equal(out.dtypes, data.dtypes)
    # no missing values left
    assert not out.isna().any().any(), out.isna().sum()
    for col in data.columns:
        obs = data[col].notna().to_numpy()
        # observed values unchanged, bit for bit
        assert _same_bits(data.loc[obs, col], out.loc[obs, col]), col
        imputed = set(out.loc[~obs, col].tolist())
        chosen = None if imputer is None else imputer.method_names_.get(col)
        if data[col].dtype == np.float64 and chosen not in (None, "", *DONOR_METHODS):
            # norm, 2l.pan, 2l.norm, 2lonly.norm, 2lonly.mean: finite draws, on the data's
            # scale when the data say something about it (with a handful of observed
            # values the posterior predictive of a normal model is rightly heavy-tailed)
            values = out.loc[~obs, col].to_numpy()
            assert np.all(np.isfinite(values)), (col, chosen)
            units = data.loc[obs, cluster].nunique() if chosen.startswith("2lonly") else obs.sum()
            if units >= 15:
                spread = np.ptp(data.loc[obs, col].to_numpy()) + 1.0
                centre = data.loc[obs, col].mean()
                assert np.all(np.abs(values - centre) < 100 * spread), (col, chosen, values)
        elif data[col].dtype == "boolean":
            # logreg / 2l.bin may draw the unobserved value of a binary column
            assert imputed <= {True, False}, (col, imputed)
        else:
            # categorical and string imputations are observed categories; numeric ones
            # are donors (the defaults are the pmm family), so observed values too
            assert imputed <= set(data.loc[obs, col].tolist()), (col, imputed)
        if isinstance(data[col].dtype, pd.CategoricalDtype):
            pd.testing.assert_index_equal(out[col].cat.categories, data[col].cat.categories)
    if cluster is not None:
        # the cluster-level column: default method 2lonly.pmm when the data show it
        # (some cluster with two observed values), then constant within clusters
        w_obs = data.groupby(cluster)["w"].count()
        if (w_obs >= 2).any() and data["w"].isna().any() and not chosen_methods:
            assert imputer.method_names_["w"] == "2lonly.pmm"
        if imputer.method_names_["w"].startswith("2lonly"):
            assert (out.groupby(cluster)["w"].nunique() == 1).all()
        assert _same_bits(out[cluster], data[cluster])


def _run(frame: pd.DataFrame, seed: int, methods: dict | None = None):
    # two-level, default methods
    before = copy.deepcopy(frame)
    imp = MultilevelIterativeImputer(cluster="g", max_iter=2, random_state=seed)
    out = imp.fit_transform(frame)
    pd.testing.assert_frame_equal(frame, before)  # input not mutated
    _check_imputation(frame, out, cluster="g", imputer=imp)
    # same seed, same result
    again = MultilevelIterativeImputer(cluster="g", max_iter=2, random_state=seed)
    pd.testing.assert_frame_equal(again.fit_transform(frame), out)

    # single level: no cluster column
    flat = frame.drop(columns="g")
    before = copy.deepcopy(flat)
    imp1 = MultilevelIterativeImputer(max_iter=2, random_state=seed)
    out1 = imp1.fit_transform(flat)
    pd.testing.assert_frame_equal(flat, before)
    _check_imputation(flat, out1)

    # a whole column missing: a warning that names it, and the column left out
    col = ["x", "xi", "b", "c", "s", "w"][seed % 6]
    gone = frame.assign(**{col: frame[col].where(np.zeros(len(frame), dtype=bool))})
    with pytest.warns(UserWarning, match=rf"^Columns \['{col}'\] are entirely missing"):
        out3 = MultilevelIterativeImputer(cluster="g", max_iter=1,
                                          random_state=seed).fit_transform(gone)
    assert list(out3.columns) == [c for c in gone.columns if c != col]

    if methods is not None:
        # two-level, every column with a method drawn from those that apply
        incomplete = {c: m for c, m in methods.items() if frame[c].isna().any()}
        before = copy.deepcopy(frame)
        imp2 = MultilevelIterativeImputer(
            cluster="g", methods=incomplete, max_iter=2, random_state=seed
        )
        out2 = imp2.fit_transform(frame)
        pd.testing.assert_frame_equal(frame, before)
        _check_imputation(frame, out2, cluster="g", imputer=imp2, chosen_methods=True)


@settings(max_examples=200, **COMMON_SETTINGS)
@given(frame=two_level_frames(), seed=st.integers(0, 2**32 - 1), methods=method_choices())
def test_imputer_properties(frame, seed, methods):
    _run(frame, seed, methods)


@pytest.mark.slow
@settings(max_examples=10_000, **COMMON_SETTINGS)
@given(frame=two_level_frames(), seed=st.integers(0, 2**32 - 1), methods=method_choices())
def test_imputer_properties_long(frame, seed, methods):
    _run(frame, seed, methods)
