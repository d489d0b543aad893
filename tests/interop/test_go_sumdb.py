"""Interoperability with code we did not write: Go's golang.org/x/mod/sumdb/note and
sumdb/tlog (Debian's golang-go and golang-golang-x-mod-dev) read our log over HTTP.

A small Go program (tests/interop/tlogclient) is built offline against the Debian sources and
run against the app served on 127.0.0.1, on SQLite and PostgreSQL. It opens our checkpoints
and every entry note with ``note.Open``, authenticates every tile against the checkpoint with
``tlog.TileHashReader``, proves a record's inclusion and the consistency of an older
checkpoint from the tiles alone and compares both proofs with our API's. Any failure there is a
defect in our format or its documentation (docs/ledger-format.md, section 10).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import urllib.request
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from ledger.tlog.cosignatures import cosign
from ledger.tlog.log import issue_checkpoint
from ledger.tlog.models import CheckpointCosignature
from ledger.tlog.notes import Signer, parse_note
from tests.ledger.factories import OPERATOR_ORG, make_world, operator
from tests.tools import unless_ci

GO_SOURCE = Path(__file__).parent / "tlogclient"
DEBIAN_GOPATH = "/usr/share/gocode"  # golang-golang-x-mod-dev installs golang.org/x/mod here
HAVE_GO = shutil.which("go") is not None and \
    Path(DEBIAN_GOPATH, "src/golang.org/x/mod/sumdb/tlog").is_dir()
GEN = "91331001MA2B00001A"
pytestmark = unless_ci(not HAVE_GO, "needs golang-go and golang-golang-x-mod-dev "
                                    "(scripts/sysdeps.sh)")


@pytest.fixture(scope="session")
def tlogclient(tmp_path_factory) -> Path:
    """The Go client, built once per run from the Debian sources: GOPATH mode, no network."""
    out = tmp_path_factory.mktemp("go")
    env = {"PATH": os.environ["PATH"], "HOME": str(out), "GO111MODULE": "off",
           "GOPATH": DEBIAN_GOPATH, "GOPROXY": "off", "GOFLAGS": "-buildvcs=false",
           "GOCACHE": str(out / "cache"), "CGO_ENABLED": "0"}
    binary = out / "tlogclient"
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=GO_SOURCE, env=env,
                   check=True, capture_output=True, timeout=600)
    return binary


@pytest.fixture
def served_log(database, tmp_path):
    """A log of 520 entries (two full tiles, a partial one, a level-1 tile of 2) by the
    operator and a registered device key, an older checkpoint at 300, the app on a port."""
    from api import create_app

    engine = database.engine()
    world = make_world(engine)
    world.register_org(GEN, "椒江某五金厂")
    device = world.register_key(GEN, "gen-phone")
    batch = GEN + "900039492026112" + "2001"
    for i in range(297):
        world.act(world.operator, OPERATOR_ORG, f"{GEN}90003949202611220{i % 9 + 1:02d}"[:37],
                  data={"i": i})
    old = issue_checkpoint(world.session, world.config)
    for i in range(220):
        world.act(device, GEN, batch, data={"i": i})
    latest = issue_checkpoint(world.session, world.config)
    # a witness's cosignature on it, so Go opens a checkpoint as /log/checkpoint serves it
    # with witnesses: one more signature line, of a type Go does not know
    witness = Signer.generate("witness.example/w1")
    size = int(latest.split(b"\n")[1])
    world.session.add(CheckpointCosignature(
        size=size, witness="witness.example/w1", timestamp=1, received_ms=0,
        line=cosign(witness, parse_note(latest).text, 1)))
    world.session.commit()
    world.session.close()

    key_file = tmp_path / "operator.key"
    key_file.write_text(operator().private_key_text() + "\n")
    app = create_app({"TESTING": True, "DATABASE_URL": database.url,
                      "SQLALCHEMY_ENGINE_OPTIONS": database.engine_options,
                      "OPERATOR_KEY_FILE": str(key_file), "SECRET_KEY": "x",
                      "LOG_PUBLIC_ENTRIES": True})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    old_file = tmp_path / "old.checkpoint"
    old_file.write_bytes(old)
    vkeys = tmp_path / "vkeys"
    vkeys.write_text(device.verifier.vkey + "\n")
    try:
        yield f"http://127.0.0.1:{server.server_port}", old_file, vkeys, device
    finally:
        server.shutdown()
        thread.join()
        from api.extensions import db

        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        engine.dispose()


def run_client(binary: Path, base: str, old: Path, vkeys: Path, index: int,
               operator_vkey: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary), "-log", f"{base}/log", "-api", f"{base}/api/v1", "-operator",
         operator_vkey, "-vkeys", str(vkeys), "-old", str(old), "-index", str(index)],
        capture_output=True, text=True, timeout=300)


def test_go_sumdb_reads_our_tiles_notes_and_proofs(tlogclient, served_log):
    base, old, vkeys, _device = served_log
    done = run_client(tlogclient, base, old, vkeys, 517, operator().verifier.vkey)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    with urllib.request.urlopen(f"{base}/log/checkpoint") as r:
        checkpoint = r.read().decode()
    size, root = checkpoint.split("\n")[1:3]
    assert checkpoint.count("\n— ") == 2  # the operator's line and a cosignature
    assert out["size"] == int(size) == 520
    assert out["entries_opened"] == 520
    # Go prints hashes in base64 too: its tree hash from the tiles is the signed root
    assert out["root"] == out["tree_hash"] == root
    assert out["old_size"] == 300
    assert out["inclusion_hashes"] > 0 and out["consistency_hashes"] > 0

    # the headers a cache relies on, over real HTTP
    with urllib.request.urlopen(f"{base}/log/tile/0/001") as r:
        assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert len(r.read()) == 8192
    with urllib.request.urlopen(f"{base}/log/tile/1/000.p/2") as r:
        assert r.headers["Cache-Control"] == "public, max-age=60"
        assert len(r.read()) == 64

    # the same run with another operator key of the same name fails in note.Open: Go does
    # check our signatures, and this test can fail
    impostor = Signer.from_seed(operator().name, bytes(32)).verifier.vkey
    done = run_client(tlogclient, base, old, vkeys, 5, impostor)
    assert done.returncode == 1
    assert "note.Open(checkpoint)" in done.stderr
