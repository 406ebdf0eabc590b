import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from skmice import __version__
from skmice.cli import main, read_table


def test_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert __version__ in capsys.readouterr().out


def test_read_table_keeps_na_like_labels(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("x,pet\n1,None\n,NA\n3,null\n4,\n")
    frame = read_table(path)
    assert frame["pet"].tolist()[:3] == ["None", "NA", "null"]
    assert frame["pet"].isna().sum() == 1 and frame["x"].isna().sum() == 1
    declared = read_table(path, na_values=["", "NA"])
    assert declared["pet"].isna().sum() == 2


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
    text = capsys.readouterr().out
    assert "y: 8 missing" in text and "norm" in text


def test_impute_command_errors(tmp_path, capsys):
    assert main(["impute", str(tmp_path / "nope.csv"), "--out", "x.csv"]) == 1
    assert "No such file" in capsys.readouterr().err
    src = tmp_path / "in.csv"
    src.write_text("a,b\n1,\n2,3\n")
    assert main(["impute", str(src), "--cluster", "g", "--out", str(tmp_path / "o.csv")]) == 1
    assert "--cluster 'g' is not a column" in capsys.readouterr().err
    assert main(["impute", str(src), "--method", "b", "--out", str(tmp_path / "o.csv")]) == 1
    assert "COLUMN=METHOD" in capsys.readouterr().err


def test_python_dash_m_entry_point():
    res = subprocess.run([sys.executable, "-m", "skmice", "--version"], capture_output=True,
                         text=True, check=True)
    assert __version__ in res.stdout
