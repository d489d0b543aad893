"""Configuration defaults. Each can be overridden by an environment variable with the prefix
``WASTE_LEDGER_`` (e.g. ``WASTE_LEDGER_DATABASE_URL``) or by the mapping given to create_app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ledger.custody.uscc import make_uscc


def defaults(instance_path: str) -> dict[str, Any]:
    inst = Path(instance_path)
    return {
        "DATABASE_URL": f"sqlite:///{inst / 'waste-ledger.db'}",
        "OPERATOR_KEY_FILE": str(inst / "operator.key"),
        "LOG_ORIGIN": "waste-ledger.local/log",
        # The platform operator's own organisation (USCC), name and region: entry 0.
        "OPERATOR_ORG": make_uscc("330000", 1),
        "OPERATOR_NAME": "浙江省固体废物全过程监管平台（运营方）",
        "OPERATOR_REGION": "330000",
        # Custody policy: mass tolerance at handovers, and per region what to do when a
        # receiver's permit does not cover a batch ("refuse", or "flag" to record it).
        "MASS_TOLERANCE_PERMILLE": 50,
        "PERMIT_POLICY": {"*": "refuse"},
        # Regions where closing a case (销号) needs a second regulator's signature (docs/cases.md)
        "CASE_TWO_LEVEL_REGIONS": [],
        # Plans and declarations (docs/plans.md): management class thresholds in tonnes a year
        # and deadlines, e.g. {"key_t": 100, "simplified_t": 10, "report_due_days": 15}.
        "PLAN_SETTINGS": {},
        # Evidence files of cases (photos, PDFs), stored by SHA-256 outside the database.
        "CASE_EVIDENCE_DIR": str(inst / "evidence"),
        "CASE_EVIDENCE_MAX_BYTES": 10 * 1024 * 1024,
        # 回头看: closed cases are looked at again from this many days after the close-out;
        # a gap of their type starting up to WITHIN days after it reopens them (docs/cases.md).
        "CASE_LOOKBACK_AFTER_DAYS": 30,
        "CASE_LOOKBACK_WITHIN_DAYS": 90,
        # Gap thresholds per region, e.g. {"331002": {"uncollected_days": 60}} (see ledger/gaps.py).
        "GAP_THRESHOLDS": {},
        # Storage periods per organisation and waste code or HW category, beyond the region's
        # stored_days (365: 固废法 第八十一条), e.g. an approved extension
        # [{"org": "9133…", "code": "HW49", "days": 540}] (docs/gaps.md, stored_overdue).
        "STORAGE_LIMITS": [],
        # At most 65,535: entry bundles (/log/tile/entries/) frame each note with a uint16.
        "MAX_NOTE_BYTES": 65_535,
        # Serve the entry bundles (every signed note) to anyone, not only regulators and the
        # operator; hash tiles and checkpoints are always public.
        "LOG_PUBLIC_ENTRIES": False,
        # Witnesses that cosign checkpoints, as JSON: [{"url": "https://w.example/witness",
        # "vkey": "w.example+1234abcd+BA..."}] (docs/ledger-format.md section 11).
        "WITNESSES": [],
        "WITNESS_INTERVAL_SECONDS": 5,  # how often the background thread asks them
        "WITNESS_TIMEOUT_SECONDS": 3,  # per witness and request
        # A second database (a streaming replica of DATABASE_URL) that reconciliation reports
        # and gap scans read from; "" = the primary (docs/deployment.md, "Reports on a replica").
        "REPORTS_DATABASE_URL": "",
        "MAX_SKEW_SECONDS": 300,
        "CHECKPOINT_EVERY_ENTRIES": 1000,
        "CHECKPOINT_EVERY_SECONDS": 60,
        "PUBLIC_BASE_URL": "http://127.0.0.1:5000",
        "MAX_CONTENT_LENGTH": 8 * 1024 * 1024,
        "SECRET_KEY": None,
        # Production behind a TLS-terminating proxy: PROXY_HOPS=1 and SESSION_COOKIE_SECURE=true
        # (docs/deployment.md).
        "PROXY_HOPS": 0,
        "TLS_DIR": str(inst / "tls"),  # serve --https keeps its self-signed certificate here
        "SESSION_COOKIE_SECURE": False,
        # Set here, not with setdefault: Flask defines the key (as None), so a default given
        # later never applies. Lax: the cookie is not sent on cross-site POSTs.
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_HTTPONLY": True,
        "PERMANENT_SESSION_LIFETIME": 12 * 3600,  # a working day; then log in again
        # Log-in attempts (page and POST /api/v1/auth/token), counted before the password is
        # checked: per client address, and per username from one address (so guesses from
        # elsewhere never lock a person out). Flask-Limiter strings; docs/deployment.md.
        "LOGIN_LIMIT_PER_ADDRESS": "30 per minute;300 per day",
        "LOGIN_LIMIT_PER_USERNAME": "10 per 15 minutes",
        # Pickup requests (each reserves a manifest number) per organisation.
        "PICKUP_LIMIT_PER_ORG": "60 per hour;300 per day",
        # Where the counters live: "" = this installation's database (shared by every worker);
        # or e.g. redis://127.0.0.1:6379/0.
        "RATELIMIT_STORAGE_URI": "",
        # Scheduled jobs (docs/notifications.md): `serve` ticks in a background thread; other
        # servers (gunicorn) tick in every worker with JOBS_IN_PROCESS=true, or cron runs
        # `waste-ledger jobs run`. A lease in the database runs each due job once.
        "JOBS_IN_PROCESS": False,
        "JOBS_TICK_SECONDS": 10,
        "JOBS_LEASE_SECONDS": 600,  # a run that dies holds its job this long at most
        "REMINDER_EVERY_SECONDS": 3600,
        "DELIVERY_EVERY_SECONDS": 10,
        # Web Push and webhook deliveries: retries after base × 2^(n-1) seconds, up to n tries.
        "DELIVERY_MAX_ATTEMPTS": 8,
        "DELIVERY_RETRY_BASE_SECONDS": 30,
        "DELIVERY_TIMEOUT_SECONDS": 5,
        # Outgoing requests go to public addresses only, unless these allow loopback or
        # private ones (tests; a webhook receiver inside the province's own network).
        "NOTIFY_ALLOW_LOOPBACK": False,
        "NOTIFY_ALLOW_PRIVATE": False,
        # Web Push: the VAPID key (made by `init`, 0600), the contact push services see.
        "VAPID_KEY_FILE": str(inst / "vapid.pem"),
        "VAPID_SUBJECT": "mailto:admin@waste-ledger.local",
        "WEBPUSH_TTL_SECONDS": 24 * 3600,
        # List the demo log-ins on the log-in page when the demo users exist.
        "SHOW_DEMO_LOGINS": True,
    }
