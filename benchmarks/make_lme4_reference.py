"""Write tests/reference/lme4_mixed.json: lme4 and mitml on the datasets of tests/mixed/_cases.py.

The tests of ``skmice.mixed`` compare against these numbers, so CI never needs
R. Run from the repository root after changing the cases::

    python benchmarks/make_lme4_reference.py

It exports every dataset to CSV, fits the models with ``lme4::lmer`` (and
pools the synthetic imputations with ``mitml::testEstimates``) through
``benchmarks/r/lme4_reference.R`` and stores the R results with the lme4 and
mitml versions. The shared R reference data (``../shared/reference``) are used
when present.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import pandas as pd  # noqa: E402

from tests.mixed._cases import FITS, POOLS, REFERENCE_JSON, dataset, mitml_imputations  # noqa: E402

R_SCRIPT = HERE / "r" / "lme4_reference.R"


def main() -> None:
    if shutil.which("Rscript") is None:
        sys.exit("Rscript not found: install R, lme4 and mitml (benchmarks/install_r.sh).")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        manifest = {"fits": [], "pools": []}
        written = {}
        for name, (data_name, formula, reml) in FITS.items():
            if data_name not in written:
                data = dataset(data_name)
                if data is None:
                    print(f"skipping {name}: {data_name} not found", file=sys.stderr)
                    continue
                written[data_name] = tmp / f"{data_name}.csv"
                data.to_csv(written[data_name], index=False)
            manifest["fits"].append(
                {"name": name, "csv": str(written[data_name]), "formula": formula, "reml": reml}
            )
        for name, formula in POOLS.items():
            long = tmp / f"{name}.csv"
            frames = []
            for i, d in enumerate(mitml_imputations(), start=1):
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
    REFERENCE_JSON.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {REFERENCE_JSON} ({len(result['fits'])} fits, {len(result['pools'])} pools)")


if __name__ == "__main__":
    main()
