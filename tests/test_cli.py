import errno
import os
import signal
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pandas as pd
import pytest

import skmice.cli as cli
from skmice import __version__
from skmice.cli import main, read_table

FAST = ["-m", "2", "--max-iter", "2", "--seed", "1", "--quiet"]


def _write_data(path, n=40, seed=0):
    """A small incomplete CSV file: floats, integers and labels, each with gaps."""
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"x": rng.normal(size=n), "pet": rng.choice(["None", "cat"], n)})
    d["y"] = d["x"] + rng.normal(size=n)
    d["k"] = pd.array(rng.integers(0, 5, n), dtype="Int64")
    d.loc[::5, "y"] = np.nan
    d.loc[1::7, "k"] = pd.NA
    d.to_csv(path, index=False)
    return path


@pytest.fixture
def data_csv(tmp_path):
    return _write_data(tmp_path / "in.csv")


@pytest.fixture
def no_imputation(monkeypatch):
    """Fail the test if the command gets as far as imputing."""
    def fail(*args, **kwargs):
        raise AssertionError("imputed although the command should have stopped before")

    monkeypatch.setattr(cli, "_run_imputation", fail)


def _error_line(err: str) -> str:
    """The single line of stderr, checked to be an skmice error."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("skmice: error: "), err
    assert "Traceback" not in err
    return lines[0]


def _leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def _python_m(*args, cwd=None, **kwargs):
    return subprocess.run([sys.executable, "-m", "skmice", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120, **kwargs)


def test_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert __version__ in capsys.readouterr().out


def test_python_dash_m_entry_point():
    res = subprocess.run([sys.executable, "-m", "skmice", "--version"], capture_output=True,
                         text=True, check=True)
    assert __version__ in res.stdout


# --------------------------------------------------------------------------- #
# reading
# --------------------------------------------------------------------------- #
def test_read_table_keeps_na_like_labels(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("x,pet\n1,None\n,NA\n3,null\n4,\n")
    frame = read_table(path)
    assert frame["pet"].tolist()[:3] == ["None", "NA", "null"]
    assert frame["pet"].isna().sum() == 1 and frame["x"].isna().sum() == 1
    declared = read_table(path, na_values=["", "NA"])
    assert declared["pet"].isna().sum() == 2


def test_read_table_reads_integer_columns_exactly(tmp_path):
    big = 2**60 + 1
    path = tmp_path / "d.csv"
    path.write_text(
        "i,big,u,huge,zero,f,whole,t\n"
        f"007,{big},18446744073709551615,{10**22},1,1.5,1.0,None\n"
        ",,,,,,,\n"
        f"-3,{-big},1,-{10**22},2,2,2.0,7\n"
    )
    frame = read_table(path)
    assert frame["i"].dtype == "Int64" and frame["i"].tolist()[::2] == [7, -3]
    assert frame["big"].dtype == "Int64" and frame["big"].tolist()[::2] == [big, -big]
    assert frame["u"].dtype == "UInt64" and frame["u"].tolist()[::2] == [2**64 - 1, 1]
    assert frame["huge"].tolist()[::2] == [10**22, -(10**22)]  # Python ints, exact
    assert frame["zero"].dtype == "Int64"
    assert frame["f"].dtype == np.float64 and frame["whole"].dtype == np.float64
    assert frame["t"].tolist()[::2] == ["None", "7"]
    assert (frame.isna().sum() == 1).all()  # the blank row, in every column


def test_read_table_leaves_complete_columns_as_pandas_reads_them(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,c\n1,x,1.5\n2,y,2.5\n")
    frame = read_table(path)
    expected = pd.read_csv(path, keep_default_na=False, na_values=[""])
    pd.testing.assert_frame_equal(frame, expected)


# --------------------------------------------------------------------------- #
# a normal run
# --------------------------------------------------------------------------- #
def test_impute_command_writes_long_format(tmp_path, capsys):
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"x": rng.normal(size=40), "pet": rng.choice(["None", "cat"], 40)})
    d["y"] = d["x"] + rng.normal(size=40)
    d.loc[::5, "y"] = np.nan
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    d.to_csv(src, index=False)
    code = main(["impute", str(src), "-m", "2", "--max-iter", "2", "--seed", "1",
                 "--method", "y=norm", "--out", str(out)])
    assert code == 0
    long = pd.read_csv(out, keep_default_na=False, na_values=[""])
    assert long.shape == (80, 5) and long["y"].notna().all()
    assert set(long["pet"]) == {"None", "cat"}
    captured = capsys.readouterr()
    assert captured.out == ""  # summary and progress go to stderr
    assert "y: 8 missing" in captured.err and "norm" in captured.err
    assert _leftovers(tmp_path) == []


def test_summary_lists_every_incomplete_column(tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_text("g,a,b,c,d\n1,1,x,,1.5\n1,,y,2,2.5\n2,3,,3,\n2,4,x,4,4.5\n2,5,y,5,5.5\n")
    out = tmp_path / "out.csv"
    assert main(["impute", str(src), "--cluster", "g", "--method", "d=", *FAST,
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err
    for col in "abcd":
        assert f"  {col}: 1 missing (20.0%)" in err
    assert "d: 1 missing (20.0%), not imputed" in err
    assert "g:" not in err


def test_new_output_gets_the_usual_permissions(data_csv, tmp_path):
    out = tmp_path / "new.csv"
    old = os.umask(0o027)
    try:
        assert main(["impute", str(data_csv), *FAST, "--out", str(out)]) == 0
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o640  # not mkstemp's 0o600


def test_overwriting_keeps_the_target_mode(data_csv, tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("old\n")
    out.chmod(0o604)
    assert main(["impute", str(data_csv), *FAST, "--out", str(out)]) == 0
    assert out.stat().st_mode & 0o777 == 0o604
    assert out.read_text().startswith(".imp,.id,")


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip",
                                    ".parquet", ".pq"])
def test_output_formats(data_csv, tmp_path, suffix):
    out = tmp_path / f"out{suffix}"
    assert main(["impute", str(data_csv), *FAST, "--out", str(out)]) == 0
    if suffix in (".parquet", ".pq"):
        long = pd.read_parquet(out)
        assert long["k"].dtype == "Int64"
    else:
        long = pd.read_csv(out, keep_default_na=False, na_values=[""])
    assert long.shape == (80, 6) and long.notna().all().all()
    if suffix == ".csv.zip":
        import zipfile

        assert zipfile.ZipFile(out).namelist() == ["out.csv"]
    assert _leftovers(tmp_path) == []


def test_symlinked_output_writes_through_the_link(data_csv, tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    assert main(["impute", str(data_csv), *FAST, "--out", str(link)]) == 0
    assert link.is_symlink() and real.read_text().startswith(".imp,.id,")


# --------------------------------------------------------------------------- #
# 1. the output is the input
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("how", ["same", "relative", "symlink", "hardlink"])
def test_output_that_is_the_input_is_refused(data_csv, tmp_path, capsys, monkeypatch,
                                             no_imputation, how):
    before = data_csv.read_bytes()
    monkeypatch.chdir(tmp_path)
    out = {"same": str(data_csv), "relative": f"../{tmp_path.name}/./in.csv"}.get(how)
    if how == "symlink":
        out = "alias.csv"
        os.symlink(data_csv, out)
    elif how == "hardlink":
        out = "hard.csv"
        os.link(data_csv, out)
    assert main(["impute", "in.csv", *FAST, "--out", out]) == 2
    assert "is the input file" in _error_line(capsys.readouterr().err)
    assert data_csv.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_output_that_is_the_input_subprocess(data_csv, tmp_path):
    before = data_csv.read_bytes()
    res = _python_m("impute", "in.csv", *FAST, "--out", "./in.csv", cwd=tmp_path)
    assert res.returncode == 2 and res.stdout == ""
    assert "is the input file" in _error_line(res.stderr)
    assert data_csv.read_bytes() == before


# --------------------------------------------------------------------------- #
# 2. atomic writes
# --------------------------------------------------------------------------- #
def _half_writer(then):
    """A _write_table that writes half the table, then calls ``then``."""
    def write(frame, path, kind, compression=None):
        frame.iloc[: len(frame) // 2].to_csv(path, index=False)
        then()
        raise AssertionError("not reached")

    return write


def _raise(exc):
    def go():
        raise exc

    return go


def test_failed_write_leaves_the_target_unchanged(data_csv, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out.csv"
    out.write_text("precious\n")
    full = OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(cli, "_write_table", _half_writer(_raise(full)))
    assert main(["impute", str(data_csv), *FAST, "--out", str(out)]) == 1
    line = _error_line(capsys.readouterr().err)
    assert "No space left on device" in line and "out.csv" in line
    assert out.read_text() == "precious\n"
    assert _leftovers(tmp_path) == []


def test_failed_write_of_a_new_file_leaves_nothing(data_csv, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "_write_table", _half_writer(_raise(ValueError("bad value"))))
    assert main(["impute", str(data_csv), *FAST, "--out", str(tmp_path / "o.csv")]) == 1
    assert "bad value" in _error_line(capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_interrupt_during_write(data_csv, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out.csv"
    out.write_text("precious\n")
    monkeypatch.setattr(cli, "_write_table", _half_writer(_raise(KeyboardInterrupt())))
    assert main(["impute", str(data_csv), *FAST, "--out", str(out)]) == 130
    assert _error_line(capsys.readouterr().err) == "skmice: error: interrupted"
    assert out.read_text() == "precious\n" and _leftovers(tmp_path) == []


def test_sigterm_during_write(data_csv, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out.csv"
    out.write_text("precious\n")
    previous = signal.getsignal(signal.SIGTERM)

    def terminate():
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(500):  # the handler runs at the next bytecode boundary
            time.sleep(0.01)

    monkeypatch.setattr(cli, "_write_table", _half_writer(terminate))
    assert main(["impute", str(data_csv), *FAST, "--out", str(out)]) == 143
    assert "terminated" in _error_line(capsys.readouterr().err)
    assert out.read_text() == "precious\n" and _leftovers(tmp_path) == []
    assert signal.getsignal(signal.SIGTERM) is previous


def test_sigterm_handler_is_restored(data_csv, tmp_path):
    previous = signal.getsignal(signal.SIGTERM)
    assert main(["impute", str(data_csv), *FAST, "--out", str(tmp_path / "o.csv")]) == 0
    assert signal.getsignal(signal.SIGTERM) is previous


# --------------------------------------------------------------------------- #
# 3. the output location, checked before imputing
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("out, message", [
    ("x.xlsx", "unsupported file type; use one of .csv, .csv.gz"),
    ("x.json", "unsupported file type"),
    ("x.gz", "unsupported file type"),
    ("x", "unsupported file type"),
    ("missing/dir/x.csv", "does not exist"),
    ("in.csv/x.csv", "is not a directory"),
    ("sub", "is a directory"),
    ("", "--out is empty"),
])
def test_unusable_output_is_refused_before_imputing(data_csv, tmp_path, capsys, monkeypatch,
                                                    no_imputation, out, message):
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    before = sorted(os.listdir(tmp_path))
    assert main(["impute", "in.csv", *FAST, "--out", out]) == 2
    assert message in _error_line(capsys.readouterr().err)
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("device", ["/dev/full", "/dev/null"])
def test_device_output_is_refused(data_csv, capsys, no_imputation, device):
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    assert main(["impute", str(data_csv), *FAST, "--out", device]) == 2
    assert "not a regular file" in _error_line(capsys.readouterr().err)


def test_dev_full_subprocess(data_csv):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    res = _python_m("impute", data_csv, *FAST, "--out", "/dev/full")
    assert res.returncode == 2 and res.stdout == ""
    assert "/dev/full" in _error_line(res.stderr)


def test_unwritable_directory_is_refused(data_csv, tmp_path, capsys, monkeypatch,
                                         no_imputation):
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(cli.tempfile, "mkstemp", denied)
    assert main(["impute", str(data_csv), *FAST, "--out", str(tmp_path / "o.csv")]) == 2
    line = _error_line(capsys.readouterr().err)
    assert "cannot create files in" in line and "Permission denied" in line


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="needs a non-root user for file permissions")
def test_read_only_directory_and_file_are_refused(data_csv, tmp_path, capsys, no_imputation):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert main(["impute", str(data_csv), *FAST, "--out", str(locked / "o.csv")]) == 2
        assert "cannot create files in" in _error_line(capsys.readouterr().err)
    finally:
        locked.chmod(0o700)
    ro = tmp_path / "ro.csv"
    ro.write_text("keep\n")
    ro.chmod(0o400)
    assert main(["impute", str(data_csv), *FAST, "--out", str(ro)]) == 2
    assert "read-only" in _error_line(capsys.readouterr().err)


def test_parquet_output_needs_pyarrow(data_csv, tmp_path, capsys, monkeypatch, no_imputation):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now fails
    assert main(["impute", str(data_csv), *FAST, "--out", str(tmp_path / "o.parquet")]) == 2
    assert "needs pyarrow" in _error_line(capsys.readouterr().err)


@pytest.mark.parametrize("column", [".imp", ".id"])
def test_long_format_column_collision_is_refused(tmp_path, capsys, no_imputation, column):
    src = tmp_path / "in.csv"
    src.write_text(f"{column},b\n1,\n2,3\n")
    assert main(["impute", str(src), *FAST, "--out", str(tmp_path / "o.csv")]) == 1
    assert f"column named {column!r}" in _error_line(capsys.readouterr().err)
    assert not (tmp_path / "o.csv").exists()


# --------------------------------------------------------------------------- #
# 4. standard output
# --------------------------------------------------------------------------- #
def test_out_dash_writes_csv_to_stdout(data_csv, tmp_path, capsys):
    assert main(["impute", str(data_csv), "-m", "2", "--max-iter", "2", "--seed", "1",
                 "--out", "-"]) == 0  # with the progress bar
    captured = capsys.readouterr()
    long = pd.read_csv(pd.io.common.StringIO(captured.out), keep_default_na=False)
    assert long.shape == (80, 6) and list(long.columns[:2]) == [".imp", ".id"]
    assert "skmice" in captured.err and "y: 8 missing" in captured.err
    assert _leftovers(tmp_path) == []


class _ClosedPipe:
    """A standard output whose reader went away."""

    def write(self, text):
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    def flush(self):
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


def test_broken_pipe_exits_quietly(data_csv, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main(["impute", str(data_csv), *FAST, "--out", "-"]) == 141
    assert capsys.readouterr().err == ""


def test_broken_pipe_subprocess(tmp_path):
    src = _write_data(tmp_path / "big.csv", n=3000)  # the output far exceeds a pipe's buffer
    proc = subprocess.Popen([sys.executable, "-m", "skmice", "impute", str(src), *FAST,
                             "--out", "-"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline().startswith(b".imp,.id,")
    proc.stdout.close()  # as `| head -1` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert err == "", err


# --------------------------------------------------------------------------- #
# 5. one-line errors, --debug, argparse's own errors
# --------------------------------------------------------------------------- #
def test_impute_command_errors(tmp_path, capsys):
    assert main(["impute", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "x.csv")]) == 1
    assert "No such file" in _error_line(capsys.readouterr().err)
    src = tmp_path / "in.csv"
    src.write_text("a,b\n1,\n2,3\n")
    assert main(["impute", str(src), "--cluster", "g", "--out", str(tmp_path / "o.csv")]) == 1
    assert "--cluster 'g' is not a column" in _error_line(capsys.readouterr().err)
    assert main(["impute", str(src), "--method", "b", "--out", str(tmp_path / "o.csv")]) == 1
    assert "COLUMN=METHOD" in _error_line(capsys.readouterr().err)


def _boom(*args, **kwargs):
    raise RuntimeError("boom\n  on two lines")


def test_unexpected_errors_are_one_line(data_csv, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "_run_imputation", _boom)
    assert main(["impute", str(data_csv), *FAST, "--out", str(tmp_path / "o.csv")]) == 1
    line = _error_line(capsys.readouterr().err)
    assert "RuntimeError: boom on two lines" in line and "--debug" in line


@pytest.mark.parametrize("where", ["top", "sub"])
def test_debug_shows_the_exception(data_csv, tmp_path, monkeypatch, where):
    monkeypatch.setattr(cli, "_run_imputation", _boom)
    args = ["impute", str(data_csv), *FAST, "--out", str(tmp_path / "o.csv")]
    args = ["--debug", *args] if where == "top" else [*args, "--debug"]
    with pytest.raises(RuntimeError, match="boom"):
        main(args)


def test_warnings_are_one_line(data_csv, tmp_path, capsys, monkeypatch):
    def warn_then_fail(*args, **kwargs):
        warnings.warn("first\nsecond", UserWarning)
        raise ValueError("stop")

    monkeypatch.setattr(cli, "_run_imputation", warn_then_fail)
    assert main(["impute", str(data_csv), *FAST, "--out", str(tmp_path / "o.csv")]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["skmice: warning: first second [UserWarning]", "skmice: error: stop"]


@pytest.mark.parametrize("args", [["impute"], ["impute", "x.csv"],
                                  ["impute", "x.csv", "--out", "o.csv", "-m", "0"],
                                  ["impute", "x.csv", "--out", "o.csv", "--seed", "-1"],
                                  ["frobnicate"]])
def test_usage_errors_are_argparse_s(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    assert "usage: skmice" in capsys.readouterr().err


def test_no_command(capsys):
    assert main([]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "a command is required" in captured.err


# --------------------------------------------------------------------------- #
# 7. missing-value markers
# --------------------------------------------------------------------------- #
def test_na_values_add_to_the_empty_field(tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_text("x,pet,z\n1,NA,-99\n,cat,1\n3,None,2\n4,cat,3\n5,,4\n6,cat,5\n")
    out = tmp_path / "o.csv"
    assert main(["impute", str(src), *FAST, "--na-values", "NA", "-99", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "x: 1 missing" in err and "pet: 2 missing" in err and "z: 1 missing" in err
    long = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert (long["pet"] != "").all() and "None" in set(long["pet"])
    assert main(["impute", str(src), *FAST, "--no-default-na", "--na-values", "NA",
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "pet: 1 missing" in err and "x:" not in err  # "" is a value now


def test_default_markers_are_only_the_empty_field(tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_text("x,pet\n1,None\n,NA\n3,null\n4,nan\n5,cat\n")
    out = tmp_path / "o.csv"
    assert main(["impute", str(src), *FAST, "--out", str(out)]) == 0
    long = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert long["pet"].tolist()[:5] == ["None", "NA", "null", "nan", "cat"]
    assert "pet:" not in capsys.readouterr().err


# --------------------------------------------------------------------------- #
# 8. integers and exact text
# --------------------------------------------------------------------------- #
def test_integer_columns_stay_integers(data_csv, tmp_path):
    out = tmp_path / "o.csv"
    assert main(["impute", str(data_csv), *FAST, "--out", str(out)]) == 0
    k = pd.read_csv(out, dtype=str)["k"]
    assert k.str.fullmatch(r"-?\d+").all(), k[~k.str.fullmatch(r"-?\d+")].tolist()


def test_observed_cells_survive_bit_for_bit(tmp_path):
    rng = np.random.default_rng(2)
    n = 30
    rows = ["x,code,big,price,pet,flag"]
    for r in range(n):
        x = "" if r % 6 == 1 else repr(float(rng.normal()))
        code = "" if r % 5 == 2 else f"{rng.integers(0, 30):03d}"
        big = "" if r % 7 == 3 else str(2**60 + 2 * r + 1)
        price = "" if r % 4 == 0 else f"{rng.integers(1, 9)}.50"
        pet = "" if r % 9 == 4 else ["None", "NA", "cat"][r % 3]
        flag = "" if r % 8 == 5 else ["True", "False"][r % 2]
        rows.append(",".join([x, code, big, price, pet, flag]))
    src = tmp_path / "in.csv"
    src.write_text("\n".join(rows) + "\n")
    out = tmp_path / "o.csv"
    assert main(["impute", str(src), *FAST, "--out", str(out)]) == 0
    text_in = pd.read_csv(src, dtype=str, keep_default_na=False)
    text_out = pd.read_csv(out, dtype=str, keep_default_na=False)
    for i in range(2):
        part = text_out.iloc[i * n:(i + 1) * n, 2:].reset_index(drop=True)
        observed = text_in != ""
        assert ((part == text_in) | ~observed).all().all()
        assert (part != "").all().all()
    gaps = text_in["big"] == ""
    imputed = text_out.loc[np.tile(gaps.to_numpy(), 2), "big"]
    assert imputed.str.fullmatch(r"\d+").all()  # integers, not 1.15e+18


def test_parquet_input(tmp_path):
    src = tmp_path / "in.parquet"
    read_table(_write_data(tmp_path / "in.csv")).to_parquet(src)
    out = tmp_path / "o.csv"
    assert main(["impute", str(src), *FAST, "--out", str(out)]) == 0
    long = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert (long != "").all().all() and long["k"].str.fullmatch(r"\d+").all()


# --------------------------------------------------------------------------- #
# 10. bad input files
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("content, message", [
    (None, "No such file"),
    ("dir", "is a directory"),
    (b"", "No columns to parse"),
    (b"a,b\n", "no data rows"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary data"),
    (b"a,b\n\xe9t\xe9,1\n,2\n", "UTF-8"),
    (b"a,b\n1,2\n3,4,5,6\n", "Expected 2 fields"),
])
def test_bad_input_files(tmp_path, capsys, no_imputation, content, message):
    src = tmp_path / "in.csv"
    if content == "dir":
        src.mkdir()
    elif content is not None:
        src.write_bytes(content)
    assert main(["impute", str(src), *FAST, "--out", str(tmp_path / "o.csv")]) == 1
    assert message in _error_line(capsys.readouterr().err)
    assert not (tmp_path / "o.csv").exists()


def test_random_bytes_input(tmp_path, capsys, no_imputation):
    rng = np.random.default_rng(0)
    for k in range(5):
        src = tmp_path / f"g{k}.csv"
        src.write_bytes(rng.bytes(2000))
        assert main(["impute", str(src), *FAST, "--out", str(tmp_path / "o.csv")]) == 1
        _error_line(capsys.readouterr().err)


def test_unreadable_input(data_csv, tmp_path, capsys, monkeypatch, no_imputation):
    def denied(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(cli, "open", denied, raising=False)
    assert main(["impute", str(data_csv), *FAST, "--out", str(tmp_path / "o.csv")]) == 1
    line = _error_line(capsys.readouterr().err)
    assert "Permission denied" in line and "in.csv" in line


def test_bad_input_subprocess(tmp_path):
    src = tmp_path / "in.csv"
    src.write_bytes(b"\x00\x01\x02garbage")
    res = _python_m("impute", src, "--out", tmp_path / "o.csv")
    assert res.returncode == 1 and res.stdout == ""
    assert "binary data" in _error_line(res.stderr)


@pytest.mark.skipif(not os.path.isdir("/dev/fd"), reason="needs /dev/fd")
def test_input_from_a_pipe(data_csv, tmp_path):
    read_fd, write_fd = os.pipe()
    payload = data_csv.read_bytes()

    def feed():
        with os.fdopen(write_fd, "wb") as handle:
            handle.write(payload)

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        out = tmp_path / "o.csv"
        assert main(["impute", f"/dev/fd/{read_fd}", *FAST, "--out", str(out)]) == 0
    finally:
        writer.join()
        os.close(read_fd)
    reference = tmp_path / "ref.csv"
    assert main(["impute", str(data_csv), *FAST, "--out", str(reference)]) == 0
    assert out.read_bytes() == reference.read_bytes()


def test_csv_header_names_kept_as_written(tmp_path):
    from skmice.cli import main

    src = tmp_path / "in.csv"
    src.write_text(",g,x\n1.5,1,\n2.5,1,3\n,2,4\n4.5,2,5\n")
    out = tmp_path / "out.csv"
    main(["impute", str(src), "--cluster", "g", "-m", "1", "--max-iter", "1", "--seed", "1",
          "--out", str(out), "--quiet"])
    assert out.read_text().splitlines()[0] == ".imp,.id,,g,x"  # not "Unnamed: 0"
    dup = tmp_path / "dup.csv"
    dup.write_text("a,a,g\n1,2,1\n,3,1\n")
    code = main(["impute", str(dup), "--cluster", "g", "--out", str(tmp_path / "o.csv"),
                 "--quiet"])  # refused (duplicate names), not renamed a and a.1
    assert code == 1 and not (tmp_path / "o.csv").exists()


def test_method_names_match_columns_as_written(tmp_path):
    from skmice.cli import main

    src = tmp_path / "in.csv"
    src.write_text(" ,,g\nTrue,-0.5,1\n,-0.5,1\nFalse,,2\nTrue,1.5,2\n")
    out = tmp_path / "out.csv"
    # the column named " " keeps its missing cell (method ""); the column named "" is imputed
    assert main(["impute", str(src), "--cluster", "g", "-m", "1", "--max-iter", "1",
                 "--seed", "1", "--out", str(out), "--quiet", "--method", " ="]) == 0
    import csv

    with open(out, newline="") as handle:
        header, *rows = list(csv.reader(handle))
    assert header == [".imp", ".id", " ", "", "g"]
    assert rows[1][2] == "" and all(row[3] != "" for row in rows)
    # surrounding spaces are dropped when the name as written is no column
    src2 = tmp_path / "in2.csv"
    src2.write_text("x,g\n1.5,1\n,1\n2.5,2\n3.5,2\n")
    assert main(["impute", str(src2), "--cluster", "g", "-m", "1", "--max-iter", "1",
                 "--out", str(tmp_path / "o2.csv"), "--quiet", "--method", " x = pmm"]) == 0
