"""The pure signature checks: what is accepted, and that anything altered is refused."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.signatures import same_secret, verify_bindo, verify_standard_webhook
from tests.webhooks.conftest import bindo_signature, standard_signature

SECRET = "client-secret"
NOW = 1_800_000_000
BODY = b'{"scope":"store/order/created","data":{"type":"order","id":1}}'


def _standard(sig: str, *, msg_id: str = "msg_1", ts: str = str(NOW), body: bytes = BODY) -> bool:
    return verify_standard_webhook(SECRET.encode(), msg_id, ts, sig, body, now=NOW)


def test_a_valid_standard_signature_is_accepted():
    assert _standard(standard_signature(SECRET, "msg_1", NOW, BODY))


def test_any_valid_signature_among_several_is_accepted_and_other_versions_ignored():
    good = standard_signature(SECRET, "msg_1", NOW, BODY)
    other = standard_signature("old-secret", "msg_1", NOW, BODY)
    assert _standard(f"v2,abc {other} {good}")
    assert not _standard(f"v2,{good[3:]} {other}")


@pytest.mark.parametrize("skew", [-299, 0, 300, -300])
def test_timestamps_within_tolerance_are_accepted(skew):
    ts = NOW + skew
    assert _standard(standard_signature(SECRET, "msg_1", ts, BODY), ts=str(ts))


@pytest.mark.parametrize("skew", [-301, 301, -360, 360, -NOW])
def test_timestamps_outside_tolerance_are_refused(skew):
    ts = NOW + skew
    assert not _standard(standard_signature(SECRET, "msg_1", ts, BODY), ts=str(ts))


@pytest.mark.parametrize("ts", ["+1800000000", " 1800000000", "1_800_000_000", "١٨٠٠", "", "1e9"])
def test_timestamps_that_are_not_plain_digits_are_refused(ts):
    assert not _standard(standard_signature(SECRET, "msg_1", ts, BODY), ts=ts)


@pytest.mark.parametrize(
    "header", ["", "v1,", "v1", "v1,not-base64!", "v1a,AAAA", ",", "v1,\u00e9", "   "]
)
def test_malformed_signature_headers_are_refused_without_error(header):
    assert not _standard(header)


@given(
    which=st.sampled_from(["body", "sig", "ts", "id"]),
    bit=st.integers(min_value=0, max_value=8 * 32 - 1),
)
@settings(max_examples=200, deadline=None)
def test_any_bit_flip_breaks_a_standard_signature(which, bit):
    sig_bytes = base64.b64decode(standard_signature(SECRET, "msg_1", NOW, BODY)[3:])
    body, msg_id, ts = bytearray(BODY), bytearray(b"msg_1"), bytearray(str(NOW).encode())
    target = {"body": body, "sig": bytearray(sig_bytes), "ts": ts, "id": msg_id}[which]
    target[(bit // 8) % len(target)] ^= 1 << (bit % 8)
    sig = sig_bytes if which != "sig" else bytes(target)
    header = "v1," + base64.b64encode(sig).decode()
    assert not _standard(
        header, msg_id=msg_id.decode("latin-1"), ts=ts.decode("latin-1"), body=bytes(body)
    )


def test_a_valid_bindo_signature_is_accepted_and_several_v1_entries_allowed():
    header = bindo_signature(SECRET, BODY, NOW)
    assert verify_bindo(SECRET, header, BODY, now=NOW)
    stale = bindo_signature("old", BODY, NOW).split(",")[1]
    assert verify_bindo(
        SECRET, f"{header.split(',')[0]},{stale},{header.split(',')[1]}", BODY, now=NOW
    )


@pytest.mark.parametrize(
    "mutate",
    [
        lambda h: h.replace("v1=", "v2="),
        lambda h: h.split(",")[1],  # no t
        lambda h: f"t={NOW},{h}",  # two timestamps
        lambda h: h.upper(),
        lambda h: h + "0",
        lambda h: "",
        lambda h: "garbage",
    ],
)
def test_malformed_or_altered_bindo_headers_are_refused(mutate):
    assert not verify_bindo(SECRET, mutate(bindo_signature(SECRET, BODY, NOW)), BODY, now=NOW)


@pytest.mark.parametrize("skew", [-360, 360])
def test_stale_bindo_timestamps_are_refused(skew):
    header = bindo_signature(SECRET, BODY, NOW + skew)
    assert not verify_bindo(SECRET, header, BODY, now=NOW)


def test_bindo_signature_with_another_secret_or_body_is_refused():
    assert not verify_bindo(SECRET, bindo_signature("other", BODY, NOW), BODY, now=NOW)
    assert not verify_bindo(SECRET, bindo_signature(SECRET, BODY, NOW), BODY + b" ", now=NOW)


def test_same_secret_is_exact_and_never_matches_a_missing_value():
    assert same_secret("s3cret", "s3cret")
    assert not same_secret("s3cret", "s3creT")
    assert not same_secret(None, None)
    assert not same_secret("", "")
    assert not same_secret("\u00e9", "e")  # non-ASCII never raises
