"""The datasets and models compared with lme4 and mitml (tests/reference/lme4_mixed.json).

Shared by the tests and ``benchmarks/make_lme4_reference.py``, which fits the
same models in R, so both sides read the same data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from skmice.datasets import make_popularity

REPO = Path(__file__).resolve().parents[2]
REFERENCE_JSON = REPO / "tests" / "reference" / "lme4_mixed.json"
TUTORIAL = "popular ~ sex * texp + (1 + sex | school)"
MODEL1 = "popular ~ 1 + sex + texp + sex:texp + extrav + (1 + sex | school)"

#: name -> (dataset, formula, reml)
FITS = {
    "popularity_reml": ("popularity", TUTORIAL, True),
    "popularity_ml": ("popularity", TUTORIAL, False),
    "popularity_incomplete": ("popularity_incomplete", TUTORIAL, True),
    "popularity_intercept": ("popularity", "popular ~ sex + texp + (1 | school)", True),
    "popularity_slope_only": ("popularity", "popular ~ sex + texp + (0 + sex | school)", True),
    "popularity_uncorrelated": ("popularity", "popular ~ sex * texp + (1 + sex || school)", True),
    "popularity_categorical": (
        "popularity",
        "popular ~ texpcat * sex + teachpop + (1 + sex | school)",
        True,
    ),
    "popularity_no_intercept": (
        "popularity",
        "popular ~ 0 + texpcat + sex + (1 | school)",
        True,
    ),
    "popularity_near_boundary": ("popularity", "popular ~ sex + (1 + noise | school)", True),
    "popularity_singular": ("popularity", "within ~ sex + (1 + sex | school)", True),
    "ref_a_full_model1": ("ref_a_full", MODEL1, True),
    "ref_a_full_model1_ml": ("ref_a_full", MODEL1, False),
    "ref_a_full_q3": ("ref_a_full", "popular ~ sex + texp + extrav + (1 + sex + extrav | school)",
                      True),
    "ref_a_incomplete_model1": ("ref_a", MODEL1, True),
}

#: name -> formula, fitted to every dataset of mitml_imputations() and pooled by mitml
POOLS = {"popularity_mitml": TUTORIAL}


def _shared_reference() -> Path | None:
    for base in (REPO.parent / "shared" / "reference", REPO / "shared" / "reference"):
        if base.exists():
            return base
    return None


def dataset(name: str) -> pd.DataFrame | None:
    """One of the datasets (None when the shared R reference data are absent)."""
    if name.startswith("popularity"):
        sim = make_popularity(random_state=0)
        data = sim.complete if name == "popularity" else sim.data
        data = data.drop(columns="pupil")
        texp = data["texp"].to_numpy()
        data["texpcat"] = np.where(texp < 10, "low", np.where(texp < 18, "mid", "high"))
        # pure noise: its random slope has a variance estimated at (or near) 0
        data["noise"] = np.random.default_rng(7).normal(size=len(data))
        # no variance between schools at all: a singular fit
        data["within"] = data["noise"] - data.groupby("school")["noise"].transform("mean")
        return data
    base = _shared_reference()
    if base is None or not (base / f"{name}.csv").exists():
        return None
    return pd.read_csv(base / f"{name}.csv")


def mitml_imputations(m: int = 5) -> list:
    """m completed versions of the incomplete popularity data (synthetic imputations).

    The missing ``popular`` values get the true value plus noise, a different
    draw per dataset: what matters here is that R and skmice analyse the same
    m datasets.
    """
    sim = make_popularity(random_state=1)
    data = sim.data.drop(columns="pupil")
    missing = data["popular"].isna().to_numpy()
    truth = sim.complete["popular"].to_numpy()
    rng = np.random.default_rng(2024)
    out = []
    for _ in range(m):
        d = data.copy()
        d.loc[missing, "popular"] = truth[missing] + rng.normal(0.0, 0.5, missing.sum())
        out.append(d)
    return out
