"""User-facing errors.

Every failure caused by the user's input (a missing chart, a bad flag, helm
failing to render) is raised as a :class:`UserError`.  The CLI prints its
message as one paragraph and exits with :attr:`UserError.exit_code` (2 for
usage and rendering problems, the convention of `helm` and of linters);
tracebacks are shown only with ``--debug`` / ``HELM_DEBUG``.
"""
from __future__ import annotations


class UserError(Exception):
    """An error the user can fix; printed without a traceback."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"


class HelmNotFound(UserError):
    """No helm binary could be found."""


class HelmTooOld(UserError):
    """The helm binary is older than we support."""


class RenderError(UserError):
    """`helm template` failed; the message carries helm's own words."""


class ChartError(UserError):
    """A chart could not be read (missing, not a chart, bad Chart.yaml)."""
