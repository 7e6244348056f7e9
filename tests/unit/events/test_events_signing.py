"""Signed webhooks: the X-Hub-Signature contract (shared/signing.py)."""

import hmac

import pytest

from shared import signing
from shared.signing import SignatureError, StaticSourceSecrets, sign, verify_request, verify_signature

# Test vector, computed outside this code:
#   printf '%s' '1700000000.{"event_id":"evt-1","type":"territory.upserted"}' \
#     | openssl dgst -sha256 -hmac 'whsec_demo_secret'
#   => afaf7b179be00be1c8a7368830c58b8035dcfa38385a90d01fbd01eb4260e391
VECTOR_SECRET = "whsec_demo_secret"
VECTOR_T = 1_700_000_000
VECTOR_BODY = b'{"event_id":"evt-1","type":"territory.upserted"}'
VECTOR_V1 = "afaf7b179be00be1c8a7368830c58b8035dcfa38385a90d01fbd01eb4260e391"


def test_sign_matches_the_known_vector():
    # Given the vector's body, secret and time / When signed / Then the header carries the known digest
    assert sign(VECTOR_BODY, VECTOR_SECRET, VECTOR_T) == f"t={VECTOR_T},v1={VECTOR_V1}"


def test_known_vector_verifies():
    header = f"t={VECTOR_T},v1={VECTOR_V1}"
    assert verify_signature(header, VECTOR_BODY, [VECTOR_SECRET], now=VECTOR_T) == VECTOR_T


def test_uppercase_hex_and_spaces_are_accepted():
    header = f"t={VECTOR_T}, v1={VECTOR_V1.upper()}"
    assert verify_signature(header, VECTOR_BODY, [VECTOR_SECRET], now=VECTOR_T) == VECTOR_T


@pytest.mark.parametrize("position", [0, 10, len(VECTOR_BODY) - 1])
def test_one_changed_body_byte_is_rejected(position):
    # Given a body with one byte changed after signing
    body = bytearray(VECTOR_BODY)
    body[position] ^= 0x01
    # When verified / Then it does not match
    with pytest.raises(SignatureError) as err:
        verify_signature(f"t={VECTOR_T},v1={VECTOR_V1}", bytes(body), [VECTOR_SECRET], now=VECTOR_T)
    assert err.value.reason == SignatureError.MISMATCH


def test_one_changed_signature_digit_is_rejected():
    tampered = VECTOR_V1[:-1] + ("0" if VECTOR_V1[-1] != "0" else "1")
    with pytest.raises(SignatureError) as err:
        verify_signature(f"t={VECTOR_T},v1={tampered}", VECTOR_BODY, [VECTOR_SECRET], now=VECTOR_T)
    assert err.value.reason == SignatureError.MISMATCH


def test_changed_timestamp_is_rejected():
    # The timestamp is part of the signed message: moving it breaks the signature.
    with pytest.raises(SignatureError) as err:
        verify_signature(f"t={VECTOR_T + 1},v1={VECTOR_V1}", VECTOR_BODY, [VECTOR_SECRET], now=VECTOR_T)
    assert err.value.reason == SignatureError.MISMATCH


@pytest.mark.parametrize("skew", [-300, 0, 300])
def test_timestamp_within_300_seconds_is_accepted(skew):
    header = sign(VECTOR_BODY, VECTOR_SECRET, VECTOR_T)
    assert verify_signature(header, VECTOR_BODY, [VECTOR_SECRET], now=VECTOR_T + skew) == VECTOR_T


@pytest.mark.parametrize("skew", [-301, 301])
def test_timestamp_301_seconds_away_is_rejected(skew):
    # Given a correctly signed request / When checked 301 s before or after its t / Then expired
    header = sign(VECTOR_BODY, VECTOR_SECRET, VECTOR_T)
    with pytest.raises(SignatureError) as err:
        verify_signature(header, VECTOR_BODY, [VECTOR_SECRET], now=VECTOR_T + skew)
    assert err.value.reason == SignatureError.EXPIRED


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
    ],
)
def test_missing_header_is_rejected(header):
    with pytest.raises(SignatureError) as err:
        verify_signature(header, VECTOR_BODY, [VECTOR_SECRET], now=VECTOR_T)
    assert err.value.reason == SignatureError.MISSING


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        f"v1={VECTOR_V1}",
        f"t=abc,v1={VECTOR_V1}",
        f"t=-5,v1={VECTOR_V1}",
        f"t={VECTOR_T}",
        f"t={VECTOR_T},v1=xyz",
        f"t={VECTOR_T},v1={VECTOR_V1}00",
        f"t={VECTOR_T},t={VECTOR_T},v1={VECTOR_V1}",
        f"t=\u0661\u0667\u0660\u0660,v1={VECTOR_V1}",  # non-ASCII digits
        "t=1," + "x" * 5000,
    ],
)
def test_malformed_header_is_rejected(header):
    with pytest.raises(SignatureError) as err:
        verify_signature(header, VECTOR_BODY, [VECTOR_SECRET], now=VECTOR_T)
    assert err.value.reason == SignatureError.MALFORMED


def test_unknown_schemes_are_ignored_beside_v1():
    header = f"t={VECTOR_T},v0=deadbeef,v1={VECTOR_V1}"
    assert verify_signature(header, VECTOR_BODY, [VECTOR_SECRET], now=VECTOR_T) == VECTOR_T


def test_several_v1_any_match_is_enough():
    header = f"t={VECTOR_T},v1={'0' * 64},v1={VECTOR_V1}"
    assert verify_signature(header, VECTOR_BODY, [VECTOR_SECRET], now=VECTOR_T) == VECTOR_T


def test_old_secret_is_accepted_during_rotation_and_rejected_after():
    # Given a sender still signing with the old secret
    header = sign(VECTOR_BODY, "old-secret", VECTOR_T)
    # When both secrets are active (rotation) / Then it is accepted
    assert verify_signature(header, VECTOR_BODY, ["new-secret", "old-secret"], now=VECTOR_T) == VECTOR_T
    # When the old one is retired / Then it is rejected
    with pytest.raises(SignatureError) as err:
        verify_signature(header, VECTOR_BODY, ["new-secret"], now=VECTOR_T)
    assert err.value.reason == SignatureError.MISMATCH


def test_sender_signing_with_both_secrets_passes_either_side_of_rotation():
    header = sign(VECTOR_BODY, ["new-secret", "old-secret"], VECTOR_T)
    assert header.count("v1=") == 2
    assert verify_signature(header, VECTOR_BODY, ["old-secret"], now=VECTOR_T) == VECTOR_T
    assert verify_signature(header, VECTOR_BODY, ["new-secret"], now=VECTOR_T) == VECTOR_T


def test_no_active_secret_is_rejected():
    with pytest.raises(SignatureError) as err:
        verify_signature(sign(VECTOR_BODY, "x", VECTOR_T), VECTOR_BODY, [], now=VECTOR_T)
    assert err.value.reason == SignatureError.UNKNOWN_SOURCE


def test_comparison_is_constant_time_over_every_secret_and_signature(monkeypatch):
    # Given a spy on hmac.compare_digest
    calls = []
    real_compare = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real_compare(a, b)

    monkeypatch.setattr(signing.hmac, "compare_digest", spy)
    # When a request with two v1 is checked against two secrets, the first pair matching
    header = sign(VECTOR_BODY, ["s1", "s2"], VECTOR_T)
    verify_signature(header, VECTOR_BODY, ["s1", "s2"], now=VECTOR_T)
    # Then every pair was compared with compare_digest (no early exit, no ==)
    assert len(calls) == 4


def test_verify_request_reads_headers_case_insensitively_and_looks_up_the_source():
    secrets = StaticSourceSecrets({"crm-x": [VECTOR_SECRET]})
    headers = {"x-hub-signature": f"t={VECTOR_T},v1={VECTOR_V1}"}
    assert verify_request(headers, VECTOR_BODY, "crm-x", secrets, now=VECTOR_T) == VECTOR_T


def test_verify_request_for_an_unknown_source_is_rejected():
    secrets = StaticSourceSecrets({"crm-x": [VECTOR_SECRET]})
    headers = {"X-Hub-Signature": f"t={VECTOR_T},v1={VECTOR_V1}"}
    with pytest.raises(SignatureError) as err:
        verify_request(headers, VECTOR_BODY, "crm-y", secrets, now=VECTOR_T)
    assert err.value.reason == SignatureError.UNKNOWN_SOURCE


def test_verify_request_without_header_never_looks_up_secrets():
    class Exploding:
        def secrets_for(self, source):
            raise AssertionError("looked up")

    with pytest.raises(SignatureError) as err:
        verify_request({}, VECTOR_BODY, "crm-x", Exploding(), now=VECTOR_T)
    assert err.value.reason == SignatureError.MISSING


@pytest.mark.parametrize("source", ["", "../etc", "a/b", "UPPER", "x" * 65])
def test_source_names_are_restricted(source):
    with pytest.raises(SignatureError):
        StaticSourceSecrets({source: ["s"]}).secrets_for(source)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('["new", "old"]', ["new", "old"]),
        ("plain-secret", ["plain-secret"]),
        ('["", 5, "ok"]', ["ok"]),
        ("[not json", []),
        ("", []),
        (None, []),
    ],
)
def test_parameter_values_decode(raw, expected):
    assert signing.decode_secret_value(raw) == expected
