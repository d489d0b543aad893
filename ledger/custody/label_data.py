"""What a batch's container label says (危险废物标签), read from the ledger for one principal.

The label's facts come from three places: the batch projection (code, name, waste code,
declared mass, date), the batch's first entry (its signed description: form, hazards,
container, components, notes) and the generating unit's registration (name, contact, phone).
This module gathers them into a plain :class:`BatchLabel` in domain terms; turning that into
printed text (固态, 185.4 kg, the pictograms) is the renderer's business, in ``labels/``.

Who may print a label is narrower than who may see a batch: the unit that generated (or
consolidated) it, whoever holds it now, a regulator whose region contains it, and the
operator. A unit the batch merely passed through may read its history but not print a new
label for a container it no longer has. Everyone else is told the batch does not exist, so
codes cannot be probed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from ledger.custody.access import region_clause
from ledger.custody.catalogue import WasteCode
from ledger.custody.codes import parse_batch_code, trace_url
from ledger.custody.editions import batch_edition, catalogue, waste_entry
from ledger.custody.principals import Principal
from ledger.custody.projections import Batch, Organisation
from ledger.errors import ConfigurationError, InvalidInput, NotFound
from ledger.tlog.entries import parse_entry
from ledger.tlog.models import LogEntry

#: A sheet holds at most this many labels (one request, one PDF).
MAX_LABELS: Final = 1000


@dataclass(frozen=True, slots=True)
class BatchLabel:
    """The facts printed on one batch's container label, in domain terms (no Chinese forms)."""

    code: str  # 数字识别码
    hazardous: bool  # 危险废物, else 一般工业固体废物
    waste_name: str  # 废物名称
    category: str  # 废物类别: HW49, or SW17 for general industrial solid waste
    waste_code: str  # 废物代码: 900-039-49, or 900-001-S17
    form: str  # solid | semi_solid | liquid | gas
    hazards: tuple[str, ...]  # T C I R In
    main_components: str  # 主要成分
    harmful_components: str  # 有害成分
    precautions: str  # 注意事项
    unit_name: str  # 产生/收集单位: who declared the batch
    contact_person: str  # 联系人
    phone: str  # 联系方式
    generated_on: dt.date  # 产生日期
    mass_g: int  # 废物重量 as declared
    container: str  # e.g. "铁桶 200 L", what the label is stuck on
    container_volume_l: float | None  # one container's volume, which sets the label size
    notes: str  # 备注 as declared
    trace_url: str  # what the QR code encodes: <public base URL>/t/<code>
    catalogue_edition: str = ""  # 名录 edition the code is from ("" for general waste)
    identification: str = ""  # 鉴别报告 of a 900-000-×× waste


def label_clause(principal: Principal) -> ColumnElement[bool] | None:
    """A WHERE clause on batches whose labels ``principal`` may print (None: every batch)."""
    if principal.is_operator:
        return None
    own = or_(Batch.generator == principal.org, Batch.holder == principal.org)
    if principal.is_regulator:
        return or_(own, region_clause(principal.region))
    return own


def label_data_for(session: Session, principal: Principal, code: str,
                   public_base_url: str) -> BatchLabel:
    """The label of one batch (a bare code or its trace URL), if ``principal`` may print it."""
    return _gather(session, principal, [code], public_base_url, ["code"])[0]


def labels_for(session: Session, principal: Principal, codes: Sequence[str],
               public_base_url: str) -> list[BatchLabel]:
    """The labels of ``codes`` in the order given (a repeated code prints repeated labels)."""
    if len(codes) > MAX_LABELS:
        raise InvalidInput(f"at most {MAX_LABELS} labels at a time, got {len(codes)}",
                           code="too_many_labels", field="codes")
    return _gather(session, principal, codes, public_base_url,
                   [f"codes.{i}" for i in range(len(codes))])


def _gather(session: Session, principal: Principal, codes: Sequence[str],
            public_base_url: str, fields: Sequence[str]) -> list[BatchLabel]:
    """A malformed code is ``InvalidInput``; a batch that does not exist and one whose label
    the principal may not print are the same ``NotFound``, naming the offending item."""
    parsed = [_parse(code, where) for code, where in zip(codes, fields, strict=True)]
    batches = _printable_batches(session, principal, set(parsed))
    for code, where in zip(parsed, fields, strict=True):
        if code not in batches:
            raise NotFound(f"no batch {code} visible to you", code="batch_not_found",
                           field=where)
    declarations = _declarations(session, batches)
    units = _organisations(session, {b.generator for b in batches.values()})
    made = {code: _label(b, declarations[code], units.get(b.generator), public_base_url,
                         _listed(session, b))
            for code, b in batches.items()}
    return [made[code] for code in parsed]


def _parse(code: str, field: str) -> str:
    try:
        return parse_batch_code(code, hazardous_only=False).text
    except InvalidInput as exc:
        raise type(exc)(exc.message, code=exc.code, field=field, **exc.params) from None


def _printable_batches(session: Session, principal: Principal,
                       codes: set[str]) -> dict[str, Batch]:
    query = select(Batch).where(Batch.code.in_(sorted(codes)))
    clause = label_clause(principal)
    if clause is not None:
        query = query.where(clause)
    return {b.code: b for b in session.scalars(query)}


def _declarations(session: Session, batches: Mapping[str, Batch]) -> dict[str, dict[str, Any]]:
    """Each batch's description, from its first entry (batch.declared or batch.consolidated),
    parsed from the exact signed bytes rather than a projection."""
    rows = session.scalars(select(LogEntry).where(LogEntry.stream.in_(sorted(batches)),
                                                  LogEntry.seq == 0))
    found = {row.stream: parse_entry(row.note, max_size=len(row.note)).data for row in rows}
    missing = sorted(set(batches) - set(found))
    if missing:  # a projection row without its entry: the projections need a rebuild
        raise NotFound(f"batch {missing[0]} has no first entry in the log",
                       code="batch_entry_missing", field="code")
    return found


def _organisations(session: Session, usccs: Iterable[str]) -> dict[str, Organisation]:
    query = select(Organisation).where(Organisation.uscc.in_(sorted(usccs)))
    return {o.uscc: o for o in session.scalars(query)}


def _listed(session: Session, batch: Batch) -> WasteCode | None:
    """The catalogue entry of a hazardous batch's code, in the edition it was declared under."""
    if not batch.hazardous:
        return None
    edition = batch_edition(session, batch.generated_on, batch.declared_at)
    return waste_entry(catalogue(session, edition), batch.waste_code)


def _label(batch: Batch, data: Mapping[str, Any], unit: Organisation | None,
           public_base_url: str, listed: WasteCode | None) -> BatchLabel:
    given = data.get("container")
    container: Mapping[str, Any] = given if isinstance(given, dict) else {}
    volume = _volume(container.get("volume_l"))
    if batch.hazardous:
        category, waste_code = batch.category, batch.waste_code
        # A declaration may leave 危险特性 out; the catalogue's are then the ones that apply.
        hazards = tuple(h for h in _list(data.get("hazards")) if isinstance(h, str)) or (
            listed.hazards if listed is not None else ())
    else:
        # General industrial solid waste (一般工业固体废物) is coded 900-001-S17 in category
        # SW17; the batch code keeps only the digits.
        category = _text(data.get("category")) or f"SW{batch.waste_code[-2:]}"
        waste_code = f"{batch.waste_code[:8]}S{batch.waste_code[-2:]}"
        hazards = ()
    return BatchLabel(
        code=batch.code,
        hazardous=batch.hazardous,
        waste_name=batch.name,
        category=category,
        waste_code=waste_code,
        form=_text(data.get("form")),
        hazards=hazards,
        main_components=_text(data.get("components", data.get("main_components"))),
        harmful_components=_text(data.get("harmful_components")),
        precautions=_text(data.get("precautions")),
        unit_name=unit.name if unit is not None else batch.generator,
        contact_person=(unit.contact or "") if unit is not None else "",
        phone=(unit.phone or "") if unit is not None else "",
        generated_on=dt.date.fromisoformat(batch.generated_on),
        mass_g=batch.declared_mass_g,
        container=_container(container, volume, data.get("lot")),
        container_volume_l=volume,
        notes=_text(data.get("notes")),
        trace_url=_trace_url(public_base_url, batch.code),
        catalogue_edition=listed.edition if listed is not None else "",
        identification=_identification(data),
    )


def _identification(data: Mapping[str, Any]) -> str:
    ident = data.get("identification")
    report = ident.get("report") if isinstance(ident, dict) else None
    return report if isinstance(report, str) else ""


def _trace_url(public_base_url: str, code: str) -> str:
    # The base URL is installation configuration, not the caller's input: a bad one is the
    # operator's to fix, so it is reported as such rather than as a 422 to the client.
    try:
        url = trace_url(public_base_url, code)
    except InvalidInput as exc:
        raise ConfigurationError(f"PUBLIC_BASE_URL: {exc.message}",
                                 code="public_base_url_invalid") from None
    if not url.isascii():
        raise ConfigurationError("PUBLIC_BASE_URL must be ASCII (use the punycode host name)",
                                 code="public_base_url_invalid")
    return url


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    """Free text as declared; a list (of components, say) is joined with Chinese commas."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "，".join(_component(v) for v in value if _component(v))
    return ""


def _component(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        share = value.get("percent", value.get("share"))
        if isinstance(share, int | float) and not isinstance(share, bool):
            return f"{value['name']} {share:g}%"
        return value["name"]
    return ""


def _volume(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _container(container: Mapping[str, Any], volume: float | None, lot: Any = None) -> str:
    """The container in words: "铁桶 200 L", a lot member "铁桶 200 L 第 2/3 件", or a batch
    declared before one code per container (ledger.custody.containers) "吨袋 共 3 件"."""
    kind = _text(container.get("type"))
    parts = [kind] if kind else []
    if volume is not None:
        parts.append(f"{volume:g} L")
    count = container.get("count")
    if isinstance(count, int) and not isinstance(count, bool) and count > 1:
        parts.append(f"共 {count} 件")
    elif isinstance(lot, dict) and isinstance(lot.get("no"), int) and isinstance(
            lot.get("of"), int) and lot["of"] > 1:
        parts.append(f"第 {lot['no']}/{lot['of']} 件")
    return " ".join(parts)
