"""The names predict counts its 5xx answers under, which deploy_model's rollout alarms read.

Lambda counts a handled 500 as a success, so predict emits its own count, by the Lambda
version that answered; each version's errors alarm adds it to Lambda's ``Errors``. A module
of names only: both functions import it without the Powertools objects of observability.
"""

SERVER_ERRORS_METRIC = "ServerErrors"
#: Its dimensions: the service (predict's POWERTOOLS_SERVICE_NAME) and the version that answered.
SERVICE = "predict"
VERSION_DIMENSION = "function_version"
