"""The ``skmice`` command line: ``skmice demo``, ``skmice impute``, ``skmice --version``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from ._version import __version__

__all__ = ["main", "read_table"]


def read_table(path, na_values=("",)) -> pd.DataFrame:
    """Read a CSV or Parquet file without turning labels into missing values.

    Only the strings in ``na_values`` (by default the empty field) mark a
    missing value in a CSV file: a category called ``"None"``, ``"NA"`` or
    ``"null"`` stays a category unless declared missing (pandas' defaults
    would turn it into NaN). Parquet files carry their own missing values.

    Parameters
    ----------
    path : str or Path
        A ``.csv`` (optionally compressed) or ``.parquet`` file.
    na_values : sequence of str, default=("",)
        The strings that mean "missing" in a CSV file.

    Returns
    -------
    DataFrame

    Examples
    --------
    >>> import tempfile, os
    >>> from skmice.cli import read_table
    >>> path = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(path, "w").write("x,pet\\n1,None\\n,cat\\n")
    >>> read_table(path)["pet"].tolist(), int(read_table(path)["x"].isna().sum())
    (['None', 'cat'], 1)
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No such file: {str(path)!r}.")
    suffixes = "".join(path.suffixes).lower()
    if ".parquet" in suffixes or suffixes.endswith(".pq"):
        try:
            return pd.read_parquet(path)
        except ImportError as exc:
            raise ImportError(
                "Reading Parquet needs pyarrow: pip install 'skmice[parquet]'."
            ) from exc
    try:
        return pd.read_csv(path, keep_default_na=False, na_values=list(na_values))
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"Could not read {str(path)!r} as CSV: {exc}") from None


def _write_table(frame: pd.DataFrame, path: Path) -> None:
    if path.suffix.lower() in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


def _parse_methods(items) -> dict:
    methods = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--method expects COLUMN=METHOD, got {item!r}.")
        col, meth = item.split("=", 1)
        methods[col.strip()] = meth.strip()
    return methods


def _impute(args) -> int:
    from . import MultilevelIterativeImputer, multiple_impute

    data = read_table(args.data, na_values=args.na_values)
    if args.cluster is not None and args.cluster not in data.columns:
        raise ValueError(
            f"--cluster {args.cluster!r} is not a column of {args.data} "
            f"(columns: {list(data.columns)})."
        )
    methods = _parse_methods(args.method)
    unknown = [c for c in methods if c not in data.columns]
    if unknown:
        raise ValueError(f"--method names columns not in {args.data}: {unknown}.")
    imputer = MultilevelIterativeImputer(
        methods=methods or None, cluster=args.cluster, max_iter=args.max_iter
    )
    if methods:
        from ._design import make_methods

        defaults = make_methods(data, cluster=args.cluster)
        defaults.update(methods)
        imputer.set_params(methods=defaults)
    t0 = time.perf_counter()
    mi = multiple_impute(data, imputer, n_imputations=args.m, n_jobs=args.n_jobs,
                         random_state=args.seed, verbose=int(not args.quiet))
    seconds = time.perf_counter() - t0
    out = mi.long()
    _write_table(out, Path(args.out))
    n_mis = data.isna().sum()
    print(f"skmice {__version__}: imputed {args.data} ({len(data)} rows) m={args.m} "
          f"in {seconds:.1f} s -> {args.out}")
    methods_used = mi.imputers[0].method_names_
    for col in data.columns:
        if n_mis[col]:
            print(f"  {col}: {n_mis[col]} missing ({n_mis[col] / len(data):.1%}), "
                  f"method {methods_used.get(col) or '(none)'}")
    return 0


def _demo(args) -> int:
    from .demo import run_demo

    run_demo(quick=args.quick, out_dir=args.out_dir, random_state=args.seed)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``skmice`` command."""
    parser = argparse.ArgumentParser(
        prog="skmice",
        description="Multilevel multiple imputation by chained equations.",
    )
    parser.add_argument("--version", action="version", version=f"skmice {__version__}")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="run the popularity case study on simulated data")
    demo.add_argument("--quick", action="store_true", help="small m and few iterations")
    demo.add_argument("--out-dir", default="skmice_demo_output",
                      help="where to write the table and figures (default: skmice_demo_output)")
    demo.add_argument("--seed", type=int, default=2024)
    demo.set_defaults(func=_demo)
    imp = sub.add_parser("impute", help="multiply impute a CSV or Parquet file")
    imp.add_argument("data", help="input file (.csv or .parquet)")
    imp.add_argument("--cluster", default=None, help="cluster-id column")
    imp.add_argument("-m", type=int, default=5, help="number of imputations (default 5)")
    imp.add_argument("--method", action="append", metavar="COLUMN=METHOD",
                     help="method for a column, e.g. popular=2l.pan (repeatable)")
    imp.add_argument("--max-iter", type=int, default=10)
    imp.add_argument("--seed", type=int, default=None)
    imp.add_argument("--n-jobs", type=int, default=None)
    imp.add_argument("--na-values", nargs="*", default=[""],
                     help="strings meaning 'missing' in CSV (default: empty field only)")
    imp.add_argument("--out", required=True, help="output file, long format (.csv/.parquet)")
    imp.add_argument("--quiet", action="store_true", help="no progress bar")
    imp.set_defaults(func=_impute)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``skmice`` command.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status.

    Examples
    --------
    >>> from skmice.cli import main
    >>> main([])  # doctest: +ELLIPSIS
    usage: skmice ...
    2
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_usage(sys.stdout)
        return 2
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError, ImportError) as exc:
        print(f"skmice: error: {exc}", file=sys.stderr)
        return 1

