"""Who is asking (the caller of a use case): an organisation, its roles and region.

Its own module because both access rules and pickups need it, and access also asks pickups
which batches are requested of an organisation.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """Who is asking: an organisation, its roles and region."""

    org: str
    name: str
    roles: frozenset[str]
    region: str
    user: str | None = None

    @property
    def is_operator(self) -> bool:
        return "operator" in self.roles

    @property
    def is_regulator(self) -> bool:
        return "regulator" in self.roles
