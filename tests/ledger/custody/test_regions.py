"""Region names shown to regulators come from the GB/T 2260 table in the repository."""

from __future__ import annotations

import csv
import io
from importlib import resources

import pytest

from ledger.custody.codes import region_level
from ledger.custody.regions import region_full_name, region_label, region_name


def _zhejiang() -> list[dict[str, str]]:
    text = resources.files("ledger").joinpath("data", "regions", "330000.csv").read_text("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def test_zhejiang_has_its_eleven_cities_and_ninety_counties() -> None:
    rows = _zhejiang()
    levels = [region_level(r["code"]) for r in rows]
    assert levels.count("province") == 1
    assert levels.count("city") == 11
    assert levels.count("county") == 90
    assert len({r["code"] for r in rows}) == len(rows)
    assert all(r["name"].strip() == r["name"] and r["name"] for r in rows)


def test_every_county_lies_in_a_city_of_the_table() -> None:
    codes = {r["code"] for r in _zhejiang()}
    for code in codes:
        if region_level(code) == "county":
            assert code[:4] + "00" in codes, code


@pytest.mark.parametrize(("code", "name"), [
    ("331002", "椒江区"), ("331083", "玉环市"), ("330383", "龙港市"),
    ("330113", "临平区"), ("330114", "钱塘区"), ("330102", "上城区"),
    ("331000", "台州市"), ("330000", "浙江省"), ("331127", "景宁畲族自治县"),
])
def test_names_of_divisions_including_recent_changes(code: str, name: str) -> None:
    assert region_name(code) == name


def test_abolished_district_has_no_name() -> None:
    # 江干区 (330104) and 下城区 (330103) were merged away in 2021; old records keep the code
    assert region_name("330104") == ""
    assert region_label("330104") == "330104"


def test_full_name_and_label() -> None:
    assert region_full_name("331002") == "浙江省台州市椒江区"
    assert region_full_name("331000") == "浙江省台州市"
    assert region_label("331002") == "331002 椒江区"
    assert region_label(None) == ""


def test_other_provinces_are_named_at_province_level_only() -> None:
    assert region_name("320000") == "江苏省"
    assert region_name("320102") == ""
    assert region_name("33100x") == ""
