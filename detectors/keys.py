"""Redis key names, built in one place.

Every key of a customer carries the customer id as a hash tag (``{C123}``),
so that all of one customer's keys live in one Redis Cluster slot and one
Lua script may touch them atomically. Entity keys (terminal, merchant,
device, counterparty) carry their own tag, ``{t|T-1}``: no customer id holds
a "|", so the two never meet.
"""

from __future__ import annotations


def key(namespace: str, customer_id: str, *parts: str) -> str:
    """The key of one piece of a customer's state.

    >>> key("rw", "C000042", "ev")
    'rw:{C000042}:ev'
    """
    return ":".join((namespace, "{" + customer_id + "}", *parts))


def entity_key(namespace: str, letter: str, entity_id: str, *parts: str) -> str:
    """The key of one piece of an entity's state (``letter`` names its type).

    >>> entity_key("rw", "t", "T-7", "n")
    'rw:{t|T-7}:n'
    """
    return ":".join((namespace, "{" + letter + "|" + entity_id + "}", *parts))
