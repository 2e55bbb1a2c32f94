"""recsys data add: a recipe used by name afterwards, everywhere; shipped names cannot be shadowed."""

import pytest

from recsys.cli import main
from recsys.data.recipe import find_recipe
from recsys.errors import RecipeError
from tests.conftest import write

RECIPE = """
name = "{name}"
description = "mine"
task = "sequential"
[files.inter]
path = "lines.txt"
embedded = true
[interactions]
file = "inter"
format = "s3rec_lines"
[split]
method = "leave_one_out"
order_by = "order"
"""


def test_a_registered_recipe_is_found_by_name(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RECSYS_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "mine"
    write(folder / "lines.txt", "".join(f"u{u} " + " ".join(f"i{(u * 7 + k) % 40}" for k in range(8)) + "\n"
                                        for u in range(30)))
    recipe = write(folder / "toys.toml", RECIPE.format(name="toys"))
    with pytest.raises(RecipeError, match="unknown dataset 'toys'.*recsys data add"):
        find_recipe("toys")
    assert main(["data", "add", str(recipe)]) == 0
    assert find_recipe("toys").name == "toys"
    capsys.readouterr()
    assert main(["data", "describe", "toys"]) == 0 and "30" in capsys.readouterr().out
    assert main(["data", "list"]) == 0 and "[yours:" in capsys.readouterr().out
    assert main(["data", "remove", "toys"]) == 0
    with pytest.raises(RecipeError):
        find_recipe("toys")


def test_a_shipped_name_cannot_be_shadowed(tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_CACHE", str(tmp_path / "cache"))
    recipe = write(tmp_path / "x" / "beauty.toml", RECIPE.format(name="beauty"))
    with pytest.raises(RecipeError, match="shipped dataset"):
        from recsys.data.recipe import add_recipe

        add_recipe(recipe)
