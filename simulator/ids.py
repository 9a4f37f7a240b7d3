"""Identifiers: opaque tokens for cards, devices and accounts, and event ids.

Card ids are tokens, never anything shaped like a card number: a clear PAN
must not appear in a test stream any more than in production. Tokens carry 48
random bits as 12 hex digits, so no token can hold a run of 13 or more digits
(the length of a PAN), and a minter remembers what it issued so that two
customers never share a card or a device by accident.
"""

from __future__ import annotations

import hashlib
import random

_BIT_48 = 1 << 48


class TokenMinter:
    """Issues opaque tokens that are unique within one simulated world.

    The minter holds no randomness of its own: each call takes the stream
    that is asking, so which stream a token is drawn from stays explicit.
    """

    __slots__ = ("_issued",)

    def __init__(self) -> None:
        self._issued: set[str] = set()

    def mint(self, prefix: str, rng: random.Random) -> str:
        while True:
            # hex() of the bits above a leading 1 is f"{bits:012x}" at a fraction of the cost.
            token = f"{prefix}-{hex(rng.getrandbits(48) | _BIT_48)[3:]}"
            if token not in self._issued:
                self._issued.add(token)
                return token

    def __len__(self) -> int:
        return len(self._issued)


def customer_id(index: int) -> str:
    return f"C{index:06d}"


def account_id(index: int) -> str:
    return f"A{index:06d}"


def run_tag(*parts: object) -> str:
    """Eight hex digits that name one run's settings.

    Prefixing transaction ids with it keeps ids from two different runs apart
    when both are fed into the same system, where ``txn_id`` is the
    idempotency key; the same settings always give the same tag.
    """
    text = "|".join(str(p) for p in parts)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=4).hexdigest()


def txn_id(tag: str, n: int) -> str:
    return f"T{tag}-{n:010d}"
