"""One exception tree for the whole domain, rooted at LedgerError.

Every error carries a stable machine ``code`` naming the rule that failed, an English
``message``, and, where one input field is to blame, that ``field``. HTTP status codes are
chosen in ``api/``, never here; ``api/`` also translates codes into Chinese for users.
"""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """Base of every error the domain raises on purpose."""

    code = "ledger_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        **params: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field
        self.params = params

    def __str__(self) -> str:
        where = f" [{self.field}]" if self.field else ""
        return f"{self.code}{where}: {self.message}"


class InvalidInput(LedgerError):
    """The input is malformed: it cannot be parsed or breaks the format (not a rule)."""

    code = "invalid_input"


class NoteMalformed(InvalidInput):
    """A signed note does not follow the C2SP signed-note grammar."""

    code = "note_malformed"


class PayloadInvalid(InvalidInput):
    """An entry payload is not canonical JSON or a field has the wrong type or form."""

    code = "payload_invalid"


class TooLarge(InvalidInput):
    """The input exceeds a configured size limit."""

    code = "too_large"


class RuleViolation(LedgerError):
    """The input is well formed but a ledger or custody rule forbids it."""

    code = "rule_violation"


class SignatureInvalid(RuleViolation):
    """A signature by a known key does not verify."""

    code = "signature_invalid"


class KeyNotAuthorised(RuleViolation):
    """The signing key is unknown, revoked or not registered to the acting organisation."""

    code = "key_not_authorised"


class Conflict(LedgerError):
    """The entry lost a race or names a stale stream position: re-read, re-sign, retry."""

    code = "conflict"


class NotFound(LedgerError):
    """The thing asked for does not exist (or is not visible to the caller)."""

    code = "not_found"


class PermissionDenied(LedgerError):
    """The caller may not see or do this."""

    code = "permission_denied"


class TooManyAttempts(PermissionDenied):
    """Too many failed attempts in a short time; try again later (HTTP 429)."""

    code = "too_many_attempts"


class Busy(LedgerError):
    """The database could not take the write now (SQLite's single writer lock was held past
    the wait, or a read snapshot went stale); nothing was changed: retry (HTTP 503)."""

    code = "database_busy"


class ConfigurationError(LedgerError):
    """The installation is missing something it needs (a key, a font, a setting)."""

    code = "configuration_error"
