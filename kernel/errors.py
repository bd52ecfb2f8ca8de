"""The one exception tree. Raised where a problem happens; mapped to HTTP status only in ``service/errors.py``."""

from __future__ import annotations


class SieveError(Exception):
    """Base class: every error Sieve raises on purpose."""


class InvalidInput(SieveError):
    """The caller asked for something malformed or out of range."""


class NotFound(SieveError):
    """A named collection, index or model does not exist."""


class CorpusError(SieveError):
    """A corpus record cannot be read (bad JSON, missing id, duplicate id, empty text)."""


class IndexUnavailable(SieveError):
    """An index on disk is missing, half-built or does not match its manifest."""


class ModelUnavailable(SieveError):
    """A model cannot be loaded; the message names the package or path that would provide it."""


class MissingExtra(SieveError):
    """An optional dependency is not installed; the message names the pip extra."""


class UpstreamError(SieveError):
    """A service Sieve calls (an OpenAI-compatible LLM endpoint) failed or timed out after its retries."""
