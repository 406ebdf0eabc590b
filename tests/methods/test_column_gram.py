"""Cross-products kept by column stamp, and the checks a stamped design skips."""

import numpy as np
import pytest

from skmice._grouped import cluster_crossprods
from skmice._stamps import new_stamps
from skmice.methods import Design, TwoLevelNormal
from skmice.methods._column_gram import ColumnGram
from skmice.methods._twolevel import _prepare


def _data(seed=0, n=300, N=17, r=4):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, N, n)
    U = np.column_stack([np.ones(n), rng.standard_normal((n, r - 1))])
    y = rng.standard_normal(n)
    return g, N, U, y


def _brute(g, N, U, y, left, right):
    V = np.column_stack([U, y])
    per = cluster_crossprods(g, N, V[:, left], V[:, right])
    return per, V[:, left].T @ V[:, right]


@pytest.mark.parametrize("stamped", [True, False])
def test_products_match_brute_force_and_follow_rewrites(stamped):
    g, N, U, y = _data()
    gram = ColumnGram(g, N)
    stamps = np.array(new_stamps(5)) if stamped else np.zeros(5, dtype=int)
    rng = np.random.default_rng(1)
    for visit in range(4):
        if visit:  # a predictor rewritten between visits: new values, new stamp
            U[:, 3] = rng.standard_normal(U.shape[0])
            if stamped:
                stamps[3] = new_stamps(1)[0]
        used = gram.retain(stamps)
        assert stamped or not gram._pairs  # unknown columns: nothing stale read back
        for left in ([0, 2], [0, 1, 2, 3], [0, 1, 2, 3, 4]):  # [0..3]: every pair kept
            per = gram.per_cluster(U, y, used, left)
            want_per, want_tot = _brute(g, N, U, y, left, list(range(5)))
            np.testing.assert_allclose(per, want_per, rtol=1e-12, atol=1e-12)
            tot = gram.totals(U, y, used)
            np.testing.assert_allclose(tot[left], want_tot, rtol=1e-12, atol=1e-12)


def test_only_the_rewritten_column_is_read_again():
    g, N, U, y = _data()
    gram = ColumnGram(g, N)
    stamps = new_stamps(5)
    gram.per_cluster(U, y, gram.retain(stamps), [0, 1])
    passes = []
    original = gram._compute
    gram._compute = lambda U, y, left, cols, *rest: (passes.extend(cols),
                                                     original(U, y, left, cols, *rest))
    stamps[3] = new_stamps(1)[0]
    gram.per_cluster(U, y, gram.retain(stamps), [0, 1])
    assert passes == [3]


def test_prepare_with_stamps_equals_prepare_without():
    g, N, U, y = _data(n=400)
    U[:, 2] += 5.0
    stamps = np.array(new_stamps(U.shape[1]))
    cache = {}
    rng = np.random.default_rng(3)
    for visit in range(3):
        if visit:
            U[:, 3] = rng.standard_normal(U.shape[0])
            stamps[3] = new_stamps(1)[0]
        stamped = Design(X=U, Z=U[:, :2], groups=g, n_groups=N, z_in_x=np.array([0, 1]),
                         stamps=stamps.copy())
        plain = Design(X=U.copy(), Z=U[:, :2].copy(), groups=g, n_groups=N)
        a = _prepare(stamped, y, "2l.pan", "normal", cache)
        b = _prepare(plain, y, "2l.pan", "normal", None)
        for name in ("XtX", "Xty", "ZtZ", "ZtXy", "counts", "centre", "scale"):
            np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-10,
                                       atol=1e-10, err_msg=name)


def test_far_columns_are_centred_and_not_kept():
    g, N, U, y = _data(n=400)
    U[:, 1] += 1e6  # centred physically: its pairs are computed afresh
    stamps = np.array(new_stamps(U.shape[1]))
    cache = {}
    d = Design(X=U, Z=U[:, :2], groups=g, n_groups=N, z_in_x=np.array([0, 1]), stamps=stamps)
    a = _prepare(d, y, "2l.pan", "normal", cache)
    b = _prepare(Design(X=U, Z=U[:, :2], groups=g, n_groups=N), y, "2l.pan", "normal", None)
    np.testing.assert_allclose(a.ZtXy, b.ZtXy, rtol=1e-10, atol=1e-10)
    # the centred column's products are not kept under its stamp
    assert not any(stamps[1] in (*left, right) for left, right in cache["gram"]._pairs)


def test_stamped_design_checks_new_columns_for_nan():
    g, N, U, y = _data()
    stamps = np.array(new_stamps(U.shape[1]))
    method = TwoLevelNormal()
    design = Design(X=U, Z=U[:, :1], groups=g, n_groups=N, z_in_x=np.array([0]),
                    stamps=stamps)
    method.fit(design, y, 0)
    U[5, 2] = np.nan  # rewritten with a new stamp: checked again
    stamps[2] = new_stamps(1)[0]
    with pytest.raises(ValueError, match="NaN or infinite"):
        method.fit(design, y, 0)
    with pytest.raises(ValueError, match="design.stamps"):
        method.fit(Design(X=U, Z=U[:, :1], groups=g, n_groups=N, stamps=stamps[:2]), y, 0)


def test_target_and_codes_are_checked_again_unless_stamped_and_the_same_array():
    g, N, U, y = _data()
    method = TwoLevelNormal()
    plain = Design(X=U, Z=U[:, :1], groups=g, n_groups=N)
    method.fit(plain, y, 0)
    y[3] = np.nan  # an unstamped design promises nothing: checked at every call
    with pytest.raises(ValueError, match="y holds NaN"):
        method.fit(plain, y, 0)
    y[3] = 0.0
    stamped = Design(X=U, Z=U[:, :1], groups=g, n_groups=N, z_in_x=np.array([0]),
                     stamps=np.array(new_stamps(U.shape[1])))
    method.fit(stamped, y, 0)
    bad_y = y.copy()
    bad_y[3] = np.inf  # a new array: checked
    with pytest.raises(ValueError, match="y holds NaN"):
        method.fit(stamped, bad_y, 0)
    bad_g = g.copy()
    bad_g[0] = N  # new codes: checked
    with pytest.raises(ValueError, match="cluster codes must lie"):
        method.fit(Design(X=U, Z=U[:, :1], groups=bad_g, n_groups=N, z_in_x=np.array([0]),
                          stamps=stamped.stamps), y, 0)
    method._forget_visit_state()
    assert not {"_checked_groups", "_checked_targets", "_finite_stamps"} & set(vars(method))


def test_a_design_checked_before_passes_again_only_with_the_same_arrays_and_known_stamps():
    from skmice.methods._validation import check_design

    g, N, U, y = _data()
    method = TwoLevelNormal()
    stamps = np.array(new_stamps(U.shape[1]))
    d = Design(X=U, Z=U[:, :2].copy(), groups=g, n_groups=N, z_in_x=np.array([0, 1]),
               stamps=stamps)
    first = check_design(method, d, n_rows=len(y))
    again = check_design(method, d, n_rows=len(y))
    assert again.X is first.X and again.Z is first.Z and again.groups is first.groups
    assert method._checked_designs
    with pytest.raises(ValueError, match="one value per row"):
        check_design(method, d, n_rows=len(y) - 1)
    U[0, 2] = np.nan  # rewritten under a new stamp: checked in full
    stamps[2] = new_stamps(1)[0]
    with pytest.raises(ValueError, match="NaN or infinite"):
        check_design(method, d, n_rows=len(y))
    U[0, 2] = 0.0
    # a random column not copied from X has no stamp: never taken on trust
    Z = np.column_stack([np.ones(len(y)), np.arange(len(y), dtype=float)])
    own = Design(X=U, Z=Z, groups=g, n_groups=N, z_in_x=np.array([0, -1]), stamps=stamps)
    check_design(method, own, n_rows=len(y))
    Z[3, 1] = np.inf
    with pytest.raises(ValueError, match="design.Z holds NaN"):
        check_design(method, own, n_rows=len(y))


def test_checked_arrays_are_not_kept_alive_by_the_checks():
    import gc
    import weakref

    g, N, U, y = _data()
    method = TwoLevelNormal()
    X = U.copy()
    d = Design(X=X, Z=X[:, :1].copy(), groups=g.copy(), n_groups=N, z_in_x=np.array([0]),
               stamps=np.array(new_stamps(U.shape[1])))
    target = y.copy()
    method.fit(d, target, 0)
    assert method._checked_designs and method._checked_targets
    # (the sampler's own cache keeps the last target and unit codes: one of each)
    watched = [weakref.ref(a) for a in (X, d.Z)]
    del X, d, target
    gc.collect()
    assert all(w() is None for w in watched)  # a design rebuilt at every visit is freed
    # and a later design with new arrays is checked in full
    bad = U.copy()
    bad[0, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        method.fit(Design(X=bad, Z=bad[:, :1].copy(), groups=g, n_groups=N,
                          z_in_x=np.array([0]), stamps=np.array(new_stamps(U.shape[1]))),
                   y, 0)


def test_caches_are_not_pickled():
    import pickle

    g, N, U, y = _data()
    d = Design(X=U, Z=U[:, :1], groups=g, n_groups=N, z_in_x=np.array([0]),
               stamps=np.array(new_stamps(U.shape[1])))
    method = TwoLevelNormal().fit(d, y, 0)
    assert method._cache and method._finite_stamps
    copy = pickle.loads(pickle.dumps(method))
    assert "_cache" not in vars(copy) and "_finite_stamps" not in vars(copy)


def test_imputer_rereads_only_the_predictor_imputed_since(monkeypatch):
    from skmice import MultilevelIterativeImputer
    from skmice.datasets import make_clustered_regression

    b = make_clustered_regression(n_rows=600, n_clusters=30, random_state=0)
    passes = []
    original = ColumnGram._compute

    def counted(self, U, y, left, cols, *rest):
        passes.append(list(cols))
        return original(self, U, y, left, cols, *rest)

    monkeypatch.setattr(ColumnGram, "_compute", counted)
    imp = MultilevelIterativeImputer(cluster="cluster", methods={"y1": "2l.pan", "y2": "2l.pan"},
                                     predictor_matrix=b.predictor_matrix, max_iter=4,
                                     random_state=0)
    imp.fit_transform(b.data)
    # first visit of each target: every column of [X | y] once; then, at every
    # visit, only the other target (the predictor imputed since)
    width = [int((b.predictor_matrix.loc[t] > 0).sum()) + 2 for t in ("y1", "y2")]  # 1, X, y
    assert [len(cols) for cols in passes[:2]] == width
    assert [len(cols) for cols in passes[2:]] == [1] * (2 * 3)


def test_visit_state_dropped_after_fit():
    from skmice import MultilevelIterativeImputer
    from skmice.datasets import make_clustered_regression

    b = make_clustered_regression(n_rows=300, n_clusters=20, random_state=0)
    imp = MultilevelIterativeImputer(cluster="cluster", methods={"y1": "2l.pan", "y2": "2l.norm"},
                                     predictor_matrix=b.predictor_matrix, max_iter=2,
                                     random_state=0)
    first = imp.fit_transform(b.data)
    for method in filter(None, imp.methods_.values()):
        assert "_cache" not in vars(method) and "_finite_stamps" not in vars(method)
    # transform of new data still works, and a refit gives the same imputations
    assert imp.transform(b.data).shape == b.data.shape
    np.testing.assert_array_equal(imp.fit_transform(b.data).to_numpy(), first.to_numpy())


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("layout", ["C", "F", "column"])
def test_all_finite_finds_every_non_finite_value_and_survives_overflow(bad, layout):
    import warnings

    from skmice.methods._validation import all_finite

    a = np.full((50, 3), 1e300)  # finite, but its sum of squares overflows
    if layout == "F":
        a = np.asfortranarray(a)
    view = a[:, 1] if layout == "column" else a
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no floating-point warning reaches the caller
        assert all_finite(view)
        view[17] = bad
        assert not all_finite(view)
        view[17] = 0.0
        view[:] = 1.0
        assert all_finite(view) and all_finite(np.zeros(0))


def test_every_pair_mode_reads_only_the_rewritten_column():
    g, N, U, y = _data()
    U = np.asfortranarray(U)
    gram = ColumnGram(g, N)
    stamps = new_stamps(5)
    gram.per_cluster(U, y, gram.retain(stamps), range(4))  # every column: one product
    from skmice.methods import _column_gram

    original = _column_gram.cluster_crossprods
    lefts = []
    _column_gram.cluster_crossprods = lambda g_, n_, A, *rest, **kw: (
        lefts.append(A.copy()), original(g_, n_, A, *rest, **kw))[1]
    try:
        U[:, 2] = np.random.default_rng(4).standard_normal(U.shape[0])
        stamps[2] = new_stamps(1)[0]
        used = gram.retain(stamps)
        per = gram.per_cluster(U, y, used, range(4))
    finally:
        _column_gram.cluster_crossprods = original
    # one pass, the rewritten column as the indicator's values
    assert len(lefts) == 1 and np.array_equal(lefts[0][:, 0], U[:, 2])
    want, want_tot = _brute(g, N, U, y, list(range(4)), list(range(5)))
    np.testing.assert_allclose(per, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gram.totals(U, y, used)[:4], want_tot, rtol=1e-12, atol=1e-12)
    # y's own per-cluster sum of squares comes from the kept pairs
    np.testing.assert_allclose(gram.per_cluster(U, y, used, [4], [4])[:, 0, 0],
                               np.bincount(g, weights=y * y, minlength=N), rtol=1e-12)


def test_every_pair_mode_without_a_copy_of_a_large_design(monkeypatch):
    from skmice.methods import _column_gram

    monkeypatch.setattr(_column_gram, "_MIRROR_MAX_BYTES", 0)  # every design "large"
    g, N, U, y = _data()
    U = np.asfortranarray(U)
    gram = ColumnGram(g, N)
    stamps = new_stamps(5)
    rng = np.random.default_rng(6)
    for _ in range(3):
        used = gram.retain(stamps)
        per = gram.per_cluster(U, y, used, range(4))
        want, want_tot = _brute(g, N, U, y, list(range(4)), list(range(5)))
        np.testing.assert_allclose(per, want, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gram.totals(U, y, used)[:4], want_tot, rtol=1e-12,
                                   atol=1e-12)
        assert gram._mirror is None
        U[:, 1] = rng.standard_normal(U.shape[0])
        stamps[1] = new_stamps(1)[0]
