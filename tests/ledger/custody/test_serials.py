"""Batch codes handed out before signing (数字识别码 serials 001–999): several at once in
one reservation, above what is used, then the lowest free ones, then a clear refusal."""

from __future__ import annotations

import pytest

from ledger.custody.serials import CodeReservation, reserve_code, reserve_codes
from ledger.errors import Conflict
from tests.ledger.custody_world import GENERATORS

GEN = GENERATORS[0]

PREFIX = f"{GEN}9000394920261203"


def hold(session, *serials: int) -> None:
    session.add_all(CodeReservation(code=f"{PREFIX}{n:03d}", org=GEN, reserved_ms=10**15)
                    for n in serials)
    session.commit()


def test_several_codes_at_once_are_consecutive_and_all_held(parties):
    s = parties.world.session
    codes = reserve_codes(s, PREFIX, GEN, 63)
    assert codes == [f"{PREFIX}{n:03d}" for n in range(1, 64)]
    assert reserve_code(s, PREFIX, GEN) == f"{PREFIX}064"


def test_past_999_the_lowest_free_serials_are_handed_out(parties):
    s = parties.world.session
    hold(s, 2, 5, 997)
    assert reserve_codes(s, PREFIX, GEN, 4) == [f"{PREFIX}{n:03d}" for n in (998, 999, 1, 3)]
    hold(s, *[n for n in range(4, 997) if n not in (5, 6)])  # 006 is the last one free
    with pytest.raises(Conflict) as err:
        reserve_codes(s, PREFIX, GEN, 2)
    assert err.value.code == "serial_exhausted"
    assert reserve_codes(s, PREFIX, GEN, 1) == [f"{PREFIX}006"]  # the refusal held nothing
