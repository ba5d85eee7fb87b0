"""Every error FabulAWS raises on purpose; each message says what to do next."""


class DeployError(Exception):
    """Anything this tool raises on purpose (printed as one line, exit 1)."""


class ConfigError(DeployError, ValueError):
    """fabulaws-config.yml is missing, malformed or inconsistent."""


class UsageError(DeployError, ValueError):
    """A task was given arguments it cannot use."""


class AwsResourceError(DeployError, LookupError):
    """An AWS resource the configuration names does not exist."""
