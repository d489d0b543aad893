"""Label rendering speed: PNG and PDF labels per second, a 1,000-label A4 sheet, QR libraries.

Prints one JSON document. Not a test: nothing here passes or fails, it measures.

    .venv/bin/python bench/labels.py            # full run, about two minutes
    .venv/bin/python bench/labels.py --quick    # well under a minute
    .venv/bin/python bench/labels.py --samples docs/labels   # the docs' sample PNGs

The QR comparison builds the same URLs with the ``qrcode`` package, with plain ``segno`` and
with what labels use (segno's symbol, the mask chosen by labels.qr's whole-row scoring), and
checks each output decodes (zxing-cpp, when installed) and has the same version and level.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labels import (
    LabelData,
    LabelSize,
    find_cjk_font,
    render_pdf,
    render_png,
    render_sheet_pdf,
    tracking_url,
)
from labels.qr import QUIET_ZONE, QRMatrix, qr_matrix, qr_matrix_qrcode, qr_matrix_segno  # noqa: E402

BASE_URL = "https://waste-ledger.example.cn"
USCC = "91330100MA2H3KXX7Q"


def label(serial: int) -> LabelData:
    """A realistic hazardous-waste label; every serial gives a different code and QR."""
    code = f"{USCC}90024908{20261122}{serial % 1000:03d}"
    return LabelData(
        waste_name="废矿物油与含矿物油废物（废液压油）",
        category="HW08",
        waste_code="900-249-08",
        physical_form="液态",
        hazards=("T", "I"),
        main_components="矿物油 85%，水 10%，杂质 5%",
        harmful_components="多环芳烃、重金属（铅、锌）",
        precautions="远离火源，防止泄漏，密闭贮存",
        identification_code=code,
        unit_name="杭州某某精密机械有限公司",
        contact_person="王建国",
        phone="0571-8888 6666",
        generated_on=date(2026, 11, 22),
        mass_g=185_400 + serial,
        notes="桶装，200 L 钢桶",
        qr_url=tracking_url(BASE_URL, code),
    )


def per_second(work: Callable[[int], object], count: int) -> dict[str, float]:
    """Run ``work(i)`` for ``count`` items; labels per second and ms per label."""
    work(0)  # warm caches (font, QR plans) outside the timing
    start = time.perf_counter()
    for i in range(1, count + 1):
        work(i)
    elapsed = time.perf_counter() - start
    return {
        "count": count,
        "per_second": round(count / elapsed, 1),
        "ms_each": round(1000 * elapsed / count, 2),
    }


def sheet_seconds(count: int, repeats: int) -> dict[str, Any]:
    """Wall time for one A4 PDF of ``count`` distinct labels (best and median of repeats)."""
    labels = [label(i) for i in range(count)]
    times, size = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        pdf = render_sheet_pdf(labels, "a4", LabelSize.S100)
        times.append(time.perf_counter() - start)
        size = len(pdf)
    return {
        "labels": count,
        "pages": -(-count // 4),
        "best_s": round(min(times), 2),
        "median_s": round(statistics.median(times), 2),
        "pdf_mb": round(size / 1e6, 2),
    }


def decodes(matrix: QRMatrix, url: str) -> bool | None:
    """Whether zxing-cpp reads ``url`` back from a plain picture of ``matrix``."""
    try:
        import zxingcpp
        from PIL import Image
    except ImportError:
        return None
    module = 6
    side = (matrix.size + 2 * QUIET_ZONE) * module
    image = Image.new("L", (side, side), 255)
    for row, col, length in matrix.dark_runs:
        x, y = (col + QUIET_ZONE) * module, (row + QUIET_ZONE) * module
        image.paste(0, (x, y, x + length * module, y + module))
    results = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    return [r.text for r in results] == [url]


def qr_libraries(count: int) -> dict[str, Any]:
    """The same ``count`` URLs through qrcode, plain segno, and labels.qr (segno + fast mask).

    The builders take turns URL by URL, so a busy machine slows all of them alike; the
    median time per symbol is reported.
    """
    urls = [label(i).qr_url for i in range(count)]
    builders: dict[str, Callable[[str], QRMatrix]] = {
        "qrcode": qr_matrix_qrcode,
        "segno": qr_matrix_segno,
        "labels.qr (segno, whole-row mask scoring)": qr_matrix,
    }
    times: dict[str, list[float]] = {name: [] for name in builders}
    outputs: dict[str, list[QRMatrix]] = {name: [] for name in builders}
    for build in builders.values():
        build(urls[0])  # warm caches outside the timing
    names = list(builders)
    for i, url in enumerate(urls):
        for name in names[i % 3 :] + names[: i % 3]:
            start = time.perf_counter()
            outputs[name].append(builders[name](url))
            times[name].append(time.perf_counter() - start)
    result: dict[str, Any] = {}
    for name in builders:
        result[name] = {
            "median_ms": round(1000 * statistics.median(times[name]), 3),
            "mean_ms": round(1000 * statistics.fmean(times[name]), 3),
            "designators": sorted({m.designator for m in outputs[name]}),
            "all_decode": all(
                decodes(m, url) for m, url in zip(outputs[name][:20], urls, strict=False)
            ),
        }
    segno_ms = result["segno"]["median_ms"]
    result["ratio_qrcode_over_segno"] = round(result["qrcode"]["median_ms"] / segno_ms, 2)
    result["ratio_segno_over_labels_qr"] = round(
        segno_ms / result["labels.qr (segno, whole-row mask scoring)"]["median_ms"], 2
    )
    same = sum(a == b for a, b in zip(outputs["segno"], outputs[names[2]], strict=True))
    result["labels_qr_identical_to_segno"] = f"{same}/{count}"
    return result


def general_label(serial: int) -> LabelData:
    """A general industrial solid waste label (一般工业固体废物), for the samples."""
    code = f"{USCC}90000117{20261122}{serial:03d}"
    return LabelData(
        waste_name="废金属边角料",
        category="SW17",
        waste_code="900-001-S17",
        physical_form="固态",
        main_components="铝合金 70%，钢 30%",
        precautions="防雨防潮，分类堆放",
        identification_code=code,
        unit_name="杭州某某精密机械有限公司",
        contact_person="李明",
        phone="138 0013 8000",
        generated_on=date(2026, 11, 22),
        mass_g=1_250_000,
        notes="吨袋装",
        qr_url=tracking_url(BASE_URL, code),
        kind="general",
    )


def write_samples(folder: Path) -> list[str]:
    """The sample PNGs docs/labels.md shows: each size and kind, plus an A4 sheet page."""
    import pypdfium2 as pdfium

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for size in LabelSize:
        for kind, data in (("hazardous", label(1)), ("general", general_label(1))):
            path = folder / f"{kind}-{int(size)}mm.png"
            path.write_bytes(render_png(data, size))
            written.append(str(path))
    busy = replace(
        label(2),
        hazards=("T", "C", "I", "R", "In"),
        waste_name="废弃的含油抹布、劳保用品",
        category="HW49",
        waste_code="900-041-49",
        identification_code=f"{USCC}90004149{20261122}003",
        qr_url=tracking_url(BASE_URL, f"{USCC}90004149{20261122}003"),
        # As full as a 100 mm label with five pictograms holds whole (longer is refused).
        main_components="Waste hydraulic oil ISO VG 46 与切削液混合物",
        notes="含油废抹布",
    )
    path = folder / "hazardous-100mm-five-hazards-long-text.png"
    path.write_bytes(render_png(busy, LabelSize.S100))
    written.append(str(path))
    document = pdfium.PdfDocument(render_sheet_pdf([label(i) for i in range(4)], "a4"))
    path = folder / "sheet-a4-page.png"
    document[0].render(scale=100 / 72).to_pil().save(path)
    document.close()
    written.append(str(path))
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (< 1 minute)")
    parser.add_argument("--samples", type=Path, help="write the docs' sample PNGs here and stop")
    args = parser.parse_args()
    if args.samples:
        print(json.dumps({"samples": write_samples(args.samples)}, indent=2))
        return
    n_png, n_pdf, n_qr, repeats = (15, 40, 100, 1) if args.quick else (100, 300, 500, 3)
    font = find_cjk_font()
    report = {
        "machine": {
            "cores": os.cpu_count(),
            "uname": " ".join(os.uname()),
            "python": platform.python_version(),
            "font": f"{font.family} ({font.path})",
        },
        "mode": "quick" if args.quick else "full",
        "png_100mm_300dpi": per_second(lambda i: render_png(label(i), LabelSize.S100), n_png),
        "png_200mm_300dpi": per_second(lambda i: render_png(label(i), LabelSize.S200), n_png // 3),
        "pdf_100mm": per_second(lambda i: render_pdf(label(i), LabelSize.S100), n_pdf),
        "a4_sheet_1000_labels": sheet_seconds(1000, repeats),
        "qr_libraries": qr_libraries(n_qr),
    }
    out = io.StringIO()
    json.dump(report, out, ensure_ascii=False, indent=2)
    print(out.getvalue())


if __name__ == "__main__":
    main()
