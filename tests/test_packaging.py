"""A non-editable wheel carries its recipes (with the embedded ml-100k) and suites, and works from any folder."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built the way pip builds it for a user: in an isolated build env with the setuptools pyproject asks
    for (the venv's own setuptools may predate the licence field)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                    str(REPO)], check=True, capture_output=True, timeout=300)
    return next(out.glob("recsys-*.whl"))


def test_the_wheel_holds_recipes_suites_and_the_embedded_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "recsys/recipes/ml-100k.toml" in names and "recsys/recipes/ml-100k/ml-100k.inter" in names
    assert "recsys/bench/suites/quick.toml" in names and "recsys/py.typed" in names
    assert "recsys/recbole/compat.py" in names and "recsys/cli/__main__.py" in names


@pytest.mark.slow
def test_an_installed_wheel_describes_ml100k_from_another_folder(wheel, tmp_path):
    """A fresh venv with only the wheel (dependencies seen through a plain path entry, not the editable
    install's finder), run from a folder outside the checkout."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    target = next((venv / "lib").glob("python3*/site-packages"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    (target / "zz-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")  # after the wheel
    env = {**os.environ, "RECSYS_CACHE": str(tmp_path / "cache"), "PYTHONPATH": ""}
    env.pop("RECSYS_RECIPES", None)
    run = subprocess.run([str(venv / "bin" / "python"), "-m", "recsys", "data", "describe", "ml-100k", "--json"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    described = json.loads(run.stdout)
    assert (described["users"], described["items"], described["interactions"]) == (943, 1682, 100_000)
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import recsys, sys; print(recsys.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert str(target) in where.stdout and str(REPO) not in where.stdout  # the wheel ran, not the checkout
