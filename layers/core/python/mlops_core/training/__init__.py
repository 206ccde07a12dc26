"""Training: the contract's ``training:`` section, features, fitting, baseline, artifacts, manifest.

Nothing is imported here on purpose. ``spec``, ``manifest`` and ``baseline`` need no
scikit-learn; ``features``, ``train`` and ``artifacts`` import it (about 2 s on a cold
start), so a function that only reads manifests never pays for it.
"""
