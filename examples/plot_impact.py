"""
Mortality after brain injury: multivariate, systematically missing predictors
=============================================================================

The third case of the tutorial: an individual participant data
meta-analysis. Patients with traumatic brain injury in 15 studies of very
different sizes (IMPACT-like data from
:func:`skmice.datasets.make_impact`); the outcome is 6-month mortality,
modelled as ``mort ~ age + motor_score + pupil + ct + hypox + hypots + tsah
+ edh + (1 | study)``.

Six predictors are incomplete, of three kinds: an ordered categorical
(``pupil``), an unordered categorical (``ct``, the Marshall CT class) and
four binary ones (``hypox``, ``hypots``, ``tsah``, ``edh``). Some are
*systematically* missing: ``ct`` was not recorded at all in one study,
``hypox`` in two and ``hypots`` in one. Complete-case analysis therefore
drops whole studies, and more than half of the patients.

We

1. show the missing-data pattern (:func:`skmice.diagnostics.md_pattern`,
   and :func:`skmice.plotting.plot_pattern` saved as a PNG when an output
   directory is given and matplotlib is available);
2. impute with the default methods for clustered data
   (:func:`skmice.make_methods` with ``cluster="study"``: ``2l.pmm`` for the
   ordered ``pupil``, ``2l.polyreg`` for ``ct``, ``2l.bin`` for the binary
   variables). The two-level models borrow strength across studies, so a
   variable missing in a whole study is imputed from the other studies'
   relation to the observed covariates plus a study effect drawn from its
   distribution;
3. fit the mortality model on every completed dataset and pool by Rubin's
   rules (``mi.analyze(fit).pool()``), against the fit on the complete data
   (before the deletion) and the complete cases, and the simulator's true
   coefficients.

For brevity the analysis model here is an ordinary logistic regression
(statsmodels ``GLM`` with a binomial family) with the fixed part of the
formula; the study random intercept of the true model (variance 0.1) is
left out. A random-intercept logistic model (e.g. statsmodels'
``BinomialBayesMixedGLM`` or R's ``lme4::glmer``) would be the proper
analysis, but it is not needed to show the imputation: all three columns
of the table are fitted with the same model, so they are comparable (the
coefficients of the marginal model are slightly attenuated relative to the
conditional truth).

Run it as a script (``python examples/plot_impact.py [OUT_DIR]``) or import
it and call ``main(quick=True)`` for a small smoke run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from skmice import MultilevelIterativeImputer, make_methods, multiple_impute
from skmice.datasets import make_impact
from skmice.diagnostics import md_pattern

# %%
# The data and the missing-data pattern
# -------------------------------------
# ``scale`` multiplies the study sizes: 11,022 patients at ``scale=1``, a few
# hundred with ``quick``.


def load(quick: bool = False, random_state: int = 2024):
    """The simulated data (a Bunch; see :func:`skmice.datasets.make_impact`)."""
    return make_impact(scale=0.05 if quick else 1.0, random_state=random_state)


def fixed_formula(formula: str) -> str:
    """The fixed part of an lme4-style formula (drops the ``(... | ...)`` terms)."""
    lhs, rhs = formula.split("~", 1)
    terms = [t.strip() for t in rhs.split("+") if "|" not in t]
    return f"{lhs.strip()} ~ {' + '.join(terms)}"


def show_pattern(data: pd.DataFrame, out_dir=None) -> pd.DataFrame:
    """Print the missing-data pattern; save its plot to ``out_dir`` if given."""
    pattern = md_pattern(data)
    print("Missing-data pattern (1 observed, 0 missing; rows: number of patients):")
    with pd.option_context("display.width", 200, "display.max_rows", 60):
        print(pattern.to_string())
    if out_dir is not None:
        try:
            import matplotlib.pyplot as plt

            from skmice.plotting import plot_pattern
        except ImportError:
            return pattern
        ax = plot_pattern(data.drop(columns=["study"]))
        fig = ax if hasattr(ax, "savefig") else ax.figure
        path = Path(out_dir) / "impact_pattern.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        print(f"saved {path}")
    return pattern


# %%
# The analysis model
# ------------------


def fit_mortality(frame: pd.DataFrame, formula: str):
    """Logistic regression of mortality (fixed effects only)."""
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    return smf.glm(formula, data=frame, family=sm.families.Binomial()).fit()


# %%
# Impute, analyse, pool
# ---------------------


def compare(quick: bool = False, random_state: int = 2024, n_jobs=None) -> pd.DataFrame:
    """Pooled mortality model against the complete data and the complete cases.

    Parameters
    ----------
    quick : bool, default=False
        2 imputations of 3 iterations on about 560 patients instead of 10
        imputations of 10 iterations on 11,022.
    random_state : int, default=2024
    n_jobs : int, optional
        Imputation chains run in parallel (joblib).

    Returns
    -------
    DataFrame
        Rows: the model's coefficients; columns: the truth, the complete data,
        the complete cases, the pooled estimate with its standard error and
        fraction of missing information.
    """
    m, max_iter = (2, 3) if quick else (10, 10)
    bunch = load(quick, random_state)
    formula = fixed_formula(bunch.formula)
    methods = make_methods(bunch.data, cluster=bunch.cluster)
    print("\nImputation methods:", {k: v for k, v in methods.items() if v})
    imputer = MultilevelIterativeImputer(cluster=bunch.cluster, methods=methods, max_iter=max_iter)
    mi = multiple_impute(
        bunch.data, imputer, n_imputations=m, n_jobs=n_jobs, random_state=random_state
    )
    pooled = mi.analyze(lambda d: fit_mortality(d, formula)).pool()

    full = fit_mortality(bunch.complete, formula)
    cc_data = bunch.data.dropna()
    print(
        f"Complete cases: {len(cc_data):,} of {len(bunch.data):,} patients, "
        f"{cc_data['study'].nunique()} of {bunch.data['study'].nunique()} studies"
    )
    cc = fit_mortality(cc_data, formula)
    terms = list(full.params.index)
    table = pd.DataFrame(
        {
            "truth": pd.Series(bunch.truth).reindex(terms),
            "complete data": full.params,
            "complete cases": cc.params.reindex(terms),
            "cc se": cc.bse.reindex(terms),
            "MI (2l defaults)": pooled["estimate"].reindex(terms),
            "MI se": pooled["std_error"].reindex(terms),
            "MI fmi": pooled["fmi"].reindex(terms),
        }
    )
    return table.astype(float)


def main(quick: bool = False, out_dir=None, random_state: int = 2024) -> pd.DataFrame:
    """Show the pattern, impute, fit, pool and print the comparison table.

    Parameters
    ----------
    quick : bool, default=False
        A small, fast run (smoke test).
    out_dir : path, optional
        Where to save the pattern plot; nothing is written without it.
    random_state : int, default=2024

    Returns
    -------
    DataFrame
        The comparison table (see :func:`compare`).
    """
    import statsmodels.api  # noqa: F401  (fail early, as ImportError, without statsmodels)

    bunch = load(quick, random_state)
    show_pattern(bunch.data, out_dir)
    print("\nSystematically missing:", bunch.systematic)
    table = compare(quick=quick, random_state=random_state)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(3).to_string())
    return table


if __name__ == "__main__":
    main(out_dir=sys.argv[1] if len(sys.argv) > 1 else None)
