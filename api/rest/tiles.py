"""The read path under /log/ as c2sp.org/tlog-tiles: the checkpoint, hash tiles, entry bundles.

Static resources, so any cache or CDN can serve them: full tiles never change (cached for a
year, ``immutable``); partial tiles are final too but are superseded by the full tile, so they
are cached briefly; the checkpoint moves and is not cached. Entry bundles carry every signed
note of every region, which this app otherwise shows whole only to the operator, so they need
that role unless ``LOG_PUBLIC_ENTRIES`` is set (docs/deployment.md, docs/access.md).
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app

from api.auth import require_role
from api.extensions import db
from api.runtime import log_config
from ledger.tlog import log, tiles
from ledger.tlog.witnessing import current_checkpoint

bp = Blueprint("tlog_tiles", __name__, url_prefix="/log")

FULL_TILE_CACHE = "max-age=31536000, immutable"
PARTIAL_TILE_CACHE = "max-age=60"
CHECKPOINT_CACHE = "no-cache"


@bp.get("/checkpoint")
def checkpoint() -> Response:
    note = current_checkpoint(db.session, log_config())
    resp = Response(note, content_type="text/plain; charset=utf-8")
    resp.headers["Cache-Control"] = CHECKPOINT_CACHE
    return resp


@bp.get("/tile/<path:path>")
def tile(path: str) -> Response:
    t = tiles.parse_tile_path(path)
    public = t.level is not None or bool(current_app.config["LOG_PUBLIC_ENTRIES"])
    if not public:
        # Every signed note of every region: the operator's alone. A bundle cannot be cut to
        # one region without breaking its hashes, so a regulator reads its region's entries
        # through GET /api/v1/entries instead (docs/access.md).
        require_role("operator")
    body = tiles.read_tile(db.session, t, log.log_head(db.session).size)
    resp = Response(body, mimetype="application/octet-stream")
    scope = "public" if public else "private"
    resp.headers["Cache-Control"] = \
        f"{scope}, {FULL_TILE_CACHE if t.full else PARTIAL_TILE_CACHE}"
    return resp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
