"""The declare form's help: every everyday name, region code and curated name is checked
against the catalogue's own text; every code gets a whole-phrase short name; the suggestions
are ranked for a small enterprise and counted honestly."""

from __future__ import annotations

import re

import pytest

from ledger.custody.catalogue import load_catalogue
from ledger.custody.waste_help import (
    GENERIC,
    MAX_NAME,
    curated_names,
    region_wastes,
    short_name,
    suggest,
    synonyms,
)

CAT = load_catalogue()
PARENS = re.compile(r"（[^（）]*）|\([^()]*\)")


def catalogue_text(code: str) -> str:
    """The description of ``code`` and every exemption row that names it."""
    entry = CAT.get(code)
    return " ".join([entry.description, *(row.waste for row in CAT.exemptions_for(code)
                                          if code in row.codes)])


def without_notes(text: str) -> str:
    before = None
    while text != before:
        before, text = text, PARENS.sub("", text)
    return text


@pytest.mark.parametrize(("term", "code", "evidence"), synonyms(),
                         ids=[f"{t}-{c}" for t, c, _ in synonyms()])
def test_each_everyday_name_points_at_a_code_whose_text_says_so(term, code, evidence):
    assert code in CAT
    assert evidence in catalogue_text(code), (term, code, evidence)
    found = suggest(CAT, term, limit=500)
    assert code in [s.entry.code for s in found.items], term


@pytest.mark.parametrize("term", ["废机油", "漆渣", "含油抹布", "废乳化液", "铝灰", "废活性炭",
                                  "含油废铁屑"])
def test_the_names_from_the_issue_find_something(term):
    found = suggest(CAT, term)
    assert found.total >= 1 and found.items[0].why in ("synonym", "region", "match")


@pytest.mark.parametrize(("region", "code", "evidence", "why"), region_wastes())
def test_each_region_code_exists_and_its_text_says_so(region, code, evidence, why):
    assert re.fullmatch(r"[0-9]{2,6}", region) and why
    assert evidence in catalogue_text(code)


def test_curated_names_are_for_catalogue_codes():
    assert curated_names() and all(code in CAT for code in curated_names())


def test_every_code_gets_a_whole_phrase_as_its_short_name():
    for entry in CAT:
        name = short_name(entry)
        assert 2 <= len(name) <= MAX_NAME, (entry.code, name)
        assert name[-1] not in "、，和及与或的" and not re.match("(及|以及|和|或|与|、)", name), (
            entry.code, name)
        assert name.count("（") == name.count("）") and name.count("(") == name.count(")")
        assert name not in GENERIC, (entry.code, name)
        if entry.code not in curated_names():
            assert name in without_notes(entry.description), (entry.code, name)
    # The three from the issue, cut at the first "、" before.
    assert short_name(CAT.get("900-041-49")) == "沾染危险废物的废弃包装物、容器、过滤吸附介质"
    assert "漆" in short_name(CAT.get("900-252-12"))
    assert short_name(CAT.get("900-006-09")).startswith("切削油/液机加工产生的废乳化液")
    assert short_name(CAT.get("336-064-17")) == "废腐蚀液、废洗涤液、废槽液、槽渣和废水处理污泥"


def test_the_total_is_honest_and_paging_reaches_every_match():
    everything = CAT.search("废矿物油", limit=None)
    first = suggest(CAT, "废矿物油", limit=12)
    assert first.total == len(everything) > 12
    seen = []
    for offset in range(0, first.total, 12):
        seen += [s.entry.code for s in suggest(CAT, "废矿物油", offset=offset).items]
    assert sorted(seen) == sorted(w.code for w in everything) and len(set(seen)) == len(seen)
    assert {"900-214-08", "900-249-08"} <= set(seen)


def test_previous_codes_then_the_regions_then_the_rest():
    assert CAT.search("活性炭", limit=None)[-1].code == "900-039-49"  # last in catalogue order
    plain = suggest(CAT, "活性炭")
    assert plain.items[0].entry.code == "900-039-49" and plain.items[0].why == "synonym"
    taizhou = suggest(CAT, "活性炭", region="331002")
    assert taizhou.items[0].entry.code == "900-039-49" and taizhou.items[0].why == "region"
    assert taizhou.total == plain.total
    mine = suggest(CAT, "活性炭", region="331002", previous=["900-405-06"])
    assert [s.entry.code for s in mine.items[:2]] == ["900-405-06", "900-039-49"]
    assert mine.items[0].why == "previous"
    # With nothing typed: what this enterprise declared before, then the region's codes.
    start = suggest(CAT, "", region="331002", previous=["900-252-12"])
    assert start.items[0].entry.code == "900-252-12"
    assert {s.why for s in start.items} == {"previous", "region"}
    assert suggest(CAT, "", region="330100").total == 0
