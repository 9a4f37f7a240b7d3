"""``riskwatch profile CUSTOMER_ID``: a customer's live profile from the state store."""

from __future__ import annotations

import argparse
import sys
from zoneinfo import ZoneInfo

import redis

from detectors.profile import ProfileNotFound, read_profile, render_profile
from detectors.state import StateUnavailable
from riskwatch.settings import SettingsError, load_settings


def cmd_profile(args: argparse.Namespace) -> int:
    settings = load_settings()
    url = args.redis_url or settings.redis.url
    if not url:
        msg = "profile reads the monitor's Redis: set REDIS_URL or pass --redis-url"
        raise SettingsError(msg)
    namespace = args.namespace or settings.redis.namespace
    client = redis.Redis.from_url(url)
    try:
        profile = read_profile(client, namespace, args.customer_id)
    except ProfileNotFound as exc:
        print(f"riskwatch: {exc}", file=sys.stderr)
        return 1
    except StateUnavailable as exc:
        print(f"riskwatch: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(render_profile(profile, ZoneInfo(settings.timezone)))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    profile = sub.add_parser(
        "profile", help="a customer's live income/expenditure profile and baselines"
    )
    profile.add_argument("customer_id", metavar="CUSTOMER_ID")
    profile.add_argument("--redis-url", help="the monitor's Redis (default: REDIS_URL)")
    profile.add_argument("--namespace", help="key namespace (default: redis.namespace)")
    profile.set_defaults(handler=cmd_profile)
