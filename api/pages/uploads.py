"""An uploaded export, laid out as an export directory so the offline verifier can read it.

What the verify page accepts: one .zip or .tar(.gz) of the directory ``waste-ledger export``
writes, or its files uploaded separately. Archives come from strangers, so every member name is
checked (no absolute paths, no ``..``, no links), and the member count and the extracted size are
capped before anything is written.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO, Any, Final

from flask_babel import gettext as _
from werkzeug.datastructures import FileStorage

from ledger.tlog import export as export_files

#: How much an uploaded archive may expand to: the upload itself is capped by
#: MAX_CONTENT_LENGTH, this stops a small zip that inflates to gigabytes.
MAX_EXTRACTED: Final = 512 * 1024 * 1024
MAX_OLD_CHECKPOINTS: Final = 10_000
# An export holds three files and its old checkpoints; more members than this is not one.
MAX_MEMBERS: Final = MAX_OLD_CHECKPOINTS + 100


class UploadRejected(Exception):
    """An upload that cannot be read as an export (a message for the person)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _member_role(parts: tuple[str, ...]) -> tuple[str, ...] | None:
    """Where an archive member goes in the export directory, or None to ignore it."""
    if not parts:
        return None
    name = parts[-1]
    if name in (export_files.ENTRIES, export_files.CHECKPOINT, export_files.OPERATOR_VKEY):
        return (name,)
    if len(parts) >= 2 and parts[-2] == export_files.OLD_CHECKPOINTS and name.isdigit():
        return (export_files.OLD_CHECKPOINTS, name)
    return None


class _Budget:
    def __init__(self, limit: int) -> None:
        self.left = limit

    def copy(self, src: IO[bytes], dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with dest.open("wb") as out:
            while chunk := src.read(1 << 20):
                self.left -= len(chunk)
                if self.left < 0:
                    raise UploadRejected(_("解压后的内容超过 %(mb)s MB，无法在网页上验证；"
                                           "请用命令行 waste-ledger verify 验证",
                                           mb=MAX_EXTRACTED // (1024 * 1024)))
                out.write(chunk)


def _place(members: list[tuple[tuple[str, ...], Any]], root: Path, budget: _Budget,
           opener: Any) -> None:
    """Copy the members that belong to an export into ``root``, using the directory that
    holds entries.bin as the export's top (archives often wrap it in a folder)."""
    tops = [parts[:-1] for parts, _m in members if parts and parts[-1] == export_files.ENTRIES]
    if not tops:
        raise UploadRejected(_("压缩包里没有 entries.bin：请上传 waste-ledger export 导出的目录"))
    if len(tops) > 1:
        raise UploadRejected(_("压缩包里有多个 entries.bin，请一次只上传一个导出"))
    top = tops[0]
    old = 0
    for parts, member in members:
        if parts[:len(top)] != top:
            continue
        role = _member_role(parts[len(top):])
        if role is None or (len(role) == 1 and len(parts) != len(top) + 1):
            continue
        if len(role) == 2:
            old += 1
            if old > MAX_OLD_CHECKPOINTS:
                raise UploadRejected(_("旧检查点文件过多"))
        with opener(member) as src:
            budget.copy(src, root.joinpath(*role))


def _safe_parts(name: str) -> tuple[str, ...] | None:
    path = PurePosixPath(name.replace("\\", "/"))
    parts = tuple(p for p in path.parts if p not in ("", "."))
    if path.is_absolute() or ".." in parts:
        return None
    return parts


def _extract_zip(data: bytes, root: Path, budget: _Budget) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        if len(archive.infolist()) > MAX_MEMBERS:
            raise UploadRejected(_("压缩包中的文件过多"))
        infos = [i for i in archive.infolist() if not i.is_dir()]
        members = [(parts, i) for i in infos if (parts := _safe_parts(i.filename))]
        _place(members, root, budget, archive.open)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError,
            RuntimeError, ValueError, OSError) as exc:  # zlib.error is an Exception of its own
        raise UploadRejected(_("无法读取 zip 压缩包：%(why)s", why=str(exc))) from None


def _extract_tar(data: bytes, root: Path, budget: _Budget) -> None:
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
            members = []
            for n, m in enumerate(archive, start=1):  # headers one by one, not all at once
                if n > MAX_MEMBERS:
                    raise UploadRejected(_("压缩包中的文件过多"))
                if m.isfile() and (parts := _safe_parts(m.name)):
                    members.append((parts, m))

            def opener(member: tarfile.TarInfo) -> Any:
                fh = archive.extractfile(member)
                if fh is None:
                    raise UploadRejected(_("压缩包中的文件无法读取"))
                return fh

            _place(members, root, budget, opener)
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise UploadRejected(_("无法读取 tar.gz 压缩包：%(why)s", why=str(exc))) from None


def gather_export(files: list[FileStorage], root: Path) -> None:
    """Lay the upload out as an export directory in ``root``: one .zip or .tar(.gz) of the
    directory, or its files uploaded separately (entries.bin, checkpoint, operator.vkey)."""
    files = [f for f in files if f.filename]
    if not files:
        raise UploadRejected(_("请选择要验证的文件"))
    budget = _Budget(MAX_EXTRACTED)
    if len(files) == 1:
        data = files[0].read()
        name = (files[0].filename or "").lower()
        if data[:4] == b"PK\x03\x04" or name.endswith(".zip"):
            _extract_zip(data, root, budget)
            return
        if data[:2] == b"\x1f\x8b" or name.endswith((".tar.gz", ".tgz", ".tar")) \
                or data[257:262] == b"ustar":
            _extract_tar(data, root, budget)
            return
        files[0].stream.seek(0)
    for f in files:
        role = _member_role(_safe_parts(f.filename or "") or ())
        if role is None:
            if (f.filename or "").rsplit("/", 1)[-1].isdigit():
                role = (export_files.OLD_CHECKPOINTS, (f.filename or "").rsplit("/", 1)[-1])
            else:
                raise UploadRejected(_(
                    "不认识的文件 %(name)s：请上传导出目录的 .zip 或 .tar.gz 压缩包，或其中的 "
                    "entries.bin、checkpoint、operator.vkey", name=f.filename))
        budget.copy(f.stream, root.joinpath(*role))
    if not (root / export_files.ENTRIES).is_file():
        raise UploadRejected(_("缺少 entries.bin（导出目录中的日志条目）"))
