"""Canonical forms of identity attributes, and the blocking keys derived from them.

Normalisation decides what counts as "the same value": two spellings of one mailbox, one
phone number written two ways, one street address abbreviated differently. Everything here is
a pure function of its input.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from distillguard.v1 import events_pb2

# Providers whose mailboxes ignore dots in the local part and whose aliases share one inbox.
_DOT_INSENSITIVE: Final = frozenset({"gmail.com"})
_DOMAIN_ALIASES: Final = {"googlemail.com": "gmail.com"}
# Consumer mailbox providers: a shared domain here says nothing about a shared employer or school.
FREEMAIL_DOMAINS: Final = frozenset(
    {
        "gmail.com", "yahoo.com", "yahoo.co.uk", "yahoo.co.jp", "ymail.com", "outlook.com", "hotmail.com",
        "hotmail.co.uk", "live.com", "msn.com", "icloud.com", "me.com", "mac.com", "aol.com", "proton.me",
        "protonmail.com", "pm.me", "gmx.com", "gmx.de", "gmx.net", "web.de", "mail.com", "mail.ru", "yandex.ru",
        "yandex.com", "qq.com", "163.com", "126.com", "sina.com", "foxmail.com", "naver.com", "zoho.com",
        "tutanota.com", "fastmail.com", "hey.com", "duck.com",
    }
)
_HONORIFICS: Final = frozenset({"mr", "mrs", "ms", "miss", "dr", "prof", "sir", "jr", "sr", "ii", "iii"})
# USPS-style street suffix and unit abbreviations; both spellings map to the short one.
_ADDRESS_WORDS: Final = {
    "street": "st", "str": "st", "avenue": "ave", "av": "ave", "road": "rd", "boulevard": "blvd", "drive": "dr",
    "lane": "ln", "court": "ct", "place": "pl", "square": "sq", "terrace": "ter", "highway": "hwy",
    "parkway": "pkwy", "circle": "cir", "crescent": "cres", "apartment": "apt", "unit": "apt", "flat": "apt",
    "suite": "ste", "floor": "fl", "building": "bldg", "north": "n", "south": "s", "east": "e", "west": "w",
    "northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw", "mount": "mt", "saint": "st",
    "#": "apt", "no": "apt",
}
_ADDRESS_NOISE: Final = frozenset(_ADDRESS_WORDS.values()) | {"the", "of"}
_ADDRESS_TOKEN: Final = re.compile(r"#|[^\W_]+")
_SHAPE_PART: Final = re.compile(r"[^\W\d_]+|\d+|[._-]")


@dataclass(frozen=True, slots=True)
class Email:
    """A mailbox in canonical form: `address` is what two spellings of one inbox share."""

    address: str
    local: str
    domain: str


def normalize_email(raw: str) -> Email | None:
    """Lowercase; drop +tags everywhere; for Gmail also drop dots and fold googlemail.com into gmail.com."""
    text = raw.strip().lower()
    local, sep, domain = text.rpartition("@")
    if not sep or not local or "." not in domain:
        return None
    domain = _DOMAIN_ALIASES.get(domain, domain)
    local = local.split("+", 1)[0]
    if domain in _DOT_INSENSITIVE:
        local = local.replace(".", "")
    if not local:
        return None
    return Email(f"{local}@{domain}", local, domain)


def email_local_for_shape(raw: str) -> str:
    """The local part as the person typed it (dots kept, +tag dropped), for shape comparison."""
    local = raw.strip().lower().rpartition("@")[0]
    return local.split("+", 1)[0]


def normalize_phone(raw: str) -> str | None:
    """Digits only, international prefix 00 treated as +; None when too short to identify anyone."""
    digits = "".join(ch for ch in raw if ch.isdigit())
    if raw.strip().startswith("00") or digits.startswith("00"):
        digits = digits[2:]
    return digits if len(digits) >= 7 else None


@lru_cache(maxsize=1 << 16)
def ip_and_prefix(raw: str) -> tuple[str, str] | None:
    """Canonical address and its network block: the /24 of IPv4, the /48 of IPv6; None if unparseable."""
    text = raw.strip()
    parts = text.split(".")
    if len(parts) == 4 and all(p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts):
        canonical = ".".join(str(int(p)) for p in parts)
        return canonical, canonical.rsplit(".", 1)[0] + ".0/24"
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv4Address):  # pragma: no cover - dotted quads are handled above
        return str(address), str(ipaddress.ip_network(f"{address}/24", strict=False))
    return str(address), str(ipaddress.ip_network(f"{address}/48", strict=False))


def _fold(text: str) -> str:
    """Casefold and strip accents, keeping non-Latin letters (Ł→l, é→e, 王 stays)."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def name_tokens(raw: str) -> list[str]:
    """Letter runs of a person's name without honorifics: "Dr. José  O'Neil" -> ["jose", "o", "neil"]."""
    return [t for t in re.findall(r"[^\W\d_]+", _fold(raw)) if t not in _HONORIFICS]


def normalize_name(raw: str) -> str:
    """A name as space-joined tokens; "" when nothing identifying is left."""
    name = " ".join(name_tokens(raw))
    # Two CJK characters make a full name; two Latin letters are initials.
    return name if len(name) >= 3 or (len(name) == 2 and not name.isascii()) else ""


def name_block_keys(name: str) -> tuple[str, ...]:
    """Blocking keys that survive reordering and a typo after the third letter of one token.

    With the outer tokens sorted into (x, y): one key is x in full with y's first three letters,
    the other x's first three letters with y in full. A middle name is left out.
    """
    tokens = [t for t in name.split() if len(t) > 1] or name.split()
    if not tokens:
        return ()
    if len(tokens) == 1:
        return (f"nm:{tokens[0]}",)
    x, y = sorted((tokens[0], tokens[-1]))
    return (f"nm:{x}|{y[:3]}", f"nx:{x[:3]}|{y}")


def email_shape(local: str, display_name: str) -> str | None:
    """How a mailbox name is built from the person's name: "jsmith84" for John Smith -> "fLD2".

    F/L are the first/last name in full, f/l their initials, D<n> a run of n digits, W<n> other
    letters; separators are kept. Only shapes mixing letters with digits are returned: those are
    what generated mailboxes ("firstnamelastname+digits") look like.
    """
    tokens = [t for t in name_tokens(display_name) if t.isascii()]
    first = tokens[0] if tokens else ""
    last = tokens[-1] if len(tokens) > 1 else ""
    out: list[str] = []
    for part in _SHAPE_PART.findall(local):
        if part.isdigit():
            out.append(f"D{len(part)}")
        elif part in "._-":
            out.append(part)
        else:
            out.append(_letter_shape(part, first, last))
    shape = "".join(out)
    has_digits = "D" in shape
    has_letters = any(c in shape for c in "FLflW")
    return shape if has_digits and has_letters else None


def _letter_shape(run: str, first: str, last: str) -> str:
    out: list[str] = []
    unmatched = 0
    i = 0
    while i < len(run):
        piece = ""
        if first and run.startswith(first, i):
            piece, step = "F", len(first)
        elif last and run.startswith(last, i):
            piece, step = "L", len(last)
        elif first and last and run[i] == first[0] and run.startswith(last, i + 1):
            piece, step = "f", 1
        elif first and last and run[i] == last[0] and run.startswith(first, i + 1):
            piece, step = "l", 1
        if piece:
            if unmatched:
                out.append(f"W{unmatched}")
                unmatched = 0
            out.append(piece)
            i += step
        else:
            unmatched += 1
            i += 1
    if unmatched:
        out.append(f"W{unmatched}")
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Address:
    """A billing address in comparable form.

    `text` is line1, line2 and city as normalised tokens (abbreviations folded, punctuation
    dropped), what fuzzy comparison sees; `numbers` the house and unit numbers, which must agree
    exactly (neighbours differ only there).
    """

    text: str
    numbers: tuple[str, ...]
    postal_code: str
    country: str


def _address_tokens(raw: str) -> list[str]:
    return [_ADDRESS_WORDS.get(t, t) for t in _ADDRESS_TOKEN.findall(_fold(raw))]


def normalize_address(address: events_pb2.BillingAddress) -> Address | None:
    """None when the address has no street line to compare."""
    street = _address_tokens(f"{address.line1} {address.line2}")
    if not any(t.isalpha() for t in street):
        return None
    numbers = tuple(sorted(t for t in street if t.isdigit()))
    text = " ".join(street + _address_tokens(address.city))
    postal = "".join(ch for ch in address.postal_code.upper() if ch.isalnum())
    return Address(text, numbers, postal, address.country.upper())


def address_block_keys(address: Address) -> tuple[str, ...]:
    """Keys that survive reordering and a typo in either the street name or the postal code."""
    street = [t for t in address.text.split() if t.isalpha() and t not in _ADDRESS_NOISE]
    longest = max(street, key=len) if street else ""
    house = max(address.numbers, key=lambda n: (len(n), n)) if address.numbers else ""
    keys: list[str] = []
    if address.postal_code:
        keys.append(f"ad:{address.country}|{address.postal_code}|{house}")
    if address.numbers and longest:
        keys.append(f"ax:{address.country}|{','.join(address.numbers)}|{longest[:3]}")
    return tuple(keys)
