"""Models: ours (RecBole-compatible) and RecBole's own, behind one registry."""

from recsys.models.registry import ModelSpec, get_model_spec, list_models

__all__ = ["ModelSpec", "get_model_spec", "list_models"]
