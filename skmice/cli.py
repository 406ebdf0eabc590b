"""The ``skmice`` command line: ``skmice demo``, ``skmice impute``, ``skmice --version``.

Exit status: 0 success, 1 an error (bad data, a failed write, ...), 2 a bad
command line (argparse's usage errors and an unusable ``--out``), 130
interrupted (Ctrl-C), 141 standard output closed early (``--out - | head``),
143 terminated (SIGTERM). Every error is one line on stderr
(``skmice: error: ...``); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import re
import signal
import stat
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ._version import __version__

__all__ = ["build_parser", "main", "read_table"]

EXIT_ERROR, EXIT_USAGE = 1, 2
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE, EXIT_TERMINATED = 130, 141, 143

# What ``--out`` can name: the suffix -> (format, compression for CSV).
_OUTPUT_FORMATS = {
    ".csv": ("csv", None),
    ".csv.gz": ("csv", "gzip"),
    ".csv.bz2": ("csv", "bz2"),
    ".csv.xz": ("csv", "xz"),
    ".csv.zip": ("csv", "zip"),
    ".parquet": ("parquet", None),
    ".pq": ("parquet", None),
}
_COMPRESSED_INPUT = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zip": "zip", ".zst": "zstd"}
_LONG_COLUMNS = (".imp", ".id")
_INTEGER_TEXT = r"\s*[+-]?[0-9]+\s*"


class _Failure(Exception):
    """An error reported as one line, with its exit status."""

    def __init__(self, message: str, code: int = EXIT_ERROR):
        super().__init__(message)
        self.code = code


class _Terminated(BaseException):
    """Raised by the SIGTERM handler, so that cleanup code runs (not an Exception)."""


class _StdoutClosed(Exception):
    """Standard output was closed by its reader (``--out - | head``)."""


# --------------------------------------------------------------------------- #
# Reading
# --------------------------------------------------------------------------- #
def read_table(path, na_values=("",)) -> pd.DataFrame:
    """Read a CSV or Parquet file without turning labels into missing values.

    Only the strings in ``na_values`` (by default the empty field) mark a
    missing value in a CSV file: a category called ``"None"``, ``"NA"`` or
    ``"null"`` stays a category unless declared missing (pandas' defaults
    would turn it into NaN). Parquet files carry their own missing values.

    Columns come back as :func:`pandas.read_csv` types them, except that an
    integer column with missing values is read exactly, as a nullable
    ``Int64`` column (``UInt64`` beyond the int64 range, Python ints beyond
    uint64) rather than as float64, which would round integers beyond 2**53.

    Parameters
    ----------
    path : str or Path
        A ``.csv`` (optionally compressed) or ``.parquet`` file.
    na_values : sequence of str, default=("",)
        The strings that mean "missing" in a CSV file (exactly these: pass
        ``["", "NA"]`` to add ``"NA"`` to the empty field).

    Returns
    -------
    DataFrame

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` is a directory or cannot be read as CSV (empty, binary,
        malformed).

    Examples
    --------
    >>> import tempfile, os
    >>> from skmice.cli import read_table
    >>> path = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(path, "w").write("x,pet\\n1,None\\n,cat\\n")
    >>> read_table(path)["pet"].tolist(), int(read_table(path)["x"].isna().sum())
    (['None', 'cat'], 1)
    >>> read_table(path)["x"].dtype
    Int64Dtype()
    """
    return _read_input(path, na_values)[0]


def _read_input(path, na_values) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The typed data and, for CSV, the text of every cell (NaN where missing)."""
    path = Path(path)
    _check_input(path)
    suffixes = "".join(path.suffixes).lower()
    if ".parquet" in suffixes or suffixes.endswith(".pq"):
        return _read_parquet(path), None
    return _read_csv(path, list(na_values))


def _check_input(path: Path) -> None:
    """Refuse a missing path or a directory, with a message naming it."""
    if not path.exists():
        raise FileNotFoundError(f"No such file: {str(path)!r}.")
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a directory, not a data file.")


def _read_parquet(path: Path) -> pd.DataFrame:
    """Read a Parquet file, asking for pyarrow when it is missing."""
    try:
        return pd.read_parquet(path)
    except ImportError as exc:
        raise ImportError(
            "Reading Parquet needs pyarrow: pip install 'skmice[parquet]'."
        ) from exc


def _read_csv(path: Path, na_values: list) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a CSV file twice: typed by pandas, and as the text of each cell."""
    source, compression = _csv_source(path)
    options = dict(keep_default_na=False, na_values=na_values, compression=compression)
    try:
        typed = pd.read_csv(source, low_memory=False, **options)
        if hasattr(source, "seek"):
            source.seek(0)
        text = pd.read_csv(source, dtype=object, **options)
        if hasattr(source, "seek"):
            source.seek(0)
        header = pd.read_csv(source, header=None, nrows=1, dtype=object, keep_default_na=False,
                             na_values=[], compression=compression).iloc[0].tolist()
    except UnicodeDecodeError as exc:
        raise ValueError(f"Could not read {str(path)!r} as CSV (UTF-8 text): {exc}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise ValueError(f"Could not read {str(path)!r} as CSV: {exc}") from None
    if len(header) == typed.shape[1] and list(typed.columns) != header:
        # the names as written: pandas renames empty and repeated ones
        typed.columns = text.columns = pd.Index(header)
    return _exact_columns(typed, text), text


def _csv_source(path: Path):
    """What to hand to ``pd.read_csv`` twice, with its compression.

    A regular file is read by name; anything else (a pipe such as
    ``<(zcat data.csv.gz)``) can be read only once, so its bytes are read
    into memory. Uncompressed content with NUL bytes is refused as binary.
    """
    suffix = path.suffix.lower()
    compression = _COMPRESSED_INPUT.get(suffix)
    if path.is_file():
        with open(path, "rb") as handle:
            head = handle.read(65536)
        source, inferred = path, "infer"
    else:
        with open(path, "rb") as handle:
            data = handle.read()
        head, source, inferred = data[:65536], io.BytesIO(data), compression
    if compression is None and b"\x00" in head:
        raise ValueError(f"{str(path)!r} is not a CSV file: it holds binary data.")
    return source, inferred


def _exact_columns(typed: pd.DataFrame, text: pd.DataFrame) -> pd.DataFrame:
    """``typed`` missing wherever the text is, with integer columns read exactly.

    pandas reads an integer column with missing values as float64 (which
    rounds integers beyond 2**53), and in its uint64 overflow path does not
    apply ``na_values``; the text of the cells settles both.
    """
    typed = typed.copy()
    for j in range(typed.shape[1]):
        col = typed.iloc[:, j]
        gaps = text.iloc[:, j].isna().to_numpy()
        changed = False
        if (gaps & col.notna().to_numpy()).any():
            col, changed = col.mask(pd.Series(gaps, index=col.index)), True
        missing = col.isna().to_numpy()
        if missing.any() and not missing.all():
            exact = _integer_column(col, text.iloc[:, j], missing)
            if exact is not None:
                col, changed = exact, True
        if changed:
            typed.isetitem(j, col)
    return typed


def _integer_column(col: pd.Series, text: pd.Series, missing: np.ndarray):
    """The column as exact integers if every observed cell is an integer literal, else None."""
    if col.dtype == np.float64:
        values = col.to_numpy()[~missing]
        if not np.all(np.isfinite(values) & (values == np.round(values))):
            return None
    elif not (pd.api.types.is_object_dtype(col.dtype) or pd.api.types.is_string_dtype(col.dtype)):
        return None
    words = text.to_numpy(dtype=object)[~missing]
    if not re.fullmatch(_INTEGER_TEXT, str(words[0])):  # the common case, without a scan
        return None
    literal = pd.Series(words, dtype=object).str.fullmatch(_INTEGER_TEXT)
    if not literal.fillna(False).astype(bool).all():
        return None
    numbers = [int(w) for w in words]
    low, high = min(numbers), max(numbers)
    if -(2**63) <= low and high < 2**63:
        dtype = np.int64
    elif low >= 0 and high < 2**64:
        dtype = np.uint64
    else:  # beyond 64 bits: Python ints, still exact
        values = np.full(len(col), np.nan, dtype=object)
        values[~missing] = numbers
        return pd.Series(values, index=col.index, name=col.name, dtype=object)
    values = np.zeros(len(col), dtype=dtype)
    values[~missing] = np.array(numbers, dtype=dtype)
    array = pd.arrays.IntegerArray(values, missing.copy())
    return pd.Series(array, index=col.index, name=col.name)


# --------------------------------------------------------------------------- #
# Where the output goes
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class _Target:
    """A checked output: ``path`` None means standard output (CSV)."""

    path: Path | None
    kind: str = "csv"
    compression: object = None


def _check_output(out: str, inputs) -> _Target:
    """Check ``--out`` before any work: refuse what could not or should not be written."""
    if out == "-":
        return _Target(None)
    if not out:
        raise _Failure("--out is empty: give a file name, or - for standard output.", EXIT_USAGE)
    for data in inputs:
        if _same_file(out, data):
            raise _Failure(
                f"--out {out!r} is the input file {data!r}: refusing to overwrite the data; "
                "choose another output file.", EXIT_USAGE)
    path = Path(os.path.realpath(out))
    if path.exists():
        _check_existing_target(out, path)
    kind, compression = _output_format(out, path.name)
    _check_directory(out, path)
    if kind == "parquet":
        _require("pyarrow", "Writing Parquet needs pyarrow: pip install 'skmice[parquet]' "
                 "(or write .csv).")
    return _Target(path, kind, compression)


def _same_file(a: str, b: str) -> bool:
    """Whether two paths name the same file (through symlinks, hard links, ``..``)."""
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def _check_existing_target(out: str, path: Path) -> None:
    """Refuse an existing directory, device or read-only file as the output."""
    if path.is_dir():
        raise _Failure(f"--out {out!r} is a directory; give a file name.", EXIT_USAGE)
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise _Failure(
            f"--out {out!r} exists and is not a regular file (a device, pipe or socket); "
            "use --out - for standard output.", EXIT_USAGE)
    if not os.access(path, os.W_OK):
        raise _Failure(f"--out {out!r} exists and is read-only.", EXIT_USAGE)


def _output_format(out: str, name: str) -> tuple[str, object]:
    """The format and CSV compression that the file name asks for."""
    lower = name.lower()
    for suffix, (kind, compression) in _OUTPUT_FORMATS.items():
        if lower.endswith(suffix) and len(lower) > len(suffix):
            if compression == "zip":  # the archive's member: the name without .zip
                compression = {"method": "zip", "archive_name": name[:-4]}
            return kind, compression
    supported = ", ".join(_OUTPUT_FORMATS)
    raise _Failure(
        f"--out {out!r}: unsupported file type; use one of {supported} (or - for CSV on "
        "standard output).", EXIT_USAGE)


def _check_directory(out: str, path: Path) -> None:
    """Check that the output's directory exists and takes new files."""
    directory = path.parent
    if not directory.is_dir():
        what = "does not exist" if not directory.exists() else "is not a directory"
        raise _Failure(f"--out {out!r}: the directory {str(directory)!r} {what}.", EXIT_USAGE)
    try:
        fd, probe = _temp_file(path)
    except OSError as exc:
        raise _Failure(
            f"--out {out!r}: cannot create files in {str(directory)!r} "
            f"({exc.strerror or exc}).", EXIT_USAGE) from None
    try:
        os.close(fd)
    finally:
        os.unlink(probe)


def _temp_file(path: Path) -> tuple[int, str]:
    """A new hidden temporary file next to ``path`` (``.NAME.XXXX.tmp``)."""
    return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:200]}.", suffix=".tmp")


def _require(module: str, message: str) -> None:
    """Import ``module`` or fail with ``message``."""
    try:
        importlib.import_module(module)
    except ImportError:
        raise _Failure(message, EXIT_USAGE) from None


# --------------------------------------------------------------------------- #
# Writing
# --------------------------------------------------------------------------- #
def _write_table(frame: pd.DataFrame, path, kind: str, compression=None) -> None:
    """Write ``frame`` to ``path`` as CSV (with ``compression``) or Parquet."""
    if kind == "parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, compression=compression)


def _write_output(frame: pd.DataFrame, target: _Target) -> None:
    """Write to standard output, or atomically to the target file."""
    if target.path is None:
        _write_stdout(frame)
    else:
        _replace_atomically(frame, target)


def _write_stdout(frame: pd.DataFrame) -> None:
    """Write CSV to standard output; a reader that went away raises _StdoutClosed."""
    try:
        frame.to_csv(sys.stdout, index=False)
        sys.stdout.flush()
    except BrokenPipeError as exc:
        raise _StdoutClosed() from exc


def _replace_atomically(frame: pd.DataFrame, target: _Target) -> None:
    """Write to a temporary file next to the target, then rename it onto the target.

    On any failure (including KeyboardInterrupt and SIGTERM) the temporary
    file is removed and a pre-existing target is left as it was.
    """
    path = target.path
    mode = _file_mode(path)
    tmp = None
    try:
        fd, tmp = _temp_file(path)
        os.close(fd)
        _write_table(frame, tmp, target.kind, target.compression)
        _fsync(tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _Failure(f"could not write {str(path)!r}: {exc.strerror or exc}") from exc
        raise


def _file_mode(path: Path) -> int:
    """The permissions for the new file: the target's own, else 0o666 minus the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync(name: str) -> None:
    """Flush a written file to disk, so that a full disk fails here, not later."""
    fd = os.open(name, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _with_input_text(long: pd.DataFrame, data: pd.DataFrame, text: pd.DataFrame | None):
    """``long`` with its observed cells written as the input's own text.

    Only the columns that pandas would write differently from how they were
    read (``007``, ``1.50``, ``1e3``) change, to object columns; the others
    are left as they are. The imputed cells keep the column's own format.
    """
    if text is None:
        return long
    long = long.copy()
    rows = data.index.get_indexer(long[".id"])
    if (rows < 0).any():  # not the input's rows: nothing to match the text to
        return long
    first = np.flatnonzero(long[".imp"].to_numpy() == long[".imp"].iloc[0])
    for j in range(data.shape[1]):
        words = text.iloc[:, j].to_numpy(dtype=object)
        kept = data.iloc[:, j].notna().to_numpy() & ~pd.isna(words)
        col = long.iloc[:, j + len(_LONG_COLUMNS)]
        shown = kept[rows[first]]
        written = col.iloc[first].to_numpy(dtype=object)[shown].astype(str)
        if np.array_equal(written, words[rows[first]][shown].astype(str)):
            continue
        values = col.to_numpy(dtype=object)
        take = kept[rows]
        values[take] = words[rows[take]]
        long.isetitem(j + len(_LONG_COLUMNS), values)
    return long


# --------------------------------------------------------------------------- #
# The impute command
# --------------------------------------------------------------------------- #
def _parse_methods(items) -> dict:
    """``--method COLUMN=METHOD`` items as a dict."""
    methods = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--method expects COLUMN=METHOD, got {item!r}.")
        col, meth = item.split("=", 1)
        methods[col] = meth.strip()
    return methods


def _match_method_columns(methods: dict, columns) -> dict:
    """The ``--method`` names matched to the data's columns: a name as written, else
    without its surrounding spaces (``--method "x = pmm"``)."""
    names = set(columns)
    out = {}
    for col, meth in methods.items():
        key = col if col in names or col.strip() not in names else col.strip()
        if key in out:
            raise ValueError(f"--method names column {key!r} twice.")
        out[key] = meth
    return out


def _na_markers(args) -> list:
    """The empty field (unless ``--no-default-na``) plus the ``--na-values``."""
    markers = [] if args.no_default_na else [""]
    return list(dict.fromkeys(markers + list(args.na_values or [])))


def _check_data(data: pd.DataFrame, args, methods: dict) -> None:
    """Checks of the data against the command line, before imputing."""
    if len(data) == 0:
        raise ValueError(f"{args.data} has no data rows (only a header).")
    taken = [c for c in _LONG_COLUMNS if c in data.columns]
    if taken:
        raise ValueError(
            f"{args.data} has a column named {taken[0]!r}, which the long-format output "
            f"uses for the {'imputation number' if taken[0] == '.imp' else 'row number'}: "
            "rename it.")
    if args.cluster is not None and args.cluster not in data.columns:
        raise ValueError(
            f"--cluster {args.cluster!r} is not a column of {args.data} "
            f"(columns: {list(data.columns)}).")
    unknown = [c for c in methods if c not in data.columns]
    if unknown:
        raise ValueError(f"--method names columns not in {args.data}: {unknown}.")


def _model_imputer(data: pd.DataFrame, args, methods: dict):
    """The substantive-model-compatible imputer of ``--model``."""
    from .smc import SubstantiveModelImputer
    from .smc._spec import parse_analysis_model

    if methods:
        raise ValueError("--method and --model exclude each other: with --model every variable "
                         "of the model is imputed from the analysis model.")
    spec = parse_analysis_model(args.model)
    if args.cluster is not None and args.cluster != spec.group:
        raise ValueError(f"--cluster {args.cluster!r} differs from the model's grouping factor "
                         f"{spec.group!r}.")
    kwargs = {} if args.max_iter is None else {"max_iter": args.max_iter}
    return SubstantiveModelImputer(args.model, family=args.family,
                                   auxiliary=list(args.auxiliary) or None, **kwargs)


def _run_imputation(data: pd.DataFrame, args, methods: dict):
    """The multiple imputation that the command line asks for."""
    from . import MultilevelIterativeImputer, multiple_impute

    if args.model is not None:
        return multiple_impute(data, _model_imputer(data, args, methods), n_imputations=args.m,
                               n_jobs=args.n_jobs, random_state=args.seed,
                               verbose=int(not args.quiet))
    imputer = MultilevelIterativeImputer(
        methods=methods or None, cluster=args.cluster,
        max_iter=10 if args.max_iter is None else args.max_iter,
    )
    if methods:
        from ._design import make_methods

        defaults = make_methods(data, cluster=args.cluster)
        defaults.update(methods)
        imputer.set_params(methods=defaults)
    return multiple_impute(data, imputer, n_imputations=args.m, n_jobs=args.n_jobs,
                           random_state=args.seed, verbose=int(not args.quiet))


def _print_summary(args, data: pd.DataFrame, mi, seconds: float) -> None:
    """What was imputed, on stderr: one line per incomplete column of the input."""
    where = "standard output" if args.out == "-" else args.out
    _say(f"skmice {__version__}: imputed {args.data} ({len(data)} rows, "
         f"{data.shape[1]} columns) m={args.m} in {seconds:.1f} s -> {where}")
    n_mis = data.isna().sum()
    first = mi.imputers[0] if mi.imputers else None
    if hasattr(first, "method_names_"):
        used = first.method_names_
    elif first is not None:  # the substantive-model-compatible imputer
        used = {r.variable: f"compatible with the model ({r.model}; {r.draw} draws)"
                for r in first.log_.itertuples()}
    else:
        used = {}
    incomplete = [c for c in data.columns if n_mis[c]]
    for col in incomplete:
        method = used.get(col)
        how = f"method {method}" if method else "not imputed"
        _say(f"  {col}: {n_mis[col]} missing ({n_mis[col] / len(data):.1%}), {how}")
    if not incomplete:
        _say("  no missing values")


def _impute(args) -> int:
    """``skmice impute``: check the output, read, check, impute, write, summarise."""
    target = _check_output(args.out, [args.data])
    methods = _parse_methods(args.method)
    data, text = _read_input(args.data, _na_markers(args))
    methods = _match_method_columns(methods, data.columns)
    _check_data(data, args, methods)
    t0 = time.perf_counter()
    mi = _run_imputation(data, args, methods)
    seconds = time.perf_counter() - t0
    out = mi.long()
    if target.kind == "csv":
        out = _with_input_text(out, data, text)
    _write_output(out, target)
    _print_summary(args, data, mi, seconds)
    return 0


def _demo(args) -> int:
    """``skmice demo``."""
    from .demo import run_demo

    run_demo(quick=args.quick, out_dir=args.out_dir, random_state=args.seed)
    return 0


# --------------------------------------------------------------------------- #
# Parser and entry point
# --------------------------------------------------------------------------- #
def _positive_int(text: str) -> int:
    """An argparse type: an int >= 1."""
    return _int_at_least(text, 1, "a positive integer")


def _seed(text: str) -> int:
    """An argparse type: an int >= 0."""
    return _int_at_least(text, 0, "a non-negative integer")


def _int_at_least(text: str, low: int, what: str) -> int:
    """``text`` as an int >= ``low``, or an argparse error naming ``what``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``skmice`` command.

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(
        prog="skmice",
        description="Multilevel multiple imputation by chained equations.",
    )
    parser.add_argument("--version", action="version", version=f"skmice {__version__}")
    debug = dict(action="store_true", help="show the traceback of an error")
    parser.add_argument("--debug", **debug)
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="run the popularity case study on simulated data")
    demo.add_argument("--quick", action="store_true", help="small m and few iterations")
    demo.add_argument("--out-dir", default="skmice_demo_output",
                      help="where to write the table and figures (default: skmice_demo_output)")
    demo.add_argument("--seed", type=_seed, default=2024)
    demo.add_argument("--debug", default=argparse.SUPPRESS, **debug)
    demo.set_defaults(func=_demo)
    imp = sub.add_parser(
        "impute", help="multiply impute a CSV or Parquet file",
        description="Multiply impute a CSV or Parquet file and write the long format "
                    "(.imp, .id, then the columns). The summary and progress go to stderr.")
    imp.add_argument("data", help="input file (.csv, optionally compressed, or .parquet)")
    imp.add_argument("--cluster", default=None, help="cluster-id column")
    imp.add_argument("-m", type=_positive_int, default=5,
                     help="number of imputations (default 5)")
    imp.add_argument("--method", action="append", metavar="COLUMN=METHOD",
                     help="method for a column, e.g. popular=2l.pan (repeatable)")
    imp.add_argument("--max-iter", type=_positive_int, default=None,
                     help="iterations per chain (default 10; 1000 with --model)")
    imp.add_argument("--model", default=None, metavar="FORMULA",
                     help="analysis model, e.g. 'y ~ x * w + (1 + x | school)': impute "
                          "compatibly with it (random slopes, interactions, squares)")
    imp.add_argument("--family", choices=["gaussian", "binomial"], default="gaussian",
                     help="the outcome's family with --model")
    imp.add_argument("--auxiliary", nargs="+", action="extend", default=[], metavar="COLUMN",
                     help="auxiliary variables with --model")
    imp.add_argument("--seed", type=_seed, default=None)
    imp.add_argument("--n-jobs", type=int, default=None)
    imp.add_argument("--na-values", nargs="+", action="extend", default=[], metavar="TEXT",
                     help="more strings meaning 'missing' in CSV, besides the empty field")
    imp.add_argument("--no-default-na", action="store_true",
                     help="the empty field is not missing (only the --na-values are)")
    imp.add_argument("--out", required=True,
                     help="output file, long format: .csv (.gz, .bz2, .xz, .zip), .parquet, "
                          ".pq, or - for CSV on standard output")
    imp.add_argument("--quiet", action="store_true", help="no progress bar")
    imp.add_argument("--debug", default=argparse.SUPPRESS, **debug)
    imp.set_defaults(func=_impute)
    return parser


def _say(text: str) -> None:
    """Print a line on stderr (nothing if its reader went away: there is no one to tell)."""
    try:
        print(text, file=sys.stderr, flush=True)
    except (BrokenPipeError, ValueError):  # ValueError: stderr closed
        pass


def _one_line(text) -> str:
    """``text`` with its line breaks and runs of spaces collapsed."""
    return " ".join(str(text).split())


def _describe(exc: BaseException) -> str:
    """A one-line description of an error, for ``skmice: error: ...``."""
    if isinstance(exc, OSError) and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    elif isinstance(exc, (_Failure, ValueError, TypeError, ImportError, OSError)):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc} (--debug shows the traceback)"
    return _one_line(text) or type(exc).__name__


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Print a warning as one line on stderr."""
    _say(f"skmice: warning: {_one_line(message)} [{category.__name__}]")


@contextlib.contextmanager
def _sigterm_raises():
    """Turn SIGTERM into :class:`_Terminated` while the command runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise _Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _silence_stdout() -> None:
    """Point standard output at devnull, so that Python's final flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):  # not a real file (e.g. under pytest)
        pass


def main(argv=None) -> int:
    """Entry point of the ``skmice`` command.

    Errors are reported as one line on stderr and an exit status (see the
    module's docstring); ``--debug`` re-raises them instead.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 success, 1 error, 2 bad command line, 130
        interrupted, 141 standard output closed early, 143 SIGTERM.

    Examples
    --------
    >>> from skmice.cli import main
    >>> main([])
    2
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_usage(sys.stderr)
        _say("skmice: error: a command is required: impute or demo (see skmice --help)")
        return EXIT_USAGE
    debug = bool(getattr(args, "debug", False))
    try:
        with _sigterm_raises(), warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return args.func(args)
    except _StdoutClosed:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except _Terminated:
        if debug:
            raise
        _say("skmice: error: terminated (SIGTERM)")
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        if debug:
            raise
        _say("skmice: error: interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        if debug:
            raise
        _say(f"skmice: error: {_describe(exc)}")
        return getattr(exc, "code", EXIT_ERROR) if isinstance(exc, _Failure) else EXIT_ERROR
