"""The polars data pipeline: readers, filters, splits, item text, fingerprints, RecBole export."""

from recsys.data.prepare import PreparedDataset, prepare
from recsys.data.recipe import Recipe, available, find_recipe, load_recipe_file

__all__ = ["PreparedDataset", "Recipe", "available", "find_recipe", "load_recipe_file", "prepare"]
