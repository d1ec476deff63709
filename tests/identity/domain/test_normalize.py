"""Canonical forms: what counts as the same mailbox, phone, network, name and street address."""

from __future__ import annotations

import pytest

from distillguard.v1 import events_pb2
from identity.domain.normalize import (
    address_block_keys,
    email_shape,
    ip_and_prefix,
    name_block_keys,
    normalize_address,
    normalize_email,
    normalize_name,
    normalize_phone,
)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("John.Smith@gmail.com", "johnsmith@gmail.com"),
        ("j.o.h.n.s.m.i.t.h+distill@googlemail.com", "johnsmith@gmail.com"),
        ("  JohnSmith+a+b@GMAIL.COM ", "johnsmith@gmail.com"),
        ("john.smith+work@outlook.com", "john.smith@outlook.com"),  # dots matter outside Gmail
        ("Jane.Doe@Example.org", "jane.doe@example.org"),
    ],
)
def test_email_provider_rules(raw: str, canonical: str) -> None:
    email = normalize_email(raw)
    assert email is not None and email.address == canonical


@pytest.mark.parametrize("raw", ["", "no-at-sign", "@gmail.com", "+tag@gmail.com", "user@localhost"])
def test_unusable_emails(raw: str) -> None:
    assert normalize_email(raw) is None


def test_phone_formats_agree() -> None:
    assert normalize_phone("+1 (415) 555-0100") == normalize_phone("001 415 555 0100") == "14155550100"
    assert normalize_phone("12345") is None


def test_ip_networks() -> None:
    assert ip_and_prefix("203.0.113.7") == ("203.0.113.7", "203.0.113.0/24")
    assert ip_and_prefix("203.000.113.007") == ("203.0.113.7", "203.0.113.0/24")
    assert ip_and_prefix("2001:db8:abcd:12::1") == ("2001:db8:abcd:12::1", "2001:db8:abcd::/48")
    assert ip_and_prefix("256.1.1.1") is None
    assert ip_and_prefix("not an ip") is None


def test_names_fold_case_accents_honorifics_and_punctuation() -> None:
    assert normalize_name("Dr. José  GARCÍA-López") == "jose garcia lopez"
    assert normalize_name("王伟") == "王伟"
    assert normalize_name("J.") == ""


def test_name_blocks_survive_reordering_and_a_late_typo() -> None:
    keys = set(name_block_keys(normalize_name("Jonathan Smith")))
    assert keys == set(name_block_keys(normalize_name("Smith, Jonathan")))
    assert keys & set(name_block_keys(normalize_name("Jonathon Smith")))
    assert keys & set(name_block_keys(normalize_name("Jonathan Smiht")))
    assert not keys & set(name_block_keys(normalize_name("Maria Garcia")))


def _address(line1: str, line2: str = "", postal: str = "94110") -> events_pb2.BillingAddress:
    return events_pb2.BillingAddress(line1=line1, line2=line2, city="San Francisco", postal_code=postal, country="us")


def test_addresses_fold_abbreviations_and_unit_markers() -> None:
    long_form = normalize_address(_address("123 Main Street", "Apartment 4"))
    short_form = normalize_address(_address("123 Main St.", "#4"))
    assert long_form is not None and short_form is not None
    assert long_form.text == short_form.text == "123 main st apt 4 san francisco"
    assert long_form.numbers == ("123", "4")
    assert long_form.country == "US"
    assert normalize_address(_address("", "")) is None


def test_address_blocks_survive_a_street_typo_or_a_postal_typo() -> None:
    base = normalize_address(_address("123 Main Street", "Apt 4"))
    street_typo = normalize_address(_address("123 Mian Street", "Apt 4"))
    postal_typo = normalize_address(_address("123 Main Street", "Apt 4", postal="94101"))
    assert base is not None and street_typo is not None and postal_typo is not None
    assert set(address_block_keys(base)) & set(address_block_keys(street_typo))
    assert set(address_block_keys(base)) & set(address_block_keys(postal_typo))


@pytest.mark.parametrize(
    ("local", "name", "shape"),
    [
        ("johnsmith1987", "John Smith", "FLD4"),
        ("jsmith84", "John Smith", "fLD2"),
        ("smith.john.12", "John Smith", "L.F.D2"),
        ("s1234567", "Ana Lopez", "W1D7"),
        ("john.smith", "John Smith", None),  # no digits: how people name themselves, not a generator
        ("1234567", "Ana Lopez", None),
    ],
)
def test_email_shapes(local: str, name: str, shape: str | None) -> None:
    assert email_shape(local, name) == shape
