"""Hyper-parameter tuning on validation data only: search spaces (``spaces``) and Optuna studies kept
in the results store (``study``); ``recsys tune`` and a suite's ``[tune]`` table use them."""
