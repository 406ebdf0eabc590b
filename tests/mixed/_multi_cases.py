"""Models with several grouping factors compared with lme4 and mitml.

The numbers are in tests/reference/lme4_multi.json, written by
``python benchmarks/make_lme4_reference.py`` (which fits the same models in
R on the same data). The datasets come from skmice's simulators with fixed
seeds; the multiply imputed three-level dataset is stored
(tests/reference/three_level_imputations.csv: the imputed values of ``y``)
so that R and the tests analyse the same m datasets whatever the imputer
does later.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from skmice._sim_levels import make_crossed, make_three_level

from ._cases import REPO

MULTI_JSON = REPO / "tests" / "reference" / "lme4_multi.json"
IMPUTATIONS_CSV = REPO / "tests" / "reference" / "three_level_imputations.csv"

NESTED = "y ~ x + class_size + school_ses + (1 | school/class)"
CROSSED = "y ~ x + school_ses + deprivation + (1 | school) + (1 | neighbourhood)"

#: name -> (dataset, formula, reml)
MULTI_FITS = {
    "nested_reml": ("three_level", NESTED, True),
    "nested_ml": ("three_level", NESTED, False),
    "nested_unique_ids": ("three_level", "y ~ x + class_size + (1 | school) + (1 | class)", True),
    "nested_slope": (
        "three_level", "y ~ x + school_ses + (1 + x | school) + (1 | school:class)", True,
    ),
    "nested_slope_ml": (
        "three_level", "y ~ x + school_ses + (1 + x | school) + (1 | school:class)", False,
    ),
    "crossed_reml": ("crossed", CROSSED, True),
    "crossed_ml": ("crossed", CROSSED, False),
    "crossed_slope": ("crossed", "y ~ x + (1 + x | school) + (1 | neighbourhood)", True),
    "crossed_few_levels": (
        "crossed", "y ~ x + (1 | school) + (1 | neighbourhood) + (1 | region)", True,
    ),
    "crossed_uncorrelated": ("crossed", "y ~ x + (1 + x || school) + (1 | neighbourhood)", True),
}

#: name -> formula, fitted to every dataset of three_level_imputations() and pooled by mitml
MULTI_POOLS = {
    "three_level_mitml": NESTED,
    "three_level_slope_mitml": "y ~ x + school_ses + (1 + x | school) + (1 | class)",
}


def multi_dataset(name: str) -> pd.DataFrame:
    """One of the datasets of :data:`MULTI_FITS`."""
    if name == "three_level":
        sim = make_three_level(n_schools=25, n_classes=4, n_pupils=10, var_slope=0.08,
                               random_state=3)
        return sim.complete.drop(columns="pupil")
    if name == "crossed":
        data = make_crossed(n_rows=1200, n_schools=30, n_neighbourhoods=20,
                            random_state=4).complete
        rng = np.random.default_rng(11)
        # random slopes of x over schools, and a third factor of four levels
        school = pd.factorize(data["school"], sort=True)[0]
        region = rng.integers(0, 4, len(data))
        data["y"] = (data["y"] + rng.normal(0.0, 0.3, school.max() + 1)[school] * data["x"]
                     + np.array([-0.3, 0.0, 0.1, 0.35])[region])
        data["region"] = np.array(["north", "east", "south", "west"])[region]
        return data
    raise KeyError(name)


def three_level_incomplete(random_state: int = 5) -> pd.DataFrame:
    """The small incomplete three-level dataset that is multiply imputed."""
    sim = make_three_level(n_schools=20, n_classes=4, n_pupils=8, random_state=random_state)
    return sim.data.drop(columns="pupil")


def impute_three_level(m: int = 5) -> list:
    """m completed datasets from skmice's ``ml.pmm`` with ``cluster=["class", "school"]``."""
    from skmice import MultilevelIterativeImputer, multiple_impute

    imputer = MultilevelIterativeImputer(cluster=["class", "school"], max_iter=5)
    mi = multiple_impute(three_level_incomplete(), imputer, n_imputations=m, random_state=0)
    return list(mi.imputations)


def three_level_imputations() -> list:
    """The stored m completed datasets (the incomplete data filled from the CSV)."""
    data = three_level_incomplete()
    stored = pd.read_csv(IMPUTATIONS_CSV)
    out = []
    for _, block in stored.groupby(".imp", sort=True):
        d = data.copy()
        d.loc[block["row"].to_numpy(), "y"] = block["y"].to_numpy()
        out.append(d)
    return out


def store_imputations(datasets: list) -> None:
    """Write the imputed values of ``y`` of ``datasets`` to :data:`IMPUTATIONS_CSV`."""
    missing = np.flatnonzero(three_level_incomplete()["y"].isna().to_numpy())
    frames = [
        pd.DataFrame({".imp": i, "row": missing, "y": d["y"].to_numpy()[missing]})
        for i, d in enumerate(datasets, start=1)
    ]
    pd.concat(frames, ignore_index=True).to_csv(IMPUTATIONS_CSV, index=False,
                                                float_format="%.17g")
