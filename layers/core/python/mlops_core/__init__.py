"""mlops_core: the domain library shared by the bundle's Lambda functions and its CLI."""
