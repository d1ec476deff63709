"""Event builders and a synthetic signup+billing population, for tests and the benchmark.

Labels are never involved: the population is only load, its accounts are not scored.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from typing import Final

from google.protobuf.timestamp_pb2 import Timestamp

from distillguard.v1 import events_pb2

T0: Final = 1_767_225_600  # 2026-01-01T00:00:00Z
Event = events_pb2.SignupEvent | events_pb2.BillingEvent | events_pb2.InferenceEvent


def _event_id(*parts: object) -> str:
    return hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=12).hexdigest()


def signup(
    account_id: str,
    *,
    at: int = T0,
    email: str = "",
    name: str = "",
    ip: str = "",
    phone: str = "",
    device: str = "",
    org_id: str = "",
    org_name: str = "",
    path: events_pb2.SignupPath.ValueType = events_pb2.SIGNUP_PATH_SELF_SERVE,
    verification: events_pb2.Verification.ValueType = events_pb2.VERIFICATION_EMAIL,
    country: str = "US",
    event_id: str = "",
) -> events_pb2.SignupEvent:
    """A signup event; the event id defaults to a digest of the content, so equal calls make duplicates."""
    return events_pb2.SignupEvent(
        event_id=event_id or _event_id("signup", account_id, at, email, name, ip, phone, device, org_id),
        occurred_at=Timestamp(seconds=at),
        account_id=account_id,
        email=email,
        display_name=name,
        org_id=org_id,
        org_name=org_name,
        phone=phone,
        country=country,
        ip=ip,
        device_fingerprint=device,
        signup_path=path,
        verification=verification,
    )


def billing(
    account_id: str,
    *,
    at: int = T0,
    card: str = "",
    funding: events_pb2.CardFunding.ValueType = events_pb2.CARD_FUNDING_CREDIT,
    cardholder: str = "",
    line1: str = "",
    line2: str = "",
    city: str = "",
    postal_code: str = "",
    country: str = "US",
    ip: str = "",
    kind: events_pb2.BillingKind.ValueType = events_pb2.BILLING_KIND_PAYMENT_METHOD_ADDED,
    amount_cents: int = 0,
    event_id: str = "",
) -> events_pb2.BillingEvent:
    event = events_pb2.BillingEvent(
        event_id=event_id or _event_id("billing", account_id, at, card, cardholder, line1, ip, kind),
        occurred_at=Timestamp(seconds=at),
        account_id=account_id,
        kind=kind,
        amount_cents=amount_cents,
        currency="USD",
        card_fingerprint=card,
        card_funding=funding,
        cardholder_name=cardholder,
        ip=ip,
    )
    if line1 or line2 or city or postal_code:
        event.billing_address.CopyFrom(
            events_pb2.BillingAddress(line1=line1, line2=line2, city=city, postal_code=postal_code, country=country)
        )
    return event


def inference(
    account_id: str,
    *,
    at: int = T0,
    api_key: str = "",
    ip: str = "",
    system_prompt: str = "",
    event_id: str = "",
) -> events_pb2.InferenceEvent:
    return events_pb2.InferenceEvent(
        event_id=event_id or _event_id("inference", account_id, at, api_key, ip, system_prompt),
        occurred_at=Timestamp(seconds=at),
        account_id=account_id,
        api_key_id=api_key,
        model="model-1",
        ip=ip,
        status=events_pb2.INFERENCE_STATUS_OK,
        system_prompt_sha256=system_prompt,
    )


_FIRST: Final = (
    "james mary john patricia robert jennifer michael linda david elizabeth william barbara richard susan joseph "
    "jessica thomas sarah charles karen wei fang li na ahmed fatima carlos maria luis ana priya arjun yuki hiro "
    "olga ivan lucas emma noah mia liam ava ethan zoe omar leila pedro sofia diego elena"
).split()
# Surnames from syllables: tens of thousands of them, so full names collide about as rarely as real ones.
_SYLLABLES: Final = "ka ri mo ten sha lo ver ban dor ni que sel han gu pa tri zan mer ol fen wick ton berg son ley".split()
_STREETS: Final = "main oak pine maple cedar elm lake hill park river sunset washington lincoln jackson church".split()
_SUFFIXES: Final = ("St", "Street", "Ave", "Avenue", "Rd", "Road", "Blvd", "Lane")
_DOMAINS: Final = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "proton.me")


def population(accounts: int, seed: int = 7) -> Iterator[Event]:
    """Signup then billing events for `accounts` accounts, signups in time order, each billing event up to an hour after.

    A realistic mix for load: ~85% independent people, ~5% households of 2–4 sharing a card and a
    home IP, ~6% enterprise seats (orgs of 10–40 behind a NAT address, one corporate card), and
    ~4% farm accounts (groups of 20–60 on a few prepaid cards and a residential proxy pool).
    """
    rng = random.Random(seed)
    made = 0
    at = T0
    while made < accounts:
        roll = rng.random()
        size = 1 if roll < 0.85 else rng.randint(2, 4) if roll < 0.90 else rng.randint(10, 40) if roll < 0.96 else rng.randint(20, 60)
        size = min(size, accounts - made)
        group = f"g{made}"
        if roll < 0.85 or size == 1:
            kind = "person"
        elif roll < 0.90:
            kind = "household"
        elif roll < 0.96:
            kind = "enterprise"
        else:
            kind = "farm"
        card = _event_id("card", group)
        home_ip = _ip(rng)
        proxy_pool = [_ip(rng) for _ in range(8)]
        prepaid = [_event_id("prepaid", group, i) for i in range(3)]
        for member in range(size):
            at += rng.randint(1, 40)
            account = f"acct-{made:07d}"
            made += 1
            first = rng.choice(_FIRST)
            last = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
            name = f"{first.title()} {last.title()}"
            digits = rng.randint(1, 9999)
            if kind == "enterprise":
                email = f"{first}.{last}{member}@{group}.example.com"
                ip = home_ip
                signup_card, funding = card, events_pb2.CARD_FUNDING_CREDIT
                org = group
            elif kind == "household":
                email = f"{first}{last}{digits}@{rng.choice(_DOMAINS)}"
                ip = home_ip
                signup_card, funding = card, events_pb2.CARD_FUNDING_CREDIT
                org = ""
            elif kind == "farm":
                email = f"{first}{last}{digits}@gmail.com"
                ip = rng.choice(proxy_pool)
                signup_card, funding = prepaid[member % 3], events_pb2.CARD_FUNDING_PREPAID
                org = ""
            else:
                email = f"{first}{rng.choice(('.', '', '_'))}{last}{digits}@{rng.choice(_DOMAINS)}"
                ip = _ip(rng)
                signup_card, funding = _event_id("card", account), events_pb2.CARD_FUNDING_CREDIT
                org = ""
            yield signup(
                account,
                at=at,
                email=email,
                name=name,
                ip=ip,
                phone=f"+1{rng.randint(2_000_000_000, 9_999_999_999)}",
                device=_event_id("device", account if kind != "farm" else group, member % 5),
                org_id=org,
                org_name=org,
                path=events_pb2.SIGNUP_PATH_ENTERPRISE_SALES if org else events_pb2.SIGNUP_PATH_SELF_SERVE,
            )
            street = f"{rng.randint(1, 9999)} {rng.choice(_STREETS).title()} {rng.choice(_SUFFIXES)}"
            yield billing(
                account,
                at=at + rng.randint(60, 3600),
                card=signup_card,
                funding=funding,
                cardholder=name if kind in ("person", "farm") else f"{group} corp",
                line1=street,
                city="Springfield",
                postal_code=f"{rng.randint(10000, 99999)}",
                ip=ip,
                kind=events_pb2.BILLING_KIND_CHARGE_SUCCEEDED,
                amount_cents=2000,
            )


def _ip(rng: random.Random) -> str:
    return f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
