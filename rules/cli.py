"""``riskwatch rules test|backtest|reload``: lint, backtest and hot-reload rule packs.

A PACK is a shipped pack's name (``card_fraud``) or a path to a YAML file.
Packs are checked against the same feature names, text fields and
``detection.rule_params`` overrides as the running monitor uses.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson
import redis

from riskwatch.settings import Settings, SettingsError
from rules.backtest import format_backtest, run_backtest
from rules.engine import RuleEngine
from rules.errors import RuleError
from rules.pack import RulePack
from rules.reload import signal_reload
from rules.runtime import engine_from_settings


def _settings(args: argparse.Namespace) -> Settings:
    from riskwatch.cli import _settings_for

    return _settings_for(args)


def lint_warnings(pack: RulePack) -> list[str]:
    """What loads but is probably a mistake: params no rule reads, rules that never rest."""
    used = {name for rule in pack.rules for name in rule.when.names}
    warnings = [f"param {name!r} is used by no rule" for name in pack.params if name not in used]
    warnings += [
        f"rule {rule.id!r} has no suppress window: it may alert on every event of a burst"
        for rule in pack.rules
        if rule.suppress_seconds is None and rule.mode == "active"
    ]
    return warnings


def cmd_test(args: argparse.Namespace) -> int:
    settings = _settings(args)
    failed = False
    for name in args.packs:
        try:
            engine = engine_from_settings(settings, [name])
        except RuleError as exc:
            print(f"FAIL {name}: {exc}")
            failed = True
            continue
        (pack,) = engine.packs
        modes = {m: sum(r.mode == m for r in pack.rules) for m in ("active", "shadow", "off")}
        print(
            f"ok   {pack.label} ({pack.source}): {len(pack.rules)} rules, "
            + ", ".join(f"{n} {m}" for m, n in modes.items())
        )
        for rule in pack.rules:
            window = f"suppress {rule.suppress_seconds}s" if rule.suppress_seconds else "-"
            print(
                f"     {rule.id:<30} v{rule.version:<3} {rule.mode:<7} {rule.severity:<8} "
                f"{rule.score:>5.0f}  {rule.entity:<12} {window}"
            )
        for warning in lint_warnings(pack):
            print(f"     warning: {warning}")
    return 1 if failed else 0


def cmd_backtest(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        engines: list[RuleEngine] = [engine_from_settings(settings, [args.pack])]
        if args.compare:
            engines.append(engine_from_settings(settings, [args.compare]))
        backtest = run_backtest(settings, engines, args.traffic, args.labels)
    except RuleError as exc:
        print(f"riskwatch rules backtest: {exc}", file=sys.stderr)
        return 1
    print(format_backtest(backtest))
    if args.json:
        args.json.write_bytes(orjson.dumps(backtest.to_json_dict(), option=orjson.OPT_INDENT_2))
        print(f"JSON report: {args.json}")
    return 0


def cmd_reload(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        engine = engine_from_settings(settings)
    except RuleError as exc:
        print(f"not reloaded, the running packs stay in force: {exc}", file=sys.stderr)
        return 1
    if not settings.redis.url:
        msg = (
            "no Redis configured (REDIS_URL): a monitor on an embedded Redis cannot be "
            "signalled; it still picks up edited pack files by itself"
        )
        raise SettingsError(msg)
    client = redis.Redis.from_url(settings.redis.url)
    try:
        generation = signal_reload(client, settings.redis.namespace)
    except redis.RedisError as exc:
        print(f"cannot signal the monitors through Redis: {exc}", file=sys.stderr)
        return 1
    print(
        f"validated {engine.version} ({len(engine.rules)} rules); running monitors on "
        f"namespace {settings.redis.namespace!r} reload within "
        f"{settings.detection.rule_reload_seconds:g} s (signal {generation})"
    )
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``riskwatch rules ...``."""
    rules = sub.add_parser("rules", help="lint, backtest and hot-reload rule packs")
    verbs = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")

    test = verbs.add_parser("test", help="lint packs: load them as the monitor would")
    test.add_argument("packs", nargs="+", metavar="PACK", help="a shipped pack's name or a file")
    test.set_defaults(handler=cmd_test)

    backtest = verbs.add_parser(
        "backtest", help="replay recorded traffic through the feature layer and a pack"
    )
    backtest.add_argument("pack", metavar="PACK", help="the pack to backtest (name or file)")
    backtest.add_argument(
        "--input",
        dest="traffic",
        type=Path,
        required=True,
        help="transactions JSONL (e.g. from `riskwatch simulate --out DIR`)",
    )
    backtest.add_argument("--labels", type=Path, help="labels JSONL: precision and recall")
    backtest.add_argument("--compare", metavar="OLD_PACK", help="another pack, side by side")
    backtest.add_argument("--json", type=Path, help="also write the report as JSON here")
    backtest.set_defaults(handler=cmd_backtest)

    reload = verbs.add_parser(
        "reload", help="validate the configured packs, then signal running monitors to reload"
    )
    reload.set_defaults(handler=cmd_reload)
