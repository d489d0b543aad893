"""What part of the record a caller may ask about: the region and organisation scope of a
question, decided once for the API, the pages and the CLI."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask

from ledger.audit.gaps import GAP_TYPES, GapQuery, GapSettings, StorageLimit
from ledger.audit.plans import PlanSettings
from ledger.custody.codes import region_contains
from ledger.custody.principals import Principal
from ledger.errors import PermissionDenied


def gap_settings(app: Flask) -> GapSettings:
    limits = tuple(StorageLimit(int(r["days"]), r.get("org"), r.get("code"))
                   for r in app.config.get("STORAGE_LIMITS", ()))
    return GapSettings(regions=app.config.get("GAP_THRESHOLDS", {}), storage_limits=limits,
                       plans=plan_settings(app))


def plan_settings(app: Flask) -> PlanSettings:
    """Management class thresholds and deadlines (docs/plans.md), from ``PLAN_SETTINGS``."""
    return PlanSettings(**dict(app.config.get("PLAN_SETTINGS", {})))


def regulator_region(p: Principal, region: str | None) -> str | None:
    """The region a regulator's question covers: the one asked for (its own when none), which
    must lie within its own region; the operator's, as asked (None: everywhere)."""
    if p.is_operator:
        return region
    region = region or p.region
    if not region_contains(p.region, region):
        raise PermissionDenied(f"region {region} is outside your region {p.region}",
                               code="region_forbidden", field="region")
    return region


def scoped_gap_query(p: Principal, args: dict[str, Any]) -> GapQuery:
    """The gap query ``p`` may run: a regulator within its region, anyone else the gaps
    that involve its organisation; the operator everything."""
    region = args.get("region")
    organisation = args.get("organisation")
    if p.is_regulator and not p.is_operator:
        region = regulator_region(p, region)
    elif not p.is_operator:
        if organisation not in (None, p.org):
            raise PermissionDenied("you see the gaps that involve you",
                                   code="permission_denied", field="organisation")
        organisation = p.org
    return GapQuery(now_ms=time.time_ns() // 1_000_000, region=region,
                    types=frozenset(args["type"] or GAP_TYPES), organisation=organisation,
                    status=args.get("status"), severity=args.get("severity"))
