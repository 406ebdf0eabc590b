"""
Cross-validated prediction of a binary outcome on clustered data
================================================================

Pupils in schools, patients in hospitals: when predictors are missing and
the data are clustered, how should the missing values be handled in a
prediction model that will be applied to *new* clusters?

This example compares, by grouped cross-validation (every test fold holds
clusters never seen in training), four ways of fitting a logistic
regression:

* **complete cases**: fit on the complete rows only; rows with missing
  predictors are filled with the training means at prediction time (a
  complete-case model cannot predict them otherwise);
* **mean imputation**: fill every missing value with the column mean;
* **single-level MI**: :class:`~skmice.MultipleImputationPipeline` with a
  single-level imputer (predictive mean matching, clustering ignored);
* **two-level MI**: the same with a two-level imputer (``2l.pmm``, random
  effects per cluster).

Both multiple-imputation pipelines put the outcome in the imputation model
of the training data (``include_target=True``, Moons et al. 2006); at
prediction time the outcome is unknown and is imputed along with the
predictors, then discarded. Test clusters are new: the two-level imputer
draws their random effects from their posterior given the cluster's
observed rows (``transform``), so a new school's observed values inform the
imputation of its pupils' missing ones.

The data: :func:`skmice.datasets.make_clustered_regression` gives two
incomplete continuous variables ``y1`` (random intercept and slope) and
``y2``, a unit-level ``x`` and a cluster-level ``w``; the binary outcome is
simulated from the complete ``y1`` and ``x`` (logistic model).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_validate
from sklearn.pipeline import make_pipeline

from skmice import MultilevelIterativeImputer, MultipleImputationPipeline
from skmice.datasets import make_clustered_regression


def simulate(n_rows=4_000, n_clusters=200, random_state=1):
    """Clustered predictors with missing values and a binary outcome.

    Returns
    -------
    X : DataFrame
        ``cluster``, ``x``, ``w``, ``y1``, ``y2`` (``y1``, ``y2`` incomplete).
    y : ndarray of int
        The outcome, from ``logit P(y = 1) = -0.3 + 1.5 z(y1) + 0.3 x`` with
        the complete ``y1`` standardised.
    """
    bunch = make_clustered_regression(
        n_rows, n_clusters, missing_rate=0.4, random_state=random_state
    )
    complete = bunch.complete
    rng = np.random.default_rng(random_state + 1)
    z = (complete["y1"] - complete["y1"].mean()) / complete["y1"].std()
    linear = -0.3 + 1.5 * z + 0.3 * complete["x"]
    y = (rng.random(n_rows) < 1.0 / (1.0 + np.exp(-linear))).astype(int).to_numpy()
    return bunch.data, y


class CompleteCaseClassifier(ClassifierMixin, BaseEstimator):
    """Fit ``estimator`` on the complete rows; fill test rows with the training means."""

    def __init__(self, estimator=None):
        self.estimator = estimator

    def fit(self, X, y):
        rows = X.notna().all(axis=1).to_numpy()
        self.means_ = X[rows].mean()
        self.estimator_ = clone(self.estimator).fit(X[rows], np.asarray(y)[rows])
        self.classes_ = self.estimator_.classes_
        return self

    def predict_proba(self, X):
        return self.estimator_.predict_proba(X.fillna(self.means_))

    def predict(self, X):
        return self.estimator_.predict(X.fillna(self.means_))


def make_models(n_imputations=5, max_iter=10):
    """The four approaches, and whether each sees the cluster column."""
    logistic = LogisticRegression()
    return {
        "complete cases": (CompleteCaseClassifier(logistic), False),
        "mean imputation": (make_pipeline(SimpleImputer(), logistic), False),
        "single-level MI": (
            MultipleImputationPipeline(
                MultilevelIterativeImputer(max_iter=max_iter),
                logistic,
                n_imputations=n_imputations,
                include_target=True,
                random_state=0,
            ),
            False,
        ),
        "two-level MI": (
            MultipleImputationPipeline(
                MultilevelIterativeImputer(cluster="cluster", max_iter=max_iter),
                logistic,
                n_imputations=n_imputations,
                include_target=True,  # the outcome in the imputation model
                drop_cluster=True,  # the cluster id is not a predictor
                random_state=0,
            ),
            True,
        ),
    }


def main(n_imputations=5, quick=False, n_jobs=None):
    """Run the comparison and return the table of cross-validated scores.

    Parameters
    ----------
    n_imputations : int, default=5
    quick : bool, default=False
        Small data, few iterations and 3 folds (for the test suite).
    n_jobs : int, optional
        Folds run in parallel by joblib.

    Returns
    -------
    DataFrame
        One row per approach: mean and standard deviation over the folds of
        the ROC AUC and the log loss, and the time taken.
    """
    n_rows, n_clusters, max_iter, n_splits = (600, 40, 3, 3) if quick else (4_000, 200, 10, 5)
    X, y = simulate(n_rows, n_clusters)
    groups = X["cluster"]
    print(
        f"{n_rows} rows in {n_clusters} clusters; missing: "
        f"{X.isna().mean().round(2).to_dict()}; outcome rate {y.mean():.2f}"
    )
    cv = GroupKFold(n_splits=n_splits)  # test folds hold new clusters only
    rows = []
    for name, (model, with_cluster) in make_models(n_imputations, max_iter).items():
        data = X if with_cluster else X.drop(columns="cluster")
        start = time.perf_counter()
        scores = cross_validate(
            model, data, y, groups=groups, cv=cv, n_jobs=n_jobs, scoring=["roc_auc", "neg_log_loss"]
        )
        rows.append(
            {
                "approach": name,
                "roc_auc": scores["test_roc_auc"].mean(),
                "roc_auc_sd": scores["test_roc_auc"].std(ddof=1),
                "log_loss": -scores["test_neg_log_loss"].mean(),
                "log_loss_sd": scores["test_neg_log_loss"].std(ddof=1),
                "seconds": time.perf_counter() - start,
            }
        )
    table = pd.DataFrame(rows).set_index("approach")
    print(table.round(4).to_string())
    return table


# %%
# Reading the table
# -----------------
#
# On the full data (4,000 rows, 200 clusters, 5 folds), two-level multiple
# imputation has the best ROC AUC and log loss, about 0.78 and 0.56; mean
# imputation, complete cases and single-level MI follow within about one fold
# standard deviation. The two-level imputer uses what a new cluster's
# observed rows say about its random effects; the single-level imputer
# cannot, and its random draws add noise that a mean fill does not (for
# prediction, unlike for inference, a deterministic fill is not wrong per
# se). Differences between approaches are best judged on the same folds
# (paired), as here.

if __name__ == "__main__":
    main()
