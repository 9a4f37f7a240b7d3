"""The optional contract fields each channel carries.

One function per channel, so that normal traffic and fraud scenarios build
the same channel the same way and a detector cannot tell them apart by which
fields are present. Each returns the ``extras`` of a
:class:`~simulator.events.Draft`, keyed by
:class:`~riskwatch.contracts.Transaction` field names and inserted in the
contract's field order, which lets :mod:`simulator.wire` write them straight
to JSON in the order ``Transaction.to_json_dict`` would.

* atm: card, terminal, place.
* pos: card, merchant and MCC, terminal, place.
* counter: the branch as terminal, place; the payee of a transfer or bill.
* online / mobile: device and IP; for card purchases the card, merchant, MCC
  and the merchant's country; the payee of a transfer or bill, and its
  country when the account is abroad. Money coming
  in on these channels carries no device: the customer did nothing.
* thirdparty: the platform as ``counterparty_bank``; the customer's device
  when they act; the merchant or the other party.
"""

from __future__ import annotations

from typing import Any

from simulator.counterparties import Counterparty
from simulator.errors import SimulatorError
from simulator.merchants import Merchant, Terminal

Extras = dict[str, Any]


def atm(card_id: str, terminal: Terminal) -> Extras:
    city = terminal.city
    return {
        "card_id": card_id,
        "terminal_id": terminal.terminal_id,
        "country": city.country,
        "city": city.name,
        "lat": terminal.lat,
        "lon": terminal.lon,
    }


def pos(card_id: str, merchant: Merchant, terminal_id: str) -> Extras:
    city = merchant.city
    if city is None:
        msg = f"merchant {merchant.merchant_id} has no location and cannot take a POS payment"
        raise SimulatorError(msg)
    return {
        "card_id": card_id,
        "merchant_id": merchant.merchant_id,
        "mcc": merchant.mcc,
        "terminal_id": terminal_id,
        "country": merchant.country,
        "city": city.name,
        "lat": merchant.lat,
        "lon": merchant.lon,
    }


def counter(
    branch: Terminal, *, payee: Counterparty | None = None, biller: Merchant | None = None
) -> Extras:
    city = branch.city
    out: Extras = {}
    if biller is not None:
        out["merchant_id"] = biller.merchant_id
        out["mcc"] = biller.mcc
    out["terminal_id"] = branch.terminal_id
    out["country"] = city.country
    out["city"] = city.name
    out["lat"] = branch.lat
    out["lon"] = branch.lon
    if payee is not None:
        out["counterparty_account"] = payee.account
        out["counterparty_bank"] = payee.bank
    return out


def remote(
    device_id: str | None,
    ip: str | None,
    *,
    card_id: str | None = None,
    merchant: Merchant | None = None,
    party: Counterparty | None = None,
) -> Extras:
    """Online and mobile banking: the same fields, told apart by the channel."""
    out: Extras = {}
    if card_id is not None:
        out["card_id"] = card_id
    if merchant is not None:
        out["merchant_id"] = merchant.merchant_id
        out["mcc"] = merchant.mcc
    if device_id is not None:
        out["device_id"] = device_id
        out["ip"] = ip
    if merchant is not None and card_id is not None:
        out["country"] = merchant.country
    elif party is not None and party.country != "CN":
        out["country"] = party.country
    if party is not None:
        out["counterparty_account"] = party.account
        out["counterparty_bank"] = party.bank
    return out


def platform(
    name: str,
    device_id: str | None,
    *,
    merchant: Merchant | None = None,
    party: Counterparty | None = None,
) -> Extras:
    out: Extras = {}
    if merchant is not None:
        out["merchant_id"] = merchant.merchant_id
        out["mcc"] = merchant.mcc
    if device_id is not None:
        out["device_id"] = device_id
    if party is not None:
        out["counterparty_account"] = party.account
    out["counterparty_bank"] = name
    return out
