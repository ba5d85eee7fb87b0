"""Every error FabulAWS raises on purpose; each message says what to do next.

The exit status tells a script what happened (docs/commands.rst, "Exit codes"):
0 done, 1 failed, 2 usage or configuration error (nothing was changed),
3 failed and rolled back, 130 interrupted.
"""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_ROLLED_BACK = 3
EXIT_INTERRUPTED = 130


class DeployError(Exception):
    """Anything this tool raises on purpose (printed as one line)."""

    exit_code = EXIT_FAILED


class ConfigError(DeployError, ValueError):
    """fabulaws-config.yml is missing, malformed or inconsistent."""

    exit_code = EXIT_USAGE


class UsageError(DeployError, ValueError):
    """A task was given arguments it cannot use."""

    exit_code = EXIT_USAGE


class AwsResourceError(DeployError, LookupError):
    """An AWS resource the configuration names does not exist."""


class RolledBack(DeployError, RuntimeError):
    """An operation failed and everything it had changed was put back."""

    exit_code = EXIT_ROLLED_BACK


class Interrupted(DeployError):
    """The operator (or a signal) stopped the run; what was done is reported."""

    exit_code = EXIT_INTERRUPTED
