"""Exceptions of the handoff policy; the CLI and the HTTP API turn them into a message (exit code 2 / 4xx)."""

from __future__ import annotations


class HandoffError(ValueError):
    """Base class: an input to the handoff policy is unusable. The message says what and where."""


class CapacitySpecError(HandoffError):
    """A capacity spec (CLI options, TOML team file or JSON body) is invalid."""


class ScoredLeadsError(HandoffError):
    """The scored-leads frame given to the policy is invalid (missing column, NaN, bad value, ...)."""
