"""Write the lme4 and mitml reference numbers of the tests of skmice.mixed.

* tests/reference/lme4_mixed.json: one grouping factor, the datasets of
  tests/mixed/_cases.py;
* tests/reference/lme4_multi.json: several grouping factors (nested and
  crossed), the datasets of tests/mixed/_multi_cases.py, and mitml's pooled
  estimates on the stored three-level imputations
  (tests/reference/three_level_imputations.csv, written here first when
  absent or with ``--impute``, by skmice's ``ml.pmm``).

The tests compare against these numbers, so CI never needs R. Run from the
repository root after changing the cases::

    python benchmarks/make_lme4_reference.py [--which single|multi|all] [--impute]

It exports every dataset to CSV, fits the models with ``lme4::lmer`` (and
pools the imputations with ``mitml::testEstimates``) through
``benchmarks/r/lme4_reference.R`` and stores the R results with the lme4 and
mitml versions. The shared R reference data (``../shared/reference``) are used
when present.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import pandas as pd  # noqa: E402

from tests.mixed import _multi_cases as multi  # noqa: E402
from tests.mixed._cases import FITS, POOLS, REFERENCE_JSON, dataset, mitml_imputations  # noqa: E402

R_SCRIPT = HERE / "r" / "lme4_reference.R"


def run_r(fits: dict, dataset_of, pools: dict, imputations_of, target: Path) -> None:
    """Fit ``fits`` and pool ``pools`` in R; write the results to ``target``."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        manifest = {"fits": [], "pools": []}
        written = {}
        for name, (data_name, formula, reml) in fits.items():
            if data_name not in written:
                data = dataset_of(data_name)
                if data is None:
                    print(f"skipping {name}: {data_name} not found", file=sys.stderr)
                    continue
                written[data_name] = tmp / f"{data_name}.csv"
                data.to_csv(written[data_name], index=False)
            manifest["fits"].append(
                {"name": name, "csv": str(written[data_name]), "formula": formula, "reml": reml}
            )
        for name, formula in pools.items():
            long = tmp / f"{name}.csv"
            frames = []
            for i, d in enumerate(imputations_of(), start=1):
                frames.append(d.assign(**{".imp": i}))
            pd.concat(frames, ignore_index=True).to_csv(long, index=False)
            manifest["pools"].append({"name": name, "csv": str(long), "formula": formula})
        (tmp / "manifest.json").write_text(json.dumps(manifest))
        out = tmp / "out.json"
        res = subprocess.run(
            ["Rscript", str(R_SCRIPT), str(tmp / "manifest.json"), str(out)],
            capture_output=True, text=True,
        )
        if res.returncode:
            sys.exit(f"R failed:\n{res.stderr[-3000:]}")
        result = json.loads(out.read_text())
    for fit in result["fits"].values():
        fit.pop("seconds", None)
    target.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {target} ({len(result['fits'])} fits, {len(result['pools'])} pools)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--which", choices=["single", "multi", "all"], default="all")
    parser.add_argument("--impute", action="store_true",
                        help="impute the three-level data again (skmice ml.pmm)")
    args = parser.parse_args()
    if shutil.which("Rscript") is None:
        sys.exit("Rscript not found: install R, lme4 and mitml (benchmarks/install_r.sh).")
    if args.which in ("single", "all"):
        run_r(FITS, dataset, POOLS, mitml_imputations, REFERENCE_JSON)
    if args.which in ("multi", "all"):
        if args.impute or not multi.IMPUTATIONS_CSV.exists():
            multi.store_imputations(multi.impute_three_level())
        run_r(multi.MULTI_FITS, multi.multi_dataset, multi.MULTI_POOLS,
              multi.three_level_imputations, multi.MULTI_JSON)


if __name__ == "__main__":
    main()
