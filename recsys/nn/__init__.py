"""Shared layers: pieces several models build on, with no knowledge of datasets."""
