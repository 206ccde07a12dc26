"""Drift checks: compare a window of live data with the baseline stored at training.

Nothing is imported here on purpose. ``statistics`` (the per-feature tests, their registry
and ``auto_method``) needs only numpy, never the raw training data, pandas or scipy.
"""
