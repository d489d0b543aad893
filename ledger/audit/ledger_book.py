"""An organisation's statutory ledger (管理台账) for a period, built from the signed entries.

HJ 1259-2022 (危险废物管理计划和管理台账制定技术导则) records hazardous waste per container and
step: 产生, 入库, 出库, 转移 (委托利用/处置), 接收, 自行利用/处置, each with the person who did it
(经办人). The general industrial solid waste ledger (一般工业固体废物管理台账制定指南（试行）)
records the same steps for 一般工业固体废物. Each table here is one of those record tables; every
row is one signed entry, and the 经办人 is the ``data.handled_by`` of that entry (empty for
entries signed before the field existed). Masses are kg (single containers).

The headings follow the record items the standard names for the 产生 table (产生批次编码,
产生时间, 废物名称/类别/代码, 产生量, 计量单位, 容器/包装编码/类型/数量, 产生设施编码, 经办人,
去向) and the same pattern for the other steps; docs/compliance.md says which items the
product cannot fill.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.clock import beijing_minutes
from ledger.custody.kinds import WITHDRAWN
from ledger.custody.projections import (
    Batch,
    Disposal,
    Handover,
    Organisation,
    Residue,
    StorageFacility,
    StorageStay,
)
from ledger.custody.reference import method_codes
from ledger.tlog.entries import parse_entry
from ledger.tlog.models import LogEntry

KINDS = ("hazardous", "general")
METHOD_ZH = {"utilisation": "利用", "disposal": "处置"}


@dataclass(frozen=True)
class Table:
    """One record table: its name (the sheet), Chinese headers, rows (kg as float)."""

    name: str
    headers: tuple[str, ...]
    rows: list[list[Any]]


@dataclass(frozen=True)
class LedgerBook:
    org: str
    org_name: str
    kind: str  # hazardous | general
    start_ms: int
    end_ms: int  # exclusive
    tables: tuple[Table, ...]

    @property
    def title(self) -> str:
        return "危险废物管理台账" if self.kind == "hazardous" else "一般工业固体废物管理台账"

    def table(self, name: str) -> Table | None:
        return next((t for t in self.tables if t.name == name), None)


def _kg(grams: int | None) -> float | None:
    return None if grams is None else grams / 1000


def _data(session: Session, indices: Iterable[int | None]) -> dict[int, dict[str, Any]]:
    """The signed ``data`` of each entry, parsed from the exact bytes."""
    wanted = sorted({i for i in indices if i is not None})
    out: dict[int, dict[str, Any]] = {}
    for start in range(0, len(wanted), 500):
        for row in session.scalars(select(LogEntry).where(
                LogEntry.idx.in_(wanted[start:start + 500]))):
            out[row.idx] = parse_entry(row.note, max_size=len(row.note)).data
    return out


def _who(data: dict[str, Any] | None) -> str:
    name = (data or {}).get("handled_by")
    return name if isinstance(name, str) else ""


def _container(data: dict[str, Any] | None) -> tuple[str, str]:
    c = (data or {}).get("container")
    if not isinstance(c, dict):
        return "", ""
    count = c.get("count")
    return str(c.get("type") or ""), str(count) if isinstance(count, int) else ""


def build_ledger_book(session: Session, org: str, start_ms: int, end_ms: int,
                      kind: str = "hazardous") -> LedgerBook:
    """The 台账 of ``org`` for entries in [start_ms, end_ms), hazardous or general waste."""
    hazardous = kind == "hazardous"
    unit = session.get(Organisation, org)
    word = "危险废物" if hazardous else "一般工业固体废物"

    def in_period(column: Any) -> Any:
        return (column >= start_ms) & (column < end_ms)

    # 产生: batches this organisation declared (and residues of its disposals)
    made = list(session.scalars(select(Batch).where(
        Batch.generator == org, Batch.hazardous == hazardous, Batch.consolidated.is_(False),
        Batch.state != WITHDRAWN, in_period(Batch.declared_t_ms)).order_by(Batch.declared_at)))
    stays = list(session.scalars(select(StorageStay).join(
        Batch, Batch.code == StorageStay.batch).where(
        StorageStay.org == org, Batch.hazardous == hazardous,
        in_period(StorageStay.in_t_ms) | in_period(StorageStay.out_t_ms)).order_by(
        StorageStay.in_at)))
    out_hos = list(session.scalars(select(Handover).join(Batch, Batch.code == Handover.batch).where(
        Handover.from_org == org, Handover.status == "confirmed", Batch.hazardous == hazardous,
        in_period(Handover.released_t_ms)).order_by(Handover.released_at)))
    in_hos = list(session.scalars(select(Handover).join(Batch, Batch.code == Handover.batch).where(
        Handover.to_org == org, Handover.status == "confirmed", Batch.hazardous == hazardous,
        in_period(Handover.answered_t_ms)).order_by(Handover.answered_at)))
    disposals = list(session.scalars(select(Disposal).join(
        Batch, Batch.code == Disposal.batch).where(
        Disposal.disposer == org, Batch.hazardous == hazardous,
        in_period(Disposal.t_ms)).order_by(Disposal.entry)))
    codes = {b.code for b in made} | {s.batch for s in stays} | {h.batch for h in out_hos} | {
        h.batch for h in in_hos} | {d.batch for d in disposals}
    batches = {b.code: b for b in session.scalars(select(Batch).where(
        Batch.code.in_(sorted(codes))))} if codes else {}
    first = {b.code: b.declared_at for b in batches.values()}
    data = _data(session, [*first.values(), *(s.in_at for s in stays),
                           *(s.out_at for s in stays), *(h.released_at for h in out_hos),
                           *(h.answered_at for h in in_hos), *(d.entry for d in disposals)])
    names = {o.uscc: o.name for o in session.scalars(select(Organisation).where(
        Organisation.uscc.in_(sorted({h.to_org for h in out_hos} | {
            h.from_org for h in in_hos}))))} if out_hos or in_hos else {}
    facilities = {f.code: f for f in session.scalars(select(StorageFacility).where(
        StorageFacility.org == org))}
    residue_of: dict[str, list[str]] = {}
    for r in session.scalars(select(Residue).where(Residue.child.in_([b.code for b in made]))):
        residue_of.setdefault(r.child, []).append(r.source)
    first_out = {h.batch: h for h in reversed(out_hos)}
    listed = method_codes(session) or {}

    def entry(index: int | None) -> dict[str, Any] | None:
        return None if index is None else data.get(index)

    def waste(b: Batch) -> list[Any]:
        category = b.category if hazardous else _general_category(b)
        return [b.name, category, b.waste_code if hazardous else _general_code(b)]

    def where_to(b: Batch) -> str:
        ho = first_out.get(b.code)
        if ho is not None:
            return f"转移至{names.get(ho.to_org, ho.to_org)}"
        if any(s.batch == b.code for s in stays):
            return "贮存"
        return "自行利用/处置" if b.state == "disposed" and b.holder == org else ""

    made_rows = []
    for b in made:
        d = data.get(b.declared_at)
        ctype, count = _container(d)
        made_rows.append([b.code, beijing_minutes(b.declared_t_ms), *waste(b),
                          _kg(b.declared_mass_g), "kg", b.code, ctype, count,
                          "", _who(d), where_to(b),
                          "、".join(residue_of.get(b.code, []))])
    stay_in_rows, stay_out_rows = [], []
    for s in stays:
        b = batches[s.batch]
        ctype, count = _container(data.get(first[b.code]))
        f = facilities.get(s.facility)
        ftype = f.type if f is not None else ""
        if start_ms <= s.in_t_ms < end_ms:
            stay_in_rows.append([b.code, beijing_minutes(s.in_t_ms), b.code, ctype, count,
                                 *waste(b), _kg(s.in_mass_g), "kg", s.facility, ftype,
                                 _who(entry(s.in_at))])
        if s.out_t_ms is not None and start_ms <= s.out_t_ms < end_ms:
            ho = first_out.get(b.code)
            stay_out_rows.append([b.code, beijing_minutes(s.out_t_ms), b.code, ctype, count,
                                  *waste(b), _kg(s.out_mass_g), "kg", s.facility, ftype,
                                  _who(entry(s.out_at)),
                                  names.get(ho.to_org, ho.to_org) if ho is not None else ""])
    transfer_rows = [[h.batch, beijing_minutes(h.released_t_ms or 0), *waste(batches[h.batch]),
                      _kg(h.released_mass_g), _kg(h.accepted_mass_g), "kg", h.manifest,
                      names.get(h.to_org, h.to_org), h.to_org, _who(entry(h.released_at))]
                     for h in out_hos]
    receive_rows = [[h.batch, beijing_minutes(h.answered_t_ms or 0), *waste(batches[h.batch]),
                     _kg(h.released_mass_g), _kg(h.accepted_mass_g), "kg", h.manifest,
                     names.get(h.from_org, h.from_org), h.from_org,
                     _who(entry(h.answered_at))] for h in in_hos]
    disposal_rows = []
    for done in disposals:
        b = batches[done.batch]
        item = listed.get(done.method_code)
        disposal_rows.append([b.code, beijing_minutes(done.t_ms), *waste(b), _kg(done.mass_g),
                              "kg", METHOD_ZH.get(done.method, done.method), done.method_code,
                              item.name if item is not None else "", done.permit,
                              _who(entry(done.entry))])
    tables = (
        Table("产生", ("产生批次编码", "产生时间", f"{word}名称", f"{word}类别", f"{word}代码",
                     "产生量", "计量单位", "容器/包装编码", "容器/包装类型", "容器/包装数量",
                     "产生设施编码", "产生部门经办人", "去向", "来源批次（次生废物）"),
              made_rows),
        Table("入库", ("入库批次编码", "入库时间", "容器/包装编码", "容器/包装类型",
                     "容器/包装数量", f"{word}名称", f"{word}类别", f"{word}代码", "入库量",
                     "计量单位", "贮存设施编码", "贮存设施类型", "贮存部门经办人"),
              stay_in_rows),
        Table("出库", ("出库批次编码", "出库时间", "容器/包装编码", "容器/包装类型",
                     "容器/包装数量", f"{word}名称", f"{word}类别", f"{word}代码", "出库量",
                     "计量单位", "贮存设施编码", "贮存设施类型", "出库部门经办人", "去向"),
              stay_out_rows),
        Table("转移", ("批次编码", "转移时间", f"{word}名称", f"{word}类别", f"{word}代码",
                     "转移量", "接收量", "计量单位", "转移联单编号", "接收单位",
                     "接收单位统一社会信用代码", "经办人"), transfer_rows),
        Table("接收", ("批次编码", "接收时间", f"{word}名称", f"{word}类别", f"{word}代码",
                     "移出量", "接收量", "计量单位", "转移联单编号", "移出单位",
                     "移出单位统一社会信用代码", "经办人"), receive_rows),
        Table("利用处置", ("批次编码", "利用/处置时间", f"{word}名称", f"{word}类别",
                       f"{word}代码", "利用/处置量", "计量单位", "利用/处置", "利用/处置方式代码",
                       "利用/处置方式", "许可证编号", "经办人"), disposal_rows),
    )
    return LedgerBook(org, unit.name if unit is not None else org, kind, start_ms, end_ms,
                      tables)


def _general_code(b: Batch) -> str:
    """A general code as printed (900-001-S17): the batch code keeps only the digits."""
    return f"{b.waste_code[:8]}S{b.waste_code[-2:]}"


def _general_category(b: Batch) -> str:
    return f"SW{b.waste_code[-2:]}"


def table_names() -> Sequence[str]:
    return ("产生", "入库", "出库", "转移", "接收", "利用处置")
