"""Gallery of skmice's diagnostic plots on the popularity data.

Looks at the data before imputing (missing-data pattern, correlations, a
check of MAR, the missingness associations and the ICC), at the imputation
model (predictor matrix), at convergence (traces, R-hat, ESS) and at the
imputations (observed against imputed values, overall and per school), and
saves every figure as a PNG.

Run it as a script::

    python examples/plot_gallery.py [OUT_DIR] [--full]

or import it and call ``main(out_dir, quick=True)``. ``quick`` uses 3
imputations of 12 iterations (a smoke test); ``--full`` 5 imputations of 20
iterations, as one would for real.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no window

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from skmice import MultilevelIterativeImputer, multiple_impute
from skmice.datasets import make_popularity
from skmice.demo import popularity_setup
from skmice.diagnostics import ess, icc, missingness_associations, rhat
from skmice.plotting import (
    plot_corr,
    plot_imputed,
    plot_missing_hist,
    plot_pattern,
    plot_pred,
    plot_trace,
)


def _save(obj, path: Path, dpi: int = 110) -> Path:
    """Save the figure of an Axes or a Figure and close it."""
    fig = obj if hasattr(obj, "savefig") else obj.figure
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def _with_more_missingness(data: pd.DataFrame, random_state: int = 1) -> pd.DataFrame:
    """The popularity data with further missing values, for a richer pattern plot.

    teachpop missing completely at random (15%), sex for 5% of pupils and
    texp (a school-level variable) for four whole schools.
    """
    rng = np.random.default_rng(random_state)
    out = data.copy()
    out.loc[rng.random(len(out)) < 0.15, "teachpop"] = np.nan
    out.loc[rng.random(len(out)) < 0.05, "sex"] = np.nan
    out.loc[out["school"].isin([3, 7, 11, 19]), "texp"] = np.nan
    return out


def _all_codes_matrix() -> pd.DataFrame:
    """A predictor matrix using every code, to show the legend of plot_pred."""
    cols = ["school", "popular", "sex", "texp", "extrav", "teachpop", "response"]
    pm = pd.DataFrame(0, index=cols, columns=cols)
    pm.loc["popular"] = [-2, 0, 2, 1, 4, 3, 0]
    pm.loc["extrav"] = [-2, 1, 1, 1, 0, 3, 0]
    pm.loc["teachpop"] = [-2, 3, 2, 1, 1, 0, 0]
    pm.loc["response"] = [-2, -4, 1, -3, 1, -3, 0]
    return pm


def main(out_dir=None, quick: bool = True, random_state: int = 2024, dpi: int = 110) -> list[Path]:
    """Draw every plot and save it as a PNG.

    Parameters
    ----------
    out_dir : str or Path, optional
        Where to write the figures (created if needed). Default: the
        directory ``gallery_output`` in the system's temporary directory.
    quick : bool, default=True
        3 imputations of 12 iterations instead of 5 of 20.
    random_state : int, default=2024
    dpi : int, default=110
        Resolution of the PNGs.

    Returns
    -------
    list of Path
        The files written (PNG figures and one CSV table).
    """
    out = Path(out_dir) if out_dir is not None else Path(tempfile.gettempdir()) / "gallery_output"
    out.mkdir(parents=True, exist_ok=True)
    m, max_iter = (3, 12) if quick else (5, 20)
    sim = make_popularity(random_state=0)
    data, pms = popularity_setup(sim.data)
    written = []

    def save(obj, name):
        written.append(_save(obj, out / name, dpi))

    # 1. Before imputing: the data
    save(plot_pattern(data), "01_pattern.png")
    rich = _with_more_missingness(sim.data.drop(columns="pupil"))
    save(plot_pattern(rich), "02_pattern_more_missingness.png")
    save(plot_corr(data.drop(columns="school"), label=True), "03_correlations.png")
    save(plot_missing_hist(data, "texp", by="popular"), "04_texp_by_missingness_of_popular.png")
    table = missingness_associations(data, cluster="school")
    table.to_csv(out / "missingness_associations.csv", index=False)
    written.append(out / "missingness_associations.csv")
    print("Which variables predict the missingness of popular:")
    shown = table.round(3).assign(p_value=table["p_value"].map("{:.2g}".format))
    print(shown.to_string(index=False))
    print(f"\nICC of popular (observed rows): {icc(data, 'popular', 'school'):.2f}")

    # 2. The imputation model
    imputer = MultilevelIterativeImputer(
        cluster="school",
        methods={"popular": "2l.pan"},
        predictor_matrix=pms["two_level"],
        max_iter=max_iter,
    )
    mi = multiple_impute(data, imputer, n_imputations=m, random_state=random_state)
    save(plot_pred(mi.imputers[0]), "05_predictor_matrix.png")
    save(plot_pred(_all_codes_matrix()), "06_predictor_codes.png")

    # 3. Convergence
    save(plot_trace(mi), "07_trace.png")
    summary = pd.DataFrame({"rhat": rhat(mi), "ess": ess(mi)})
    print("\nConvergence of the mean of the imputed values:")
    print(summary.round(2).to_string())

    # 4. The imputations
    for kind in ("density", "strip", "box", "hist"):
        save(plot_imputed(mi, "popular", kind=kind), f"08_imputed_{kind}.png")
    save(
        plot_imputed(mi, "popular", kind="density", clusters=3 if quick else 7),
        "09_imputed_density_by_school.png",
    )
    save(
        plot_imputed(mi, "popular", kind="strip", clusters=[1, 2, 3]),
        "10_imputed_strip_by_school.png",
    )
    print(f"\nWrote {len(written)} files to {out}")
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "out_dir", nargs="?", default=None, help="output directory (default: <tmp>/gallery_output)"
    )
    parser.add_argument(
        "--full", action="store_true", help="5 imputations of 20 iterations instead of 3 of 12"
    )
    args = parser.parse_args()
    main(args.out_dir, quick=not args.full)
