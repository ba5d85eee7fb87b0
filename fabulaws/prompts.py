"""Questions to the operator that never hang a non-interactive run."""

from __future__ import annotations

import sys

from .errors import UsageError

YES = ("y", "yes")


def confirm(question: str, answer: str | None = None) -> bool:
    """True if the operator (or ``answer``, e.g. ``answer=y``) says yes; default no.

    Without ``answer`` and without a terminal on stdin this raises UsageError
    instead of waiting for input that can never come.
    """
    if answer is not None:
        return str(answer).strip().lower() in YES
    if not sys.stdin or not sys.stdin.isatty():
        raise UsageError(f"{question} -- stdin is not a terminal, so nobody can answer; pass answer=y to confirm")
    reply = input(f"{question} [y/N] ")
    return reply.strip().lower() in YES


def confirm_production(what: str, environment: str, answer: str | None = None, warning: str = "") -> None:
    """The one question before ``what`` (a task name, or "tasks" when selecting) changes a production environment.

    UsageError (nothing done) unless the operator, or ``answer``, says yes; ``warning`` follows the question.
    """
    question = f"Are you sure you want to run {what} on the production environment {environment}?"
    if not confirm(f"{question} {warning}" if warning else question, answer):
        raise UsageError(f"Not running {what} on the production environment {environment}.")
