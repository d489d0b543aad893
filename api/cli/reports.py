"""``waste-ledger reconcile``: the mass balance (对账) as a Chinese table, CSV, XLSX, JSON or a
signed report bundle, run as the operator (everything the filters select)."""

from __future__ import annotations

import datetime as dt
import json
import time
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import click
from flask.cli import with_appcontext

from api.exports import (
    BATCHES_HEADER,
    BREAKDOWN_SHEETS,
    EXPORTERS,
    FIGURE_COLUMNS,
    TOTAL,
    export_report,
    kg_text,
)
from api.extensions import db
from api.runtime import log_config, reports_session
from ledger.audit.reconcile import (
    Figures,
    Report,
    ReportFilters,
    reconcile_filters,
    signed_report_bundle,
)
from ledger.errors import LedgerError

DAY = click.DateTime(formats=["%Y-%m-%d"])


def _width(text: str) -> int:
    """Columns a string takes in a terminal: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int, right: bool) -> str:
    gap = " " * max(width - _width(text), 0)
    return gap + text if right else text + gap


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int) -> str:
    widths = [max([_width(h), *(_width(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(_pad(c, widths[i], i >= numeric_from)
                         for i, c in enumerate(cells)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def _cells(figures: Figures) -> list[str]:
    return [str(figures.batches), *(kg_text(figures.figure(n)) for n, _ in FIGURE_COLUMNS)]


def render_table(report: Report) -> str:
    """The report as plain-text tables (masses in kg), headed by its filters and log state."""
    f = report.filters
    head = [
        "危险废物产生与去向对账",
        f"区域 {f.region or '全部'}  申报日期 {f.period_from or '不限'} 至 {f.period_to or '不限'}"
        f"  产废单位 {f.generator or '全部'}  废物代码 {f.waste_code or '全部'}"
        f"  类别 {f.category or '全部'}",
        f"日志条目数 {report.log_size}  根哈希 {report.root}  计算时间 {report.computed_at}",
        "",
    ]
    figure_headers = [BATCHES_HEADER, *(h for _, h in FIGURE_COLUMNS)]
    parts = ["\n".join(head),
             _table(["分组", *figure_headers], [[TOTAL, *_cells(report.totals)]], 1)]
    for attr, title, _ in BREAKDOWN_SHEETS:
        rows = report.breakdown(attr)
        if attr == "by_generator":
            body = [[r.name or r.key, r.key, *_cells(r.figures)] for r in rows]
            headers = ["产废单位", "统一社会信用代码"]
        else:
            body = [[r.key, *_cells(r.figures)] for r in rows]
            headers = [{"by_waste_code": "废物代码", "by_category": "废物类别"}.get(attr, "月份")]
        parts.append(f"\n{title}\n" + _table([*headers, *figure_headers], body, len(headers)))
    return "\n".join(parts) + "\n"


@click.command("reconcile")
@click.option("--region", help="6-digit GB/T 2260 code; includes its sub-regions")
@click.option("--from", "period_from", type=DAY, help="declared on or after (Beijing day)")
@click.option("--to", "period_to", type=DAY, help="declared on or before (Beijing day)")
@click.option("--generator", help="USCC of one generator (产废单位)")
@click.option("--waste-code", help="e.g. 900-039-49")
@click.option("--category", help="HW01..HW50, or GY")
@click.option("--format", "fmt", default="table", show_default=True,
              type=click.Choice(["table", "csv", "xlsx", "json", "bundle"]))
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              default="-", show_default=True, help="file to write ('-': standard output)")
@with_appcontext
def reconcile_command(region: str | None, period_from: dt.datetime | None,
                      period_to: dt.datetime | None, generator: str | None,
                      waste_code: str | None, category: str | None, fmt: str,
                      output: Path) -> None:
    """The mass balance (对账) of a region and period: where every kilogram is now."""
    started = time.monotonic()

    def progress(done: int, total: int, what: str) -> None:
        click.echo(f"reconcile: {done}/{total} {what} ({time.monotonic() - started:.1f} s)",
                   err=True)

    try:
        filters = ReportFilters.checked(
            region=region, period_from=period_from.date() if period_from else None,
            period_to=period_to.date() if period_to else None, generator=generator,
            waste_code=waste_code, category=category)
        session = reports_session()
        if fmt == "bundle":
            body = signed_report_bundle(session, log_config(), filters, progress=progress,
                                        primary=db.session)
        else:
            report = reconcile_filters(session, filters, progress=progress)
            if fmt in EXPORTERS:
                body = export_report(fmt, report, db.session)
            elif fmt == "json":
                body = (json.dumps(report.to_json(), ensure_ascii=False, indent=2)
                        + "\n").encode()
            else:
                body = render_table(report).encode()
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None
    with click.open_file(str(output), "wb") as fh:  # "-" is standard output
        fh.write(body)
    if str(output) != "-":
        click.echo(f"reconcile: written to {output}", err=True)
