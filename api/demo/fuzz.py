"""A small demo district served over loopback, with bearer tokens for a regulator and an
enterprise: the target that schemathesis fuzzes (tests/api/rest/test_openapi_fuzz.py and
bench/fuzz_api.sh).

``python -m api.demo.fuzz --database URL --dir DIR`` initialises and seeds a fresh database,
writes ``DIR/target.json`` (``{"url", "regulator", "enterprise"}``) and serves until killed.
"""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import make_server

from api.demo.seed import DEMO_USERS, seed_demo
from api.extensions import db
from ledger.custody import access

#: The demo log-ins whose organisations get a token: a regulator and an enterprise (产废单位).
TOKEN_USERS = {"regulator": "regulator", "enterprise": "generator"}


def seed_target(app: Flask) -> dict[str, str]:
    """Seed a small district (3 enterprises, 1 month) and return a bearer token per role."""
    seed_demo(app, enterprises=3, months=1)
    orgs = {}
    with app.app_context():
        for username, _, _ in DEMO_USERS:
            user = db.session.scalars(db.select(access.User)
                                      .where(access.User.username == username)).one()
            orgs[username] = user.org
        return {role: access.issue_token(db.session, orgs[user], f"fuzz-{role}")
                for role, user in TOKEN_USERS.items()}


@contextmanager
def served(app: Flask) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 (a free port, threaded) for the block; yields the base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


def main(argv: list[str] | None = None) -> None:
    from api import create_app
    from api.cli.main import ensure_initialised

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", required=True, help="SQLAlchemy URL of an empty database")
    parser.add_argument("--dir", required=True, type=Path,
                        help="where the operator key and target.json go")
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {"DATABASE_URL": args.database, "SECRET_KEY": "fuzz",
                              "OPERATOR_KEY_FILE": str(args.dir / "operator.key")}
    app = create_app(config)
    with app.app_context():
        ensure_initialised()
    tokens = seed_target(app)
    with served(app) as url:
        (args.dir / "target.json").write_text(json.dumps({"url": url, **tokens}))
        print(f"serving {url}", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
