"""The fast slice of the data-safety fuzzer (generator and checks in ``tests/_fuzz.py``).

Every case is a small two-level frame built from its id alone (seeded numpy
generator: deterministic, the same on every machine), with columns of every
pandas dtype, odd column names, extreme scales and random missingness, and
sometimes a ``methods`` dict (``""``, a compatible method, or an incompatible
one whose error must name the column). Each test runs one group of entry
points on its cases and checks (a) only ValueError / TypeError naming the
column or parameter, (b) observed cells unchanged bit for bit, (c) dtypes and
categories kept, (d) the input not modified, (e) the same seed gives the
same result, (f) imputations valid for their column, (g) datasets handed out
by MultiplyImputedData are the caller's own, (h) method ``""`` leaves a
column's missing cells missing and everything else is filled.

A failure prints the case and its failures; ``python benchmarks/fuzz.py
--repro CASE_ID`` shrinks it and prints a reproducer. The long run is
``python benchmarks/fuzz.py --cases 5000 --seed 0`` (same case ids, every
entry point on every case).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests._fuzz import format_failures, make_case, run_case

IMPUTER_CASES = range(0, 120)  # fit_transform, transform (same frame, new cluster)
MULTIPLE_CASES = range(120, 210)  # multiple_impute, complete, long, analyze
PIPELINE_CASES = [k for k in range(210, 310) if make_case(k).has_target][:60]
CLI_CASES = range(310, 340)


def _check(case_id: int, group: str, tmp_path=None):
    case = make_case(case_id)
    if group == "cli":
        case = replace(case, cli=True)
    result = run_case(case, (group,), tmp=tmp_path)
    if result.failures:
        pytest.fail(format_failures(case, result.failures), pytrace=False)


@pytest.mark.parametrize("case_id", IMPUTER_CASES)
def test_fuzz_imputer(case_id):
    _check(case_id, "imputer")


@pytest.mark.parametrize("case_id", MULTIPLE_CASES)
def test_fuzz_multiple_impute(case_id):
    _check(case_id, "multiple")


@pytest.mark.parametrize("case_id", PIPELINE_CASES)
def test_fuzz_pipeline(case_id):
    _check(case_id, "pipeline")


@pytest.mark.parametrize("case_id", CLI_CASES)
def test_fuzz_cli(case_id, tmp_path):
    _check(case_id, "cli", tmp_path)


def test_generator_is_deterministic_and_reproducible():
    """The same id gives the same case, and the emitted code rebuilds its frames."""
    from tests._fuzz import check_frame_code, frames_identical

    for case_id in range(0, 400, 7):
        a, b = make_case(case_id), make_case(case_id)
        assert frames_identical(a.frame, b.frame) is None
        assert a.methods == b.methods and a.cluster == b.cluster
        assert check_frame_code(a.frame) is None, case_id
        assert check_frame_code(a.new_frame) is None, case_id
