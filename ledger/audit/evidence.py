"""Evidence files of cases (整改佐证材料): photos and PDFs kept outside the database, each under
the SHA-256 of its bytes, which is what a signed ``case.responded`` names.

A file is accepted only when its first bytes are those of an image or PDF format a phone or an
office produces (the declared content type is not trusted) and it is not larger than the limit.
Storing is idempotent: the same bytes land in the same file once.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.audit.models import Case, CaseEvidence
from ledger.errors import InvalidInput, NotFound, TooLarge

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600


@dataclass(frozen=True)
class StoredEvidence:
    sha256: str
    media_type: str
    size: int


def sniff(data: bytes) -> str | None:
    """The media type the bytes are, among those accepted as evidence, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"msf1"):
        return "image/heic"  # iPhone photos
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def evidence_path(root: Path, sha256: str) -> Path:
    """Where the file of that hash lives: fanned out by its first two hex digits."""
    return root / sha256[:2] / sha256


def store_evidence(session: Session, root: Path, case: Case, org: str, data: bytes,
                   now_ms: int, max_bytes: int = DEFAULT_MAX_BYTES) -> StoredEvidence:
    """Keep ``data`` as evidence of ``case`` uploaded by ``org``; commits the record."""
    if len(data) > max_bytes:
        raise TooLarge(f"an evidence file is at most {max_bytes // (1024 * 1024)} MB",
                       code="file_too_large", field="file")
    if not data:
        raise InvalidInput("the file is empty", code="file_missing", field="file")
    media_type = sniff(data)
    if media_type is None:
        raise InvalidInput("evidence must be a photo (JPEG, PNG, WebP, HEIC) or a PDF",
                           code="file_type_invalid", field="file")
    sha = hashlib.sha256(data).hexdigest()
    _write_once(evidence_path(root, sha), data)
    if session.get(CaseEvidence, (case.id, sha)) is None:
        session.add(CaseEvidence(case_id=case.id, sha256=sha, media_type=media_type,
                                 size=len(data), uploaded_by=org, uploaded_ms=now_ms))
    session.commit()
    return StoredEvidence(sha, media_type, len(data))


def _write_once(path: Path, data: bytes) -> None:
    """Write the file under a temporary name and rename it into place, so a reader never sees
    half a file and two uploads of the same bytes at once both succeed."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def evidence_file(session: Session, root: Path, case: Case, sha256: str) -> tuple[Path, str]:
    """The path and media type of a file uploaded to ``case`` (the caller checked that the
    case is visible to whoever asks)."""
    row = session.get(CaseEvidence, (case.id, sha256.lower()))
    path = None if row is None else evidence_path(root, row.sha256)
    if row is None or path is None or not path.exists():
        raise NotFound(f"case {case.id} has no evidence file {sha256}",
                       code="evidence_unknown", field="sha256")
    return path, row.media_type


def case_evidence(session: Session, case: Case) -> list[CaseEvidence]:
    """The files uploaded to ``case``, oldest first."""
    return list(session.scalars(select(CaseEvidence).where(CaseEvidence.case_id == case.id)
                                .order_by(CaseEvidence.uploaded_ms, CaseEvidence.sha256)))
