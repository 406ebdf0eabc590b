"""Tests of skmice/methods/heckman/_common.py: the input checks both Heckman methods share."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from skmice.methods import BayesianNormal, Design, Heckman, TwoLevelHeckman, get_method

from ._common import _selection_data


def test_requires_exclusion_restriction():
    design, y, s = _selection_data(n=500)
    no_excl = Design(X=design.W, W=design.W, groups=design.groups, n_groups=1)
    with pytest.raises(ValueError, match="exclusion restriction"):
        Heckman().fit(no_excl, np.where(s, y, np.nan), np.random.default_rng(0))


def test_clear_errors():
    design, y, s = _selection_data(n=500)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="needs W"):
        Heckman().fit(Design(X=design.X), np.where(s, y, np.nan), rng)
    with pytest.raises(ValueError, match="no missing value"):
        Heckman().fit(design, y, rng)
    with pytest.raises(ValueError, match="no observed value"):
        Heckman().fit(design, np.full_like(y, np.nan), rng)
    with pytest.raises(ValueError, match="outcome. parameter"):
        Heckman(outcome="ordinal").fit(design, np.where(s, y, np.nan), rng)
    with pytest.raises(ValueError, match="min_observed"):
        Heckman(min_observed=0).fit(design, np.where(s, y, np.nan), rng)
    with pytest.raises(ValueError, match="binary"):
        Heckman(outcome="binary").fit(design, np.where(s, y, np.nan), rng)
    with pytest.raises(NotFittedError):
        Heckman().sample(design, rng)
    with pytest.raises(ValueError, match="random_effects"):
        TwoLevelHeckman(random_effects="slopes").fit(design, np.where(s, y, np.nan), rng)
    with pytest.raises(ValueError, match="tau_structure"):
        TwoLevelHeckman(tau_structure="full").fit(design, np.where(s, y, np.nan), rng)
    with pytest.raises(ValueError, match="groups"):
        TwoLevelHeckman().fit(Design(X=design.X, W=design.W), np.where(s, y, np.nan), rng)


def test_registered_and_flags():
    assert isinstance(get_method("2l.heckman"), TwoLevelHeckman)
    assert isinstance(get_method("heckman"), Heckman)
    assert TwoLevelHeckman.needs_groups and not Heckman.needs_groups
    for cls in (TwoLevelHeckman, Heckman):
        assert cls.needs_selection and cls.needs_all_rows
    assert not BayesianNormal.needs_selection and not BayesianNormal.needs_all_rows
    # neither public class derives from the other
    assert not issubclass(Heckman, TwoLevelHeckman) and not issubclass(TwoLevelHeckman, Heckman)
