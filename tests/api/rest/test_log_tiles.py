"""/log/ as c2sp.org/tlog-tiles on both databases: content, caching, access, errors, and
`waste-ledger tiles export` writing the same tree as static files."""

from __future__ import annotations

from pathlib import Path

from api.extensions import db
from ledger.custody.access import issue_token
from ledger.tlog.tiles import tiles_for_size, unbundle


def operator_token(app) -> str:
    with app.app_context():
        token = issue_token(db.session, app.config["OPERATOR_ORG"], "tiles")
        db.session.commit()
        return token


def test_checkpoint_is_served_uncached_as_text(client):
    r = client.get("/log/checkpoint")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert r.headers["Cache-Control"] == "no-cache"
    assert r.get_data() == client.get("/api/v1/checkpoint").get_data()
    assert r.get_data().split(b"\n")[1] == b"1"


def test_hash_tiles_are_public_and_partial_ones_cached_briefly(client):
    r = client.get("/log/tile/0/000.p/1")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.headers["Cache-Control"] == "public, max-age=60"
    assert len(r.get_data()) == 32


def test_entry_bundles_need_the_regulator_or_operator_role(app, client):
    r = client.get("/log/tile/entries/000.p/1")
    assert r.status_code == 401
    assert r.get_json()["code"] == "unauthenticated"
    r = client.get("/log/tile/entries/000.p/1",
                   headers={"Authorization": f"Bearer {operator_token(app)}"})
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "private, max-age=60"
    (note,) = unbundle(r.get_data())
    assert note.startswith(b"waste-ledger/entry/v1\n")


def test_entry_bundles_can_be_made_public(app, client):
    app.config["LOG_PUBLIC_ENTRIES"] = True
    r = client.get("/log/tile/entries/000.p/1")
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "public, max-age=60"


def test_tiles_that_do_not_exist_are_404_with_the_error_body(client):
    for path, code in [("/log/tile/0/000", "tile_not_found"),
                       ("/log/tile/0/000.p/2", "tile_not_found"),
                       ("/log/tile/1/000.p/1", "tile_not_found"),
                       ("/log/tile/0/" + "x999/" * 12 + "999", "tile_not_found"),
                       ("/log/tile/63/x999/999.p/255", "tile_not_found"),
                       ("/log/tile/0/0", "tile_path_invalid"),
                       ("/log/tile/0/x000/000.p/1", "tile_path_invalid"),
                       ("/log/tile/8/0/000", "tile_path_invalid")]:
        r = client.get(path, headers={"Accept-Language": "en"})
        assert r.status_code == 404, path
        body = r.get_json()
        assert body["code"] == code and body["status"] == 404, path
        assert body["message"]


def test_tiles_export_writes_what_log_serves(app, client, cli, tmp_path: Path):
    app.config["LOG_PUBLIC_ENTRIES"] = True
    out = tmp_path / "tiles"
    result = cli("tiles", "export", str(out))
    assert result.exit_code == 0, result.output
    checkpoint = (out / "checkpoint").read_bytes()
    assert checkpoint == client.get("/log/checkpoint").get_data()
    size = int(checkpoint.split(b"\n")[1])
    wanted = {t.path for t in tiles_for_size(size)}
    written = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} - {"checkpoint"}
    assert written == wanted
    for path in wanted:
        assert (out / path).read_bytes() == client.get(f"/log/{path}").get_data(), path
    # without the bundles: hash tiles only
    bare = tmp_path / "bare"
    assert cli("tiles", "export", "--no-entries", str(bare)).exit_code == 0
    assert not (bare / "tile" / "entries").exists()
    assert (bare / "tile" / "0").is_dir()
