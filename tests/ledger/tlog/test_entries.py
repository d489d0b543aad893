"""Entry payloads: canonical JSON only, our profile (no floats, safe integers, ASCII keys)."""

import json

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import InvalidInput, NoteMalformed, PayloadInvalid, TooLarge
from ledger.tlog.entries import HEADER, canonical, entry_text, format_time, parse_entry, parse_time
from ledger.tlog.notes import Signer, sign_note

SIGNER = Signer.from_seed("device-1", bytes(32))
BASE = {
    "stream": "org:91331001MA2AXXXX0X",
    "seq": 0,
    "org": "91331001MA2AXXXX0X",
    "key": SIGNER.verifier.fingerprint,
    "t": "2026-11-22T07:08:08Z",
    "kind": "test.note",
    "data": {"name": "台州市椒江区某五金厂", "mass_g": 125000},
}


def note_with_payload_line(line: bytes) -> bytes:
    return sign_note(HEADER.encode() + b"\n" + line + b"\n", SIGNER)


def test_valid_entry_parses_and_keeps_exact_bytes():
    raw = sign_note(entry_text(BASE), SIGNER)
    e = parse_entry(raw)
    assert e.note.raw == raw
    assert e.payload == BASE
    assert e.payload_bytes == rfc8785.dumps(BASE)
    assert "台州市".encode() in e.payload_bytes  # Chinese kept as UTF-8, not escaped


@pytest.mark.parametrize(
    "line, code",
    [
        (json.dumps(BASE).encode(), "payload_not_canonical"),  # spaces, unsorted
        (json.dumps(BASE, sort_keys=True, separators=(",", ":")).encode(),  # \\u escapes
         "payload_not_canonical"),
        (rfc8785.dumps(BASE).replace(b'"seq":0', b'"seq":0.0'), "json_float"),
        (rfc8785.dumps(BASE).replace(b'"seq":0', b'"seq":1e2'), "json_float"),
        (rfc8785.dumps(BASE).replace(b'"seq":0', b'"seq":NaN'), "json_float"),
        (rfc8785.dumps(BASE).replace(b'"seq":0', b'"seq":9007199254740992'), "json_int_range"),
        (rfc8785.dumps(BASE).replace(b'"seq":0', b'"seq":' + b"9" * 5000), "json_malformed"),
        (rfc8785.dumps(BASE)[:-1], "json_malformed"),
        (b"[1,2]", "json_not_object"),
        (rfc8785.dumps(BASE).replace(b'"data":{', b'"data":{"\xe5\x90\x8d":1,'),
         "json_key_not_ascii"),
        (rfc8785.dumps(BASE).replace(b'"name":', b'"name":"\\ud800","x":'), "json_surrogate"),
        (rfc8785.dumps(BASE).replace(b'"data":{', b'"data":{"a":' + b"[" * 40 + b"]" * 40 + b","),
         "json_too_deep"),
        (rfc8785.dumps(BASE).replace("某五金厂".encode(), b"\\u0000"), "json_control_char"),
        (rfc8785.dumps(BASE).replace(b'"data":{', b'"data":{"a":["x\\u0000y"],'),
         "json_control_char"),
        (rfc8785.dumps(BASE).replace(b'"data":{', b'"data":{"\\u0000":1,'), "json_control_char"),
    ],
)
def test_non_canonical_and_out_of_profile_payloads_are_rejected(line, code):
    with pytest.raises(PayloadInvalid) as err:
        parse_entry(note_with_payload_line(line))
    assert err.value.code == code


def test_duplicate_keys_are_not_canonical():
    line = rfc8785.dumps(BASE).replace(b'"data":{', b'"data":{"mass_g":1,')
    with pytest.raises(PayloadInvalid) as err:
        parse_entry(note_with_payload_line(line))
    assert err.value.code == "payload_not_canonical"


@pytest.mark.parametrize(
    "change, field, code",
    [
        ({"seq": -1}, "seq", "field_invalid"),
        ({"seq": True}, "seq", "field_invalid"),
        ({"seq": 1}, "prev", "field_missing"),
        ({"prev": "AAAA"}, "prev", "prev_unexpected"),
        ({"org": "not-a-uscc"}, "org", "field_invalid"),
        ({"kind": "Released"}, "kind", "field_invalid"),
        ({"key": "ABC"}, "key", "field_invalid"),
        ({"stream": " bad"}, "stream", "field_invalid"),
        ({"t": "2026-11-22 07:08:08"}, "t", "time_malformed"),
        ({"t": "2026-11-22T07:08:08+08:00"}, "t", "time_malformed"),
        ({"t": "2026-02-30T07:08:08Z"}, "t", "time_malformed"),
        ({"data": []}, "data", "field_invalid"),
        ({"extra": 1}, "extra", "field_unknown"),
    ],
)
def test_envelope_fields_are_checked(change, field, code):
    payload = {**BASE, **change}
    with pytest.raises(PayloadInvalid) as err:
        parse_entry(sign_note(entry_text(payload), SIGNER))
    assert (err.value.field, err.value.code) == (field, code)


def test_missing_field_is_named():
    payload = {k: v for k, v in BASE.items() if k != "t"}
    with pytest.raises(PayloadInvalid) as err:
        parse_entry(sign_note(entry_text(payload), SIGNER))
    assert err.value.field == "t"


def test_prev_must_be_32_bytes_of_base64():
    payload = {**BASE, "seq": 1, "prev": "AAAA"}
    with pytest.raises(InvalidInput) as err:
        parse_entry(sign_note(entry_text(payload), SIGNER))
    assert err.value.field == "prev"


def test_extra_text_lines_are_rejected():
    raw = sign_note(entry_text(BASE) + b"more\n", SIGNER)
    with pytest.raises(NoteMalformed) as err:
        parse_entry(raw)
    assert err.value.code == "entry_header"


def test_size_limit_is_configurable():
    raw = sign_note(entry_text({**BASE, "data": {"notes": "x" * 2000}}), SIGNER)
    parse_entry(raw)
    with pytest.raises(TooLarge):
        parse_entry(raw, max_size=1024)


def test_times_round_trip_with_and_without_milliseconds():
    assert format_time(parse_time("2026-11-22T07:08:08Z")) == "2026-11-22T07:08:08Z"
    assert format_time(parse_time("2026-11-22T07:08:08.120Z")) == "2026-11-22T07:08:08.120Z"
    assert parse_time("2026-11-22T07:08:08.001Z") - parse_time("2026-11-22T07:08:08Z") == 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text(alphabet=st.characters(blacklist_characters="\x00\x7f",
                                     blacklist_categories=("Cs",))),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=126),
                                  max_size=8), children,
                      max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(alphabet="abcdefgh_", min_size=1, max_size=6), json_values,
                       max_size=5))
def test_any_profile_payload_survives_sign_parse(data):
    payload = {**BASE, "data": data}
    e = parse_entry(sign_note(entry_text(payload), SIGNER))
    assert e.payload == payload
    assert e.payload_bytes == canonical(payload)


@given(json_values)
def test_fast_canonical_check_is_exactly_rfc8785_within_the_profile(value):
    from ledger.tlog.entries import fast_canonical

    assert fast_canonical(value) == rfc8785.dumps(value)


def test_fast_canonical_escapes_control_characters_like_rfc8785():
    from ledger.tlog.entries import fast_canonical

    for value in ({"a": "\x00\x01\x1f\b\t\n\f\r\"\\/é\u2028漢"}, {"z": 1, "A": [True, None]}):
        assert fast_canonical(value) == rfc8785.dumps(value)


@pytest.mark.parametrize("data", [{"name": "废\x00"}, {"\x00": 1}, {"list": [{"x": "\x00"}]}])
def test_nul_cannot_be_signed_into_a_payload(data):
    """U+0000 is refused where payloads are built, as where they are parsed."""
    with pytest.raises(PayloadInvalid) as err:
        entry_text({**BASE, "data": data})
    assert err.value.code == "json_control_char"
