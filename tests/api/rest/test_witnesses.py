"""Witnesses on loopback (real HTTP servers, their own SQLite databases) and the log on SQLite
and PostgreSQL: cosigning, fork attempts refused and kept as evidence, exports verified with a
quorum, receipts with the cosigned checkpoint, and the background cosigner."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from werkzeug.serving import make_server

from api import cosigning
from api.cli.main import main
from api.demo.seed import join
from api.extensions import db
from api.runtime import log_config
from api.witness import create_witness_app
from ledger.tlog import log
from ledger.tlog.checkpoints import parse_checkpoint, sign_checkpoint, verify_tlog_proof
from ledger.tlog.cosignatures import CosignerKey, cosigners, format_add_checkpoint
from ledger.tlog.notes import Signer, parse_note
from ledger.tlog.verify import VerificationFailed, verify_export
from ledger.tlog.verify import main as verify_main
from ledger.tlog.witness import WitnessConfig
from tests.api.lifecycle import GENERATORS
from tests.conftest import initialised_app


@dataclass
class RunningWitness:
    url: str
    key: CosignerKey
    database: str

    @property
    def setting(self) -> dict[str, str]:
        return {"url": self.url, "vkey": self.key.vkey}


@pytest.fixture
def witnesses(tmp_path):
    """Two witnesses on 127.0.0.1 (port 0), each following the test log's operator key."""
    operator_key = tmp_path / "operator.key"
    operator = Signer.generate("waste-ledger.local/log")
    operator_key.write_text(operator.private_key_text() + "\n")
    running, servers = [], []
    for n in (1, 2):
        signer = Signer.generate(f"witness.example/w{n}")
        url = f"sqlite:///{tmp_path / f'witness{n}.db'}"
        app = create_witness_app(WitnessConfig(signer, {operator.name: operator.verifier}), url)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread, app))
        running.append(RunningWitness(f"http://127.0.0.1:{server.server_port}",
                                      CosignerKey(signer.name, signer.verifier.public_key), url))
    try:
        yield running, operator_key
    finally:
        for server, thread, app in servers:
            server.shutdown()
            thread.join()
            app.extensions["witness_engine"].dispose()


@pytest.fixture
def witnessed_app(database, tmp_path, witnesses):
    running, operator_key = witnesses
    with initialised_app(database, tmp_path, OPERATOR_KEY_FILE=str(operator_key),
                         WITNESSES=[w.setting for w in running],
                         WITNESS_INTERVAL_SECONDS=0) as app:
        yield app, running


def run_cli(app, *args: str):
    """`waste-ledger ...` against ``app``."""
    return CliRunner().invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app),
                              catch_exceptions=False)


def grow(app, n: int) -> None:
    """Register ``n`` more organisations (entries signed by the operator)."""
    done = app.extensions.setdefault("test_grown", 0)
    for i in range(done, done + n):
        join(app, GENERATORS[i], f"椒江小微企业{i + 1}号", "331002", ["generator"])
    app.extensions["test_grown"] = done + n


def post(url: str, body: bytes) -> tuple[int, str, bytes]:
    req = urllib.request.Request(f"{url}/add-checkpoint", data=body, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers.get_content_type(), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get_content_type(), exc.read()


def cosigned_checkpoint(client) -> bytes:
    r = client.get("/log/checkpoint")
    assert r.status_code == 200
    return r.get_data()


def test_the_log_is_cosigned_served_exported_and_verified_with_a_quorum(witnessed_app,
                                                                        tmp_path: Path):
    app, running = witnessed_app

    def cli(*args: str):
        return run_cli(app, *args)

    client = app.test_client()
    keys = [w.key for w in running]
    result = cli("witness", "push")
    assert result.exit_code == 0, result.output
    first = parse_note(cosigned_checkpoint(client))
    assert cosigners(first, keys) == keys  # trust on first use at size 1
    grow(app, 3)
    result = cli("witness", "push")  # now with a consistency proof from 1
    assert result.exit_code == 0, result.output
    served = cosigned_checkpoint(client)
    note = parse_note(served)
    assert cosigners(note, keys) == keys
    assert len(note.signatures) == 3  # the operator's and two cosignatures
    assert client.get("/api/v1/checkpoint").get_data() == served
    with app.app_context():
        operator = log_config().operator.verifier
    size = parse_checkpoint(served, operator).size
    assert size > 1

    # a receipt carries the cosigned checkpoint
    r = client.get("/api/v1/entries/1/receipt")
    assert r.status_code == 200
    proof = r.get_data(as_text=True)
    assert proof.endswith(served.decode())
    with app.app_context():
        entry = log.entries_between(db.session, 1, 2).__next__().note
    assert verify_tlog_proof(proof, entry, operator).size == size
    assert client.get(f"/api/v1/entries/{size}/receipt").status_code == 404
    beyond = client.get(f"/api/v1/entries/{2**80}/receipt")  # past any integer a log can reach
    assert beyond.status_code == 422 and beyond.json["code"] != "internal_error"

    # an export carries the cosignatures and verifies with a quorum
    out = tmp_path / "export"
    assert cli("export", str(out)).exit_code == 0
    assert cosigners(parse_note((out / "checkpoint").read_bytes()), keys) == keys
    assert verify_export(out, witnesses=keys, witness_quorum=2).entries == size
    args = [str(out), "--jobs", "1", "--quiet"]
    assert verify_main(args + ["--witness", keys[0].vkey, "--witness", keys[1].vkey]) == 0
    stranger = CosignerKey("witness.example/w3", Signer.generate("x").verifier.public_key)
    with pytest.raises(VerificationFailed) as err:
        verify_export(out, witnesses=[*keys, stranger], witness_quorum=3)
    assert err.value.failure.rule == "witness_quorum"
    assert verify_main(args + ["--witness", keys[0].vkey, "--witness", stranger.vkey]) == 1
    assert verify_main(args + ["--witness", keys[0].vkey, "--witness", stranger.vkey,
                               "--witness-quorum", "1"]) == 0
    assert verify_main(args + ["--witness", keys[0].vkey, "--witness-quorum", "2"]) == 2
    # the tiles export carries them too
    assert cli("tiles", "export", str(tmp_path / "tiles")).exit_code == 0
    assert (tmp_path / "tiles" / "checkpoint").read_bytes() == (out / "checkpoint").read_bytes()
    # a rebuild of the projections keeps them: nothing in the log could remake them
    result = cli("rebuild")
    assert result.exit_code == 0, result.output
    assert cosigned_checkpoint(client) == served


def test_fork_attempts_are_refused_and_kept_as_evidence(witnessed_app):
    app, running = witnessed_app

    def cli(*args: str):
        return run_cli(app, *args)

    w1 = running[0]
    grow(app, 2)
    assert cli("witness", "push").exit_code == 0
    client = app.test_client()
    honest = cosigned_checkpoint(client)
    with app.app_context():
        config = log_config()
        operator = config.operator
        cp = parse_checkpoint(honest, operator.verifier)
        real_proof = log.consistency_proof(db.session, 1, cp.size)
    # The operator signs a second checkpoint of the same size with another root: a fork.
    forked = sign_checkpoint(operator, cp.size, bytes(32))
    status, ctype, body = post(w1.url, format_add_checkpoint(cp.size, [], forked))
    assert status == 409 and ctype == "application/json"
    assert json.loads(body)["code"] == "witness_fork"
    # ... and a larger one that does not extend the cosigned tree (no proof can be right)
    bigger = sign_checkpoint(operator, cp.size + 5, bytes(32))
    status, _, body = post(w1.url, format_add_checkpoint(cp.size, real_proof, bigger))
    assert status == 422 and json.loads(body)["code"] == "witness_proof_invalid"
    # refused: no cosignature, the witness still holds the honest size
    status, ctype, body = post(w1.url, format_add_checkpoint(0, [], honest))
    assert (status, ctype, body) == (409, "text/x.tlog.size", f"{cp.size}\n".encode())
    # detected: both forks are on record with the checkpoint the witness held
    result = cli("witness", "evidence", "--database", w1.database)
    assert result.exit_code == 0
    assert result.output.count("== waste-ledger.local/log:") == 2
    assert "same_size_other_root" in result.output
    assert "consistency_proof_failed" in result.output
    assert honest.split(b"\n\n")[0].decode() in result.output
    assert forked.decode() in result.output
    # the other witness never saw them; the honest log goes on being cosigned by both
    grow(app, 1)
    assert cli("witness", "push").exit_code == 0
    assert len(cosigners(parse_note(cosigned_checkpoint(client)),
                         [w.key for w in running])) == 2


def test_witness_refusals_follow_tlog_witness(witnessed_app):
    app, running = witnessed_app
    w1 = running[0]
    with app.app_context():
        operator = log_config().operator
    good = sign_checkpoint(operator, 1, bytes(32))
    stranger = Signer.generate(operator.name)  # same origin, another key
    cases = [
        (format_add_checkpoint(0, [], sign_checkpoint(Signer.generate("other.example/log"), 1,
                                                      bytes(32))), 404, "witness_log_unknown"),
        (format_add_checkpoint(0, [], sign_checkpoint(stranger, 1, bytes(32))), 403,
         "checkpoint_unsigned"),
        (format_add_checkpoint(2, [], good), 400, "witness_request_malformed"),
        (format_add_checkpoint(0, [bytes(32)], good), 400, "witness_request_malformed"),
        (b"old 0\n" + good, 400, "witness_request_malformed"),
    ]
    for body, status, code in cases:
        got, ctype, answer = post(w1.url, body)
        assert (got, json.loads(answer)["code"]) == (status, code), answer
    # nothing was cosigned, so the witness still expects old size 0
    got, ctype, answer = post(w1.url, format_add_checkpoint(0, [], good))
    assert got == 200 and answer.startswith("— witness.example/w1 ".encode())


def test_the_background_cosigner_gets_new_checkpoints_cosigned(database, tmp_path, witnesses):
    running, operator_key = witnesses
    with initialised_app(database, tmp_path, OPERATOR_KEY_FILE=str(operator_key),
                         WITNESSES=[w.setting for w in running],
                         WITNESS_INTERVAL_SECONDS=0.2, CHECKPOINT_EVERY_SECONDS=0) as app:
        try:
            client = app.test_client()
            grow(app, 1)
            keys = [w.key for w in running]
            note = b""
            for _ in range(300):  # poll; no timing assertion
                note = cosigned_checkpoint(client)
                if len(cosigners(parse_note(note), keys)) == 2:
                    break
                time.sleep(0.1)
            assert len(cosigners(parse_note(note), keys)) == 2, note
        finally:
            cosigning.stop(app)


def test_appends_do_not_wait_for_a_witness_that_hangs(database, tmp_path):
    """A witness that accepts the connection and never answers: while the cosigner is stuck in
    that request, appends still commit and the checkpoint is still served."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted, release = threading.Event(), threading.Event()

    def hang() -> None:
        conn, _ = listener.accept()
        accepted.set()
        release.wait()
        conn.close()

    hanging = threading.Thread(target=hang, daemon=True)
    hanging.start()
    key = CosignerKey("witness.example/slow", Signer.generate("x").verifier.public_key)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    with initialised_app(database, tmp_path, WITNESSES=[{"url": url, "vkey": key.vkey}],
                         WITNESS_INTERVAL_SECONDS=0.1, WITNESS_TIMEOUT_SECONDS=600) as app:
        try:
            client = app.test_client()
            cosigned_checkpoint(client)  # the first request starts the cosigner
            assert accepted.wait(120), "the cosigner never called the witness"
            with app.app_context():
                before = log.log_head(db.session).size
            grow(app, 2)  # the cosigner is inside its request now
            with app.app_context():
                after = log.log_head(db.session).size
            assert after > before
            served = parse_checkpoint(cosigned_checkpoint(client), operator_of(app))
            assert served.size <= after
        finally:
            release.set()
            cosigning.stop(app)
            hanging.join()
            listener.close()


def operator_of(app):
    with app.app_context():
        return log_config().operator.verifier


def test_appends_go_on_when_the_witnesses_are_down(database, tmp_path):
    gone = CosignerKey("witness.example/gone", Signer.generate("x").verifier.public_key)
    with initialised_app(database, tmp_path, WITNESSES=[{"url": "http://127.0.0.1:9/",
                                                         "vkey": gone.vkey}],
                         WITNESS_INTERVAL_SECONDS=0, WITNESS_TIMEOUT_SECONDS=1) as app:
        grow(app, 1)
        result = run_cli(app, "witness", "push")
        assert result.exit_code == 1
        assert "FAILED" in result.output
        r = app.test_client().get("/log/checkpoint")
        assert r.status_code == 200 and len(parse_note(r.get_data()).signatures) == 1


def test_the_verify_page_requires_a_quorum_of_witnesses(witnessed_app, tmp_path: Path):
    import html
    import io
    import zipfile

    from tests.api.lifecycle import REGULATOR
    from tests.api.logins import log_in_as, region_with_people

    app, running = witnessed_app
    region_with_people(app, {"inspector": REGULATOR}, "correct horse 9")
    out = tmp_path / "export"
    assert run_cli(app, "export", str(out)).exit_code == 0
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        for path in out.rglob("*"):
            if path.is_file():
                z.write(path, f"export/{path.relative_to(out)}")
    client = app.test_client()
    token = log_in_as(client, "inspector", "correct horse 9")
    keys = "\n".join(w.key.vkey for w in running)
    stranger = CosignerKey("witness.example/w3", Signer.generate("x").verifier.public_key).vkey

    def post_export(witnesses: str, quorum: str = ""):
        resp = client.post("/regulator/verify", data={
            "csrf_token": token, "what": "export", "witnesses": witnesses,
            "witness_quorum": quorum, "export": [(io.BytesIO(archive.getvalue()), "e.zip")]},
            content_type="multipart/form-data")
        return resp.status_code, html.unescape(resp.get_data(as_text=True))

    status, page = post_export(keys, "2")
    assert status == 200 and "✔ 验证通过" in page and "2 / 2（需要 2）" in page
    status, page = post_export(keys + "\n" + stranger)  # default quorum: all three
    assert status == 200 and "✘ 验证未通过" in page and "witness_quorum" in page
    assert "2 / 3（需要 3）" in page
    status, page = post_export(keys, "3")
    assert status == 422 and "联署门槛" in page
    status, page = post_export("not-a-vkey")
    assert status == 422 and "见证方公钥无效" in page

    # a checkpoint pasted with its cosignatures, and the same without them
    cosigned = (out / "checkpoint").read_text()
    bare = cosigned.split("\n\n")[0] + "\n\n" + cosigned.split("\n\n")[1].split("\n")[0] + "\n"
    for text, ok in ((cosigned, True), (bare, False)):
        resp = client.post("/regulator/verify", data={
            "csrf_token": token, "what": "checkpoint", "checkpoint": text,
            "witnesses": keys, "witness_quorum": "2"})
        page = html.unescape(resp.get_data(as_text=True))
        assert ("✔ 验证通过" in page) is ok, page
