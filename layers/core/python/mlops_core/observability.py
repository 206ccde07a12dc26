"""One place that creates the logger, tracer and metrics every function uses.

Service name, namespace and log level come from the POWERTOOLS_* variables the template
sets, so a function only imports these three objects and decorates its handler in the
fixed order: logger, metrics, tracer.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
