import importlib.util
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from skmice import MultilevelIterativeImputer, multiple_impute
from skmice.datasets import make_popularity
from skmice.demo import popularity_setup
from skmice.diagnostics import md_pattern, missingness_test, rhat
from skmice.plotting import (
    MISSING_COLOR,
    OBSERVED_COLOR,
    plot_corr,
    plot_imputed,
    plot_missing_hist,
    plot_pattern,
    plot_pred,
    plot_trace,
)

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- #
# Fixtures and helpers
# --------------------------------------------------------------------------- #
@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def popularity():
    sim = make_popularity(random_state=0)
    data, pms = popularity_setup(sim.data)
    return data, pms


@pytest.fixture(scope="module")
def mi(popularity):
    data, pms = popularity
    imputer = MultilevelIterativeImputer(
        cluster="school",
        methods={"popular": "2l.pan"},
        predictor_matrix=pms["two_level"],
        max_iter=6,
    )
    return multiple_impute(data, imputer, n_imputations=3, random_state=0)


@pytest.fixture(scope="module")
def rich():
    """Popularity data with missing values in four variables (several patterns)."""
    data = make_popularity(random_state=0).data.drop(columns="pupil")
    rng = np.random.default_rng(1)
    data.loc[rng.random(len(data)) < 0.15, "teachpop"] = np.nan
    data.loc[rng.random(len(data)) < 0.05, "sex"] = np.nan
    data.loc[data["school"].isin([3, 7]), "texp"] = np.nan
    return data


def _figure(obj) -> Figure:
    return obj if isinstance(obj, Figure) else obj.figure


def _render(obj, path: Path) -> np.ndarray:
    """Save to PNG, reload, check the picture is not blank; return the RGB pixels."""
    _figure(obj).savefig(path, dpi=60)
    img = mpimg.imread(path)[..., :3]
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    assert img.var() > 0.01  # not a blank canvas
    assert (img.min(axis=2) < 0.9).mean() > 0.02  # some ink on the page
    return img


def _share_of_color(img: np.ndarray, color: str, tol: float = 0.04) -> float:
    return float((np.abs(img - np.array(to_rgb(color))).max(axis=2) < tol).mean())


def _drawn_ticklabels(axis):
    lo, hi = sorted(axis.get_view_interval())
    out = []
    for tick in axis.get_major_ticks():
        if lo - 1e-9 <= tick.get_loc() <= hi + 1e-9:
            out += [
                lab for lab in (tick.label1, tick.label2) if lab.get_visible() and lab.get_text()
            ]
    return out


def _check_layout(obj):
    """Every label is inside the figure and no two tick labels of an axis overlap."""
    fig = _figure(obj)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        for a in [ax, *ax.child_axes]:
            for axis in (a.xaxis, a.yaxis):
                labels = _drawn_ticklabels(axis)
                boxes = [t.get_window_extent(renderer) for t in labels]
                for i in range(len(boxes)):
                    for j in range(i + 1, len(boxes)):
                        inter = boxes[i].intersection(boxes[i], boxes[j])
                        overlap = 0.0 if inter is None else inter.width * inter.height
                        assert overlap < 2.0, (labels[i].get_text(), labels[j].get_text())
            texts = _drawn_ticklabels(a.xaxis) + _drawn_ticklabels(a.yaxis)
            texts += [a.xaxis.label, a.yaxis.label, a.title]
            for t in texts:
                if not t.get_visible() or not t.get_text():
                    continue
                b = t.get_window_extent(renderer)
                assert b.x0 >= -1 and b.y0 >= -1, t.get_text()
                assert b.x1 <= width + 1 and b.y1 <= height + 1, t.get_text()
        legend = ax.get_legend()
        if legend is not None:
            b = legend.get_window_extent(renderer)
            assert b.x0 >= -1 and b.y0 >= -1 and b.x1 <= width + 1 and b.y1 <= height + 1


def _texts(labels) -> list[str]:
    return [t.get_text() for t in labels]


# --------------------------------------------------------------------------- #
# Optional dependency
# --------------------------------------------------------------------------- #
def test_matplotlib_is_optional():
    # skmice.plotting imports without matplotlib (and does not import it); drawing
    # without it raises an ImportError that says how to install it
    code = (
        "import sys\n"
        "import skmice, skmice.plotting, skmice.diagnostics\n"
        "print('matplotlib' in sys.modules)\n"
        "sys.modules['matplotlib'] = None\n"
        "import pandas as pd\n"
        "try:\n"
        "    skmice.plotting.plot_pattern(pd.DataFrame({'a': [1.0, None], 'b': [1, 2]}))\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    first, second = out.stdout.strip().splitlines()
    assert first == "False"
    assert "pip install 'skmice[plot]'" in second


# --------------------------------------------------------------------------- #
# plot_pattern
# --------------------------------------------------------------------------- #
def test_plot_pattern_margins_match_md_pattern(rich, tmp_path):
    table = md_pattern(rich)
    ax = plot_pattern(rich)
    img = _render(ax, tmp_path / "pattern.png")
    _check_layout(ax)
    # left: pattern counts; right: missing per pattern; top: names; bottom: totals
    assert _texts(ax.get_yticklabels()) == [str(c) for c in table.index[:-1]]
    top, right = ax.child_axes
    assert _texts(top.get_xticklabels()) == [str(c) for c in table.columns[:-1]]
    assert _texts(right.get_yticklabels()) == [str(v) for v in table.iloc[:-1, -1]]
    assert _texts(ax.get_xticklabels()) == [str(v) for v in table.iloc[-1, :-1]]
    assert f"total {table.iloc[-1, -1]}" in ax.get_xlabel()
    assert _texts(ax.get_legend().get_texts()) == ["observed", "missing"]
    # the cells really are drawn in the two colours, in proportion to the table
    body = table.iloc[:-1, :-1].to_numpy()
    blue, red = _share_of_color(img, OBSERVED_COLOR), _share_of_color(img, MISSING_COLOR)
    assert blue > 0.05 and red > 0.02
    assert blue / red == pytest.approx(body.sum() / (body.size - body.sum()), rel=0.35)


def test_plot_pattern_complete_data_and_max_patterns(tmp_path):
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0]})
    ax = plot_pattern(X)
    _render(ax, tmp_path / "complete.png")
    assert _texts(ax.get_yticklabels()) == ["3"]
    rng = np.random.default_rng(0)
    Y = pd.DataFrame(rng.normal(size=(400, 8))).mask(rng.random((400, 8)) < 0.25)
    n_all = md_pattern(Y).shape[0] - 1
    ax = plot_pattern(Y, max_patterns=10)
    assert len(ax.get_yticklabels()) == 10
    assert f"10 most frequent of {n_all} patterns" in ax.get_xlabel()
    counts = [int(t) for t in _texts(ax.get_yticklabels())]
    assert sorted(counts, reverse=True)[:10] == sorted(counts, reverse=True)
    assert min(counts) >= sorted(md_pattern(Y).index[:-1], reverse=True)[9]
    _check_layout(ax)
    with pytest.raises(ValueError, match="max_patterns"):
        plot_pattern(Y, max_patterns=0)


# --------------------------------------------------------------------------- #
# plot_corr
# --------------------------------------------------------------------------- #
def test_plot_corr_values_and_labels(rich, tmp_path):
    cols = ["popular", "sex", "texp", "teachpop"]
    ax = plot_corr(rich, label=True, columns=cols)
    _render(ax, tmp_path / "corr.png")
    _check_layout(ax)
    assert _texts(ax.get_xticklabels()) == cols
    expected = rich[cols].corr()  # pairwise complete
    texts = sorted(float(t.get_text()) for t in ax.texts)
    off_diagonal = expected.to_numpy()[~np.eye(4, dtype=bool)]
    np.testing.assert_allclose(texts, np.sort(np.round(off_diagonal, 2)), atol=0.006)
    assert "pairwise" in ax.figure.axes[-1].get_ylabel()  # the colour bar
    ax = plot_corr(rich[cols], diagonal=True)
    assert len(ax.texts) == 0
    assert np.isfinite(ax.images[0].get_array().filled(np.nan)).all()


def test_plot_corr_categorical_by_codes():
    X = pd.DataFrame(
        {
            "g": pd.Categorical(["a", "b", "a", "b", None, "a"]),
            "x": [0.0, 1.0, 0.1, 0.9, 0.5, np.nan],
        }
    )
    ax = plot_corr(X, label=True)
    assert float(ax.texts[0].get_text()) > 0.9
    with pytest.raises(ValueError, match="columns"):
        plot_corr(X, columns=["nope"])


# --------------------------------------------------------------------------- #
# plot_pred
# --------------------------------------------------------------------------- #
def test_plot_pred_all_codes(tmp_path):
    cols = ["school", "y", "x1", "x2", "x3", "z"]
    pm = pd.DataFrame(0, index=cols, columns=cols)
    pm.loc["y"] = [-2, 0, 1, 2, 3, 4]
    pm.loc["z"] = [-2, -4, -3, 1, 1, 0]
    ax = plot_pred(pm)
    img = _render(ax, tmp_path / "pred.png")
    _check_layout(ax)
    assert sorted(t.get_text() for t in ax.texts) == sorted(
        ["-2", "1", "2", "3", "4", "-2", "-4", "-3", "1", "1"]
    )
    legend = _texts(ax.get_legend().get_texts())
    assert [s.split()[0] for s in legend] == ["1", "2", "3", "4", "-2", "-3", "-4", "0"]
    assert "cluster identifier" in legend[4]
    assert _texts(ax.get_yticklabels()) == cols
    assert ax.get_ylabel() == "Imputation model for"
    for color in ("#56B4E9", "#0072B2", "#3B3B3B", "#E69F00"):  # codes 1, 2, -2, -3
        assert _share_of_color(img, color) > 0.002


def test_plot_pred_from_imputer_shows_methods(mi, tmp_path):
    ax = plot_pred(mi.imputers[0])
    _render(ax, tmp_path / "pred_imputer.png")
    _check_layout(ax)
    (right,) = ax.child_axes
    methods = _texts(right.get_yticklabels())
    rows = _texts(ax.get_yticklabels())
    assert methods[rows.index("popular")] == "2l.pan"
    assert sorted(t.get_text() for t in ax.texts) == ["-2", "1", "1", "1", "2"]
    # a MultiplyImputedData uses its first imputer
    ax2 = plot_pred(mi)
    assert sorted(t.get_text() for t in ax2.texts) == ["-2", "1", "1", "1", "2"]


def test_plot_pred_validation():
    with pytest.raises(ValueError, match="square"):
        plot_pred(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="unknown codes"):
        plot_pred(np.array([[0, 7], [1, 0]]))
    with pytest.raises(ValueError, match="not fitted"):
        plot_pred(MultilevelIterativeImputer())
    with pytest.raises(ValueError, match="entries"):
        plot_pred(np.array([[0, 1], [1, 0]]), method=["pmm"])


# --------------------------------------------------------------------------- #
# plot_missing_hist
# --------------------------------------------------------------------------- #
def test_plot_missing_hist_reports_the_test(popularity, tmp_path):
    data, _ = popularity
    ax = plot_missing_hist(data, "texp", by="popular")
    _render(ax, tmp_path / "hist.png")
    _check_layout(ax)
    expected = missingness_test(data, "texp", "popular")
    assert ax.get_title() == f"texp by missingness of popular\n{expected}"
    assert expected.p_value < 1e-4  # texp predicts missingness of popular (MAR)
    legend = _texts(ax.get_legend().get_texts())
    n_mis = int(data["popular"].isna().sum())
    assert f"popular missing (n = {n_mis:,})" in legend
    assert f"popular observed (n = {len(data) - n_mis:,})" in legend
    # one bar per value of the integer-valued texp, in each group
    n_values = data["texp"].max() - data["texp"].min() + 1
    assert len(ax.patches) >= 2 * n_values


def test_plot_missing_hist_permutation_and_no_test(popularity):
    data, _ = popularity
    ax = plot_missing_hist(
        data, "teachpop", "popular", test="permutation", n_permutations=499, random_state=1
    )
    assert "Permutation test (499 permutations)" in ax.get_title()
    ax = plot_missing_hist(data, "teachpop", "popular", test=None, bins=10, density=True)
    assert ax.get_title() == "teachpop by missingness of popular"
    assert ax.get_ylabel() == "Density"
    with pytest.raises(TypeError, match="numeric"):
        plot_missing_hist(data.assign(s=data["sex"].map({0: "b", 1: "g"})), "s", "popular")
    with pytest.raises(ValueError, match="not a column"):
        plot_missing_hist(data, "texp", "nope", test=None)


# --------------------------------------------------------------------------- #
# plot_trace
# --------------------------------------------------------------------------- #
def test_plot_trace_grid_and_rhat(mi, tmp_path):
    fig = plot_trace(mi)
    assert isinstance(fig, Figure)
    _render(fig, tmp_path / "trace.png")
    _check_layout(fig)
    assert len(fig.axes) == 2  # one variable: mean and sd
    r = rhat(mi)["popular"]
    assert fig.axes[0].get_title() == f"popular: mean (R-hat {r:.2f})"
    assert fig.axes[1].get_title().startswith("popular: sd (R-hat")
    for ax in fig.axes:
        assert len(ax.get_lines()) == 3  # one line per chain
        assert len(ax.get_lines()[0].get_xdata()) == 6  # one point per iteration
        assert ax.get_xlabel() == "Iteration"
    trace = mi.trace_
    np.testing.assert_allclose(
        fig.axes[0].get_lines()[1].get_ydata(), trace.loc[trace["chain"] == 2, "mean"]
    )
    assert _texts(fig.legends[0].get_texts()) == ["chain 1", "chain 2", "chain 3"]


def test_plot_trace_inputs(mi, rich):
    fig = plot_trace(mi.imputers[0], statistics="mean")  # one chain: no R-hat
    assert len(fig.axes) == 1 and fig.axes[0].get_title() == "popular: mean"
    imp = MultilevelIterativeImputer(max_iter=4, random_state=0).fit(rich.drop(columns="school"))
    fig = plot_trace(imp.trace_, variables=["sex", "teachpop"])
    assert [ax.get_title() for ax in fig.axes] == [
        "sex: mean",
        "sex: sd",
        "teachpop: mean",
        "teachpop: sd",
    ]
    with pytest.raises(ValueError, match="no trace"):
        plot_trace(mi, variables=["texp"])
    with pytest.raises(ValueError, match="statistics"):
        plot_trace(mi, statistics=("median",))
    with pytest.raises(TypeError, match="MultiplyImputedData"):
        plot_trace(42)


# --------------------------------------------------------------------------- #
# plot_imputed
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("kind", ["density", "strip", "box", "hist"])
def test_plot_imputed_kinds(mi, kind, tmp_path):
    ax = plot_imputed(mi, "popular", kind=kind)
    img = _render(ax, tmp_path / f"imputed_{kind}.png")
    _check_layout(ax)
    n_mis = int(mi.data["popular"].isna().sum())
    assert ax.get_title() == (
        f"popular: {len(mi.data) - n_mis:,} observed, {n_mis:,} imputed per imputation"
    )
    assert _texts(ax.get_legend().get_texts())[0] == "observed"
    blue = (img[..., 2] - img[..., 0] > 0.2).mean()  # observed: blue, imputed: red
    red = (img[..., 0] - img[..., 2] > 0.2).mean()
    assert blue > 0.001 and red > 0.001
    if kind == "density":
        lines = ax.get_lines()
        assert len(lines) == 1 + mi.n_imputations
        assert [to_rgb(ln.get_color()) for ln in lines].count(to_rgb(OBSERVED_COLOR)) == 1
    elif kind == "strip":
        assert _texts(ax.get_xticklabels()) == ["obs", "1", "2", "3"]
        # observed points at 0; at k: the observed (faint) and the imputed values
        sizes = [len(c.get_offsets()) for c in ax.collections]
        assert sizes == [len(mi.data) - n_mis] + [len(mi.data) - n_mis, n_mis] * 3
        imputed_1 = ax.collections[2].get_offsets()[:, 1]
        np.testing.assert_allclose(
            np.sort(imputed_1),
            np.sort(mi.complete(1)["popular"].to_numpy()[mi.data["popular"].isna()]),
        )
    elif kind == "box":
        assert _texts(ax.get_xticklabels()) == ["obs", "1", "2", "3"]
        assert len(ax.patches) == 1 + mi.n_imputations
    else:
        assert len(ax.patches) > 10


def test_plot_imputed_per_cluster(mi, tmp_path):
    fig = plot_imputed(mi, "popular", clusters=5)
    assert isinstance(fig, Figure)
    _render(fig, tmp_path / "clusters.png")
    _check_layout(fig)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 6
    titles = [ax.get_title() for ax in visible]
    assert titles[0] == "all clusters"
    data = mi.data
    for k, title in zip(range(1, 6), titles[1:]):
        rows = data["school"] == k
        n_mis = int(data.loc[rows, "popular"].isna().sum())
        assert title == f"school {k}: {int(rows.sum()) - n_mis} observed, {n_mis} imputed"
    fig = plot_imputed(mi, "popular", kind="box", clusters=[10, 20], ncols=2)
    titles = [ax.get_title().split(":")[0] for ax in fig.axes if ax.get_visible()]
    assert titles == ["all clusters", "school 10", "school 20"]
    _check_layout(fig)


def test_plot_imputed_validation(mi):
    with pytest.raises(ValueError, match="kind"):
        plot_imputed(mi, "popular", kind="violin")
    with pytest.raises(ValueError, match="no missing"):
        plot_imputed(mi, "texp")
    with pytest.raises(ValueError, match="not ids"):
        plot_imputed(mi, "popular", clusters=[99999])
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="ax cannot"):
        plot_imputed(mi, "popular", clusters=2, ax=ax)
    with pytest.raises(TypeError, match="MultiplyImputedData"):
        plot_imputed(mi.data, "popular")


def test_plot_imputed_categorical(tmp_path):
    rng = np.random.default_rng(0)
    n = 200
    x = rng.normal(size=n)
    g = np.where(x + rng.normal(size=n) > 0, "high", "low").astype(object)
    X = pd.DataFrame({"x": x, "g": pd.Categorical(g)})
    X.loc[rng.random(n) < 0.3, "g"] = np.nan
    mi = multiple_impute(X, MultilevelIterativeImputer(max_iter=2), 2, random_state=0)
    ax = plot_imputed(mi, "g")
    _render(ax, tmp_path / "categorical.png")
    assert _texts(ax.get_xticklabels()) == ["high", "low"]
    heights = [p.get_height() for p in ax.patches]
    assert len(heights) == 4
    assert sum(heights[:2]) == pytest.approx(1.0) and sum(heights[2:]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="categorical"):
        plot_imputed(mi, "g", kind="box")


def test_plot_imputed_cluster_column_needed(tmp_path):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"c": np.repeat([1, 2, 3], 20), "x": rng.normal(size=60)})
    X["y"] = X["x"] + rng.normal(size=60)
    X.loc[::3, "y"] = np.nan
    mi = multiple_impute(X, MultilevelIterativeImputer(max_iter=2), 2, random_state=0)
    with pytest.raises(ValueError, match="cluster="):
        plot_imputed(mi, "y", clusters=2)
    fig = plot_imputed(mi, "y", kind="hist", clusters=2, cluster="c")
    assert [ax.get_title().split(":")[0] for ax in fig.axes if ax.get_visible()] == [
        "all clusters",
        "c 1",
        "c 2",
    ]


# --------------------------------------------------------------------------- #
# The gallery example
# --------------------------------------------------------------------------- #
def test_gallery_example_runs(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "plot_gallery", REPO / "examples" / "plot_gallery.py"
    )
    gallery = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gallery)
    written = gallery.main(tmp_path / "out", quick=True, dpi=40)
    pngs = [p for p in written if p.suffix == ".png"]
    assert len(pngs) >= 10
    for path in pngs:
        assert path.exists()
        img = mpimg.imread(path)[..., :3]
        assert img.var() > 0.01, path.name
    table = pd.read_csv(tmp_path / "out" / "missingness_associations.csv")
    assert {"sex", "texp", "school"} <= set(table["predictor"])
