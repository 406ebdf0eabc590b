"""An IMPACT-like simulator: traumatic brain injury patients in 15 studies.

Re-exported as :func:`skmice.datasets.make_impact`.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ._random import as_seed_sequence

__all__ = ["make_impact"]

#: Study sizes of the full version (11,022 patients, 126 to 1,510 per study).
STUDY_SIZES = (1510, 1250, 1100, 900, 950, 900, 820, 780, 700, 600, 500, 400, 260, 226, 126)
#: Study type: randomised trials and observational studies (a study-level variable).
STUDY_TYPES = ("RCT",) * 8 + ("OBS",) * 7

MOTOR_LEVELS = ("1", "2", "3", "4", "5/6")
PUPIL_LEVELS = ("both", "one", "none")
CT_LEVELS = ("I", "II", "III/IV", "V/VI")

#: Coefficients of the mortality model (logit scale; reference categories:
#: motor score 1, both pupils reactive, CT class I; age per year).
TRUTH = {
    "Intercept": -2.5,
    "age": 0.03,
    "motor_score[T.2]": -0.3,
    "motor_score[T.3]": -0.7,
    "motor_score[T.4]": -1.1,
    "motor_score[T.5/6]": -1.6,
    "pupil[T.one]": 0.6,
    "pupil[T.none]": 1.2,
    "ct[T.II]": 0.4,
    "ct[T.III/IV]": 1.1,
    "ct[T.V/VI]": 1.0,
    "hypox": 0.4,
    "hypots": 0.7,
    "tsah": 0.8,
    "edh": -0.5,
}
#: Variance of the study random intercept of the mortality model.
VAR_STUDY = 0.1

#: Target missing fractions (the tutorial's induced missingness) and the
#: studies (0-based positions) where a variable is missing for every patient.
MISSING_RATES = {
    "pupil": 0.107,
    "ct": 0.237,
    "hypox": 0.230,
    "hypots": 0.119,
    "tsah": 0.183,
    "edh": 0.199,
}
SYSTEMATIC = {"ct": (6,), "hypox": (2, 11), "hypots": (12,)}


def _draw_category(rng, logits: np.ndarray) -> np.ndarray:
    """One category index per row from unnormalised log-probabilities (n, K)."""
    prob = np.exp(logits - logits.max(axis=1, keepdims=True))
    cum = np.cumsum(prob / prob.sum(axis=1, keepdims=True), axis=1)
    pick = (rng.random(logits.shape[0])[:, None] >= cum).sum(axis=1)
    return np.minimum(pick, logits.shape[1] - 1)


def _ordinal(rng, latent: np.ndarray, cuts) -> np.ndarray:
    """Ordered category from a latent variable plus logistic noise and cut points."""
    noisy = latent + rng.logistic(size=latent.shape[0])
    return np.searchsorted(np.asarray(cuts), noisy)


def make_impact(scale: float = 1.0, random_state=None) -> Bunch:
    """Simulated IMPACT-like data: 6-month mortality after traumatic brain injury.

    Patients in 15 studies of very different sizes (126 to 1,510; 11,022 in
    total at ``scale=1``), like the IMPACT data used in individual
    participant data meta-analysis tutorials (metamisc's ``impact``). Columns:

    - ``study``: the cluster (``"S01"`` to ``"S15"``); ``type``: ``"RCT"`` or
      ``"OBS"`` (a study-level categorical, complete);
    - ``age`` (years, complete) and ``motor_score`` (Glasgow motor score,
      categorical ``1, 2, 3, 4, 5/6``, complete);
    - ``pupil``: pupillary reactivity, ordered categorical ``both < one <
      none``; ``ct``: Marshall CT class, categorical ``I, II, III/IV, V/VI``;
    - ``hypox``, ``hypots``, ``tsah``, ``edh`` (hypoxia, hypotension,
      traumatic subarachnoid haemorrhage, epidural haematoma): binary 0/1;
    - ``mort``: 6-month mortality, 0/1, complete.

    The covariates share a latent injury severity and study effects (so they
    are correlated and clustered). Mortality follows the logistic model
    ``mort ~ age + motor_score + pupil + ct + hypox + hypots + tsah + edh +
    (1 | study)`` with the coefficients in ``truth`` and a study random
    intercept of variance 0.1.

    Missingness is multivariate and partly systematic, with the tutorial's
    overall fractions: pupil 10.7%, ct 23.7%, hypox 23.0%, hypots 11.9%,
    tsah 18.3%, edh 19.9%. ``ct`` is missing for every patient of one study,
    ``hypox`` of two, ``hypots`` of one (``systematic``); the other missing
    values are missing at random, more often for older patients and for
    those who died.

    Parameters
    ----------
    scale : float, default=1.0
        Multiplier of the study sizes (at least 10 patients per study), for
        small fast versions: ``scale=0.05`` gives about 560 patients.
    random_state : None, int or Generator
        Seed; the same seed gives the same data.

    Returns
    -------
    Bunch
        ``data`` (incomplete DataFrame), ``complete`` (before the deletion),
        ``truth`` (dict: the mortality model's coefficients, named as in a
        formula fit, and ``"var_study"``), ``cluster`` ("study"), ``formula``
        (the analysis model, lme4 style) and ``systematic`` (variable ->
        studies where it is missing entirely).

    Examples
    --------
    >>> from skmice.datasets import make_impact
    >>> b = make_impact(random_state=0)
    >>> b.data.shape, int(b.data["study"].nunique()), b.cluster
    ((11022, 11), 15, 'study')
    >>> round(float(b.data["ct"].isna().mean()), 2)
    0.23
    >>> small = make_impact(scale=0.05, random_state=0)
    >>> len(small.data) < 700
    True
    """
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not scale > 0:
        raise ValueError(f"scale must be a positive number, got {scale!r}.")
    rng = np.random.default_rng(as_seed_sequence(random_state))
    sizes = np.maximum(np.round(np.asarray(STUDY_SIZES) * scale).astype(np.int64), 10)
    n_studies = sizes.size
    study = np.repeat(np.arange(n_studies), sizes)
    n = study.size
    rct = np.array([t == "RCT" for t in STUDY_TYPES])[study]

    # study effects on the case mix; a latent injury severity per patient
    study_age = rng.normal(0, 4, n_studies)[study] - 4 * rct
    study_sev = rng.normal(0, 0.3, n_studies)[study]
    severity = rng.standard_normal(n) + study_sev + 0.2 * (~rct)
    age = np.clip(np.round(rng.normal(40, 16, n) + study_age), 14, 90)
    agez = (age - 40) / 16

    motor = _ordinal(rng, -1.2 * severity, [-2.2, -1.2, -0.3, 0.8])  # 0 = "1" (worst)
    pupil = _ordinal(rng, 1.0 * severity + 0.2 * agez, [0.9, 2.0])  # 0 = "both"
    ct_logits = np.column_stack(
        [np.zeros(n), 0.5 + 0.3 * severity, -0.3 + 0.9 * severity, -0.8 + 0.8 * severity]
    )
    ct = _draw_category(rng, ct_logits + rng.normal(0, 0.3, (n_studies, 4))[study])

    def binary(offset, slope, sd_study):
        lin = offset + slope * severity + rng.normal(0, sd_study, n_studies)[study]
        return (rng.random(n) < 1 / (1 + np.exp(-lin))).astype(np.float64)

    hypox = binary(-1.6, 0.4, 0.4)
    hypots = binary(-2.2, 0.5, 0.4)
    tsah = binary(-0.1, 0.5, 0.3)
    edh = binary(-1.7, 0.1, 0.3)

    coef = TRUTH
    lin = (
        coef["Intercept"]
        + coef["age"] * age
        + np.r_[0.0, [coef[f"motor_score[T.{v}]"] for v in MOTOR_LEVELS[1:]]][motor]
        + np.r_[0.0, [coef[f"pupil[T.{v}]"] for v in PUPIL_LEVELS[1:]]][pupil]
        + np.r_[0.0, [coef[f"ct[T.{v}]"] for v in CT_LEVELS[1:]]][ct]
        + coef["hypox"] * hypox
        + coef["hypots"] * hypots
        + coef["tsah"] * tsah
        + coef["edh"] * edh
        + rng.normal(0, np.sqrt(VAR_STUDY), n_studies)[study]
    )
    mort = (rng.random(n) < 1 / (1 + np.exp(-lin))).astype(np.int64)

    names = np.array([f"S{j + 1:02d}" for j in range(n_studies)], dtype=object)
    complete = pd.DataFrame(
        {
            "study": names[study],
            "type": pd.Categorical(
                np.array(STUDY_TYPES, dtype=object)[study], categories=["OBS", "RCT"]
            ),
            "age": age,
            "motor_score": pd.Categorical.from_codes(motor, categories=list(MOTOR_LEVELS)),
            "pupil": pd.Categorical.from_codes(pupil, categories=list(PUPIL_LEVELS), ordered=True),
            "ct": pd.Categorical.from_codes(ct, categories=list(CT_LEVELS)),
            "hypox": hypox,
            "hypots": hypots,
            "tsah": tsah,
            "edh": edh,
            "mort": mort,
        }
    )
    data = complete.copy()
    weight = np.exp(0.3 * agez + 0.4 * mort)
    systematic = {}
    for var, rate in MISSING_RATES.items():
        whole = np.isin(study, SYSTEMATIC.get(var, ()))
        systematic[var] = [str(names[j]) for j in SYSTEMATIC.get(var, ())]
        rest = rate * n - whole.sum()
        p = np.zeros(n)
        if rest > 0 and (~whole).any():
            w = weight[~whole]
            p[~whole] = np.clip(rest / w.sum() * w, 0.0, 0.95)
        data.loc[whole | (rng.random(n) < p), var] = np.nan
    formula = "mort ~ age + motor_score + pupil + ct + hypox + hypots + tsah + edh + (1 | study)"
    truth = dict(TRUTH, var_study=VAR_STUDY)
    return Bunch(
        data=data,
        complete=complete,
        truth=truth,
        cluster="study",
        formula=formula,
        systematic=systematic,
    )
