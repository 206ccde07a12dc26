"""mlops: the bundle's command line and local tooling (not shipped to Lambda)."""
