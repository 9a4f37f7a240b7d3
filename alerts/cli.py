"""``riskwatch cases ...``, ``serve``, ``audit verify`` and ``alerts export``.

The case commands do what the API does, for scripts: each acts as a named
user (``--as``), who must exist and hold the role the API would ask for, so
the audit trail names a person and the four-eyes rule holds from the shell too.
Output is a readable table, or JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alerts.desk import CaseDesk
from alerts.errors import CaseStoreError
from alerts.queue import SORTS, QueueQuery
from alerts.schema import CASE_STATUSES, ROLES, SEVERITIES
from riskwatch.contracts import CHANNELS
from riskwatch.settings import Settings

CASE_WORKERS = ("analyst", "compliance")
COMPLIANCE = ("compliance",)
#: Demo users made in the demo's own database, with tokens generated per run.
DEMO_USERS = {
    "analyst": "analyst",
    "compliance": "compliance",
    "compliance2": "compliance",
    "admin": "admin",
}


def _settings(args: argparse.Namespace) -> Settings:
    from riskwatch.cli import _settings_for

    return _settings_for(args)


def _desk(args: argparse.Namespace) -> CaseDesk:
    return CaseDesk.from_settings(_settings(args))


def _print_json(value: Any) -> None:
    from alerts.engine import dumps_json

    sys.stdout.write(dumps_json(value))
    sys.stdout.write("\n")


def _acting_user(desk: CaseDesk, username: str, roles: tuple[str, ...]) -> str:
    known = {u.username: u.role for u in desk.users.list()}
    if username not in known:
        msg = (
            f"no user {username!r}; make one with `riskwatch cases user add {username} --role ...`"
        )
        raise CaseStoreError(msg)
    if known[username] not in roles:
        msg = f"{username} has role {known[username]}; this needs {' or '.join(roles)}"
        raise CaseStoreError(msg)
    return username


# -- commands ------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    query = QueueQuery(
        status=args.status,
        open_only=args.status is None and not args.all,
        severity=args.severity,
        min_score=args.min_score,
        max_score=args.max_score,
        channel=args.channel,
        typology=args.typology,
        assignee=args.assignee,
        min_age_hours=args.min_age_hours,
        breached=True if args.breached else None,
        sort=args.sort,
        limit=args.limit,
    )
    with _desk(args) as desk:
        rows = desk.casefile.queue(query)
    if args.json:
        _print_json(rows)
        return 0
    print(
        f"{'case':>6}  {'score':>5}  {'severity':<8}  {'status':<13}  {'owner':<12}  "
        f"{'alerts':>6}  {'SLA due (UTC)':<16}  customer"
    )
    for c in rows:
        due = c["sla_due_at"].strftime("%Y-%m-%d %H:%M") if c["sla_due_at"] else "-"
        flag = " BREACHED" if c["sla_breached"] else ""
        print(
            f"{c['case_id']:>6}  {c['max_score']:>5.1f}  {c['severity']:<8}  {c['status']:<13}  "
            f"{(c['owner'] or '-'):<12}  {c['alert_count']:>6}  {due:<16}  {c['customer_id']}{flag}"
        )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with _desk(args) as desk:
        case = desk.casefile.case(args.case_id)
        case["audit"] = desk.casefile.audit_trail(args.case_id)
        case["labels"] = desk.casefile.labels(args.case_id)
    _print_json(case)
    return 0


def _action(
    roles: tuple[str, ...], run: Callable[[CaseDesk, argparse.Namespace, str], dict[str, Any]]
) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        with _desk(args) as desk:
            actor = _acting_user(desk, args.actor, roles)
            case = run(desk, args, actor)
            flushed = desk.outbox.flush()
        print(
            f"case {case['case_id']}: {case['status']}"
            + (f" ({case['resolution']})" if case.get("resolution") else "")
            + (f", owner {case['owner']}" if case.get("owner") else "")
        )
        if flushed.sent:
            print(f"{flushed.sent} label(s) sent to {desk.outbox.target.describe()}")
        if flushed.error:
            print(
                f"labels wait in the outbox ({flushed.pending}): {flushed.error}", file=sys.stderr
            )
        return 0

    return command


def cmd_user_add(args: argparse.Namespace) -> int:
    with _desk(args) as desk:
        token = desk.users.create(args.username, args.role, actor=args.actor)
    print(token)
    print(f"made {args.role} {args.username}; the token above is shown only once", file=sys.stderr)
    return 0


def cmd_flush_labels(args: argparse.Namespace) -> int:
    with _desk(args) as desk:
        result = desk.outbox.flush()
        where = desk.outbox.target.describe()
    print(f"sent {result.sent} label(s) to {where}; {result.pending} waiting")
    if result.error:
        print(f"error: {result.error}", file=sys.stderr)
        return 1
    return 0


def cmd_str_export(args: argparse.Namespace) -> int:
    from alerts.str_report import build_str, write_str_csv, write_str_json

    with _desk(args) as desk:
        actor = _acting_user(desk, args.actor, COMPLIANCE)
        report = build_str(desk.casefile.case(args.case_id))
    writer = write_str_csv if args.format == "csv" else write_str_json
    if args.out:
        with args.out.open("w", newline="", encoding="utf-8") as out:
            writer(report, out)
        print(f"STR of case {args.case_id} written to {args.out} for {actor}", file=sys.stderr)
    else:
        writer(report, sys.stdout)
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from alerts import audit

    with _desk(args) as desk, desk.store.reading("verifying the audit chain") as conn:
        report = audit.verify(conn)
    if report.intact:
        print(f"audit chain intact: {report.entries} entries")
        return 0
    print(f"audit chain BROKEN ({report.entries} entries read):", file=sys.stderr)
    for problem in report.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1


def cmd_alerts_export(args: argparse.Namespace) -> int:
    from alerts.export import WRITERS
    from alerts.store import CaseStore

    settings = _settings(args)
    with CaseStore(settings.database_url) as store:
        rows = store.list_alerts(customer_id=args.customer, limit=args.limit)
    write = WRITERS[args.format]
    if args.out:
        with args.out.open("w", newline="", encoding="utf-8") as out:
            count = write(rows, out)
        print(f"exported {count} alerts to {args.out}", file=sys.stderr)
    else:
        write(rows, sys.stdout)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    host = args.host or settings.api.host
    port = settings.api.port if args.port is None else args.port
    with CaseDesk.from_settings(settings) as desk:
        serve(desk, settings, host, port)
    return 0


def serve(desk: CaseDesk, settings: Settings, host: str, port: int) -> None:
    """Run the API and UI with uvicorn until Ctrl-C."""
    import uvicorn

    from alerts.api.app import create_app

    app = create_app(desk, label_retry_seconds=settings.cases.label_retry_seconds)
    print(f"riskwatch: API and UI at http://{host}:{port}/ui/ (API docs /docs); Ctrl-C stops")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def serve_demo(settings: Settings, port: int | None) -> None:
    """After the demo's run: demo users in the demo's own database, then the UI."""
    with CaseDesk.from_settings(settings) as desk:
        tokens = {
            name: desk.users.create(name, role, actor="demo", token=secrets.token_urlsafe(16))
            for name, role in DEMO_USERS.items()
        }
        host = "127.0.0.1"
        port = settings.api.port if port is None else port
        lines = [
            "",
            f"case queue UI:  http://{host}:{port}/ui/   (API: /api/v1, docs: /docs)",
            "demo logins (tokens made for this run, in the demo's own database only):",
        ]
        lines += [f"  {name:<12} {DEMO_USERS[name]:<11} {token}" for name, token in tokens.items()]
        lines.append(f"analyst dispositions become labels in {desk.outbox.target.describe()}")
        print("\n".join(lines), flush=True)
        # uvicorn stops on Ctrl-C (SIGINT) or SIGTERM and returns here.
        serve(desk, settings, host, port)


def cmd_grafana_push(args: argparse.Namespace) -> int:
    from alerts.grafana import GrafanaPushError, connect_configured, push_dashboards

    settings = _settings(args)
    url = args.url or settings.grafana.url
    if not url:
        print("no Grafana: pass --url or set GRAFANA_URL / grafana.url", file=sys.stderr)
        return 2
    try:
        uids = push_dashboards(connect_configured(settings.grafana, url))
    except GrafanaPushError as exc:
        print(f"grafana push failed: {exc}", file=sys.stderr)
        return 1
    for uid in uids:
        print(f"{url.rstrip('/')}/d/{uid}")
    return 0


# -- the parsers ---------------------------------------------------------------


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="where local output goes (default var/)")


def _actor(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as", dest="actor", required=True, metavar="USER", help="the user doing this"
    )


def _case_action(
    sub: argparse._SubParsersAction,
    name: str,
    help_text: str,
    roles: tuple[str, ...],
    run: Callable[[CaseDesk, argparse.Namespace, str], dict[str, Any]],
) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_text)
    parser.add_argument("case_id", type=int)
    _actor(parser)
    _common(parser)
    parser.set_defaults(handler=_action(roles, run))
    return parser


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``cases``, ``serve``, ``audit`` and ``alerts`` on the riskwatch CLI."""
    cases = sub.add_parser("cases", help="the case queue: list, show and work cases")
    verbs = cases.add_subparsers(dest="cases_command", required=True, metavar="ACTION")

    ls = verbs.add_parser("list", help="the queue, riskiest first (open cases by default)")
    ls.add_argument("--status", choices=CASE_STATUSES)
    ls.add_argument("--all", action="store_true", help="closed cases too")
    ls.add_argument("--severity", choices=SEVERITIES)
    ls.add_argument("--min-score", type=float)
    ls.add_argument("--max-score", type=float)
    ls.add_argument("--channel", choices=CHANNELS)
    ls.add_argument("--typology")
    ls.add_argument("--assignee")
    ls.add_argument("--min-age-hours", type=float)
    ls.add_argument("--breached", action="store_true", help="only cases past their SLA")
    ls.add_argument("--sort", choices=SORTS, default="-score")
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--json", action="store_true")
    _common(ls)
    ls.set_defaults(handler=cmd_list)

    show = verbs.add_parser("show", help="one case with alerts, comments, labels, audit (JSON)")
    show.add_argument("case_id", type=int)
    _common(show)
    show.set_defaults(handler=cmd_show)

    assign = _case_action(
        verbs,
        "assign",
        "assign a case",
        CASE_WORKERS,
        lambda d, a, actor: d.actions.assign(a.case_id, a.assignee, actor=actor),
    )
    assign.add_argument("assignee")
    _case_action(
        verbs,
        "investigate",
        "start investigating an assigned case",
        CASE_WORKERS,
        lambda d, a, actor: d.actions.move(a.case_id, "investigating", actor=actor),
    )
    _case_action(
        verbs,
        "escalate",
        "escalate a case to compliance",
        CASE_WORKERS,
        lambda d, a, actor: d.actions.move(a.case_id, "escalated", actor=actor),
    )
    close = _case_action(
        verbs,
        "close",
        "dispose of a case: its transactions become labels",
        CASE_WORKERS,
        lambda d, a, actor: d.actions.close(a.case_id, a.resolution, actor=actor),
    )
    close.add_argument("--resolution", required=True, choices=("confirmed_fraud", "false_positive"))
    comment = _case_action(
        verbs,
        "comment",
        "comment on a case",
        CASE_WORKERS,
        lambda d, a, actor: d.actions.comment(a.case_id, a.text, actor=actor),
    )
    comment.add_argument("text")

    str_cmd = verbs.add_parser("str", help="the suspicious-transaction report (four-eyes)")
    str_verbs = str_cmd.add_subparsers(dest="str_command", required=True, metavar="STEP")
    prepare = _case_action(
        str_verbs,
        "prepare",
        "write the STR narrative on an escalated case",
        COMPLIANCE,
        lambda d, a, actor: d.actions.prepare_str(a.case_id, a.narrative, actor=actor),
    )
    prepare.add_argument("--narrative", required=True)
    _case_action(
        str_verbs,
        "approve",
        "approve an STR someone else prepared",
        COMPLIANCE,
        lambda d, a, actor: d.actions.approve_str(a.case_id, actor=actor),
    )
    _case_action(
        str_verbs,
        "file",
        "file an approved STR (closes the case)",
        COMPLIANCE,
        lambda d, a, actor: d.actions.file_str(a.case_id, actor=actor),
    )
    export = str_verbs.add_parser("export", help="the STR as JSON or CSV")
    export.add_argument("case_id", type=int)
    export.add_argument("--format", choices=("json", "csv"), default="json")
    export.add_argument("--out", type=Path)
    _actor(export)
    _common(export)
    export.set_defaults(handler=cmd_str_export)

    user = verbs.add_parser("user", help="API and UI users")
    user_verbs = user.add_subparsers(dest="user_command", required=True, metavar="STEP")
    add = user_verbs.add_parser("add", help="make or replace a user; prints its token once")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--by", dest="actor", default="cli", help="who is making the user")
    _common(add)
    add.set_defaults(handler=cmd_user_add)

    flush = verbs.add_parser("flush-labels", help="send labels waiting in the outbox")
    _common(flush)
    flush.set_defaults(handler=cmd_flush_labels)

    serve_cmd = sub.add_parser("serve", help="the case queue's HTTP API and web UI")
    serve_cmd.add_argument("--host", help="address to listen on (default api.host)")
    serve_cmd.add_argument("--port", type=int, help="port (default api.port)")
    _common(serve_cmd)
    serve_cmd.set_defaults(handler=cmd_serve)

    audit_cmd = sub.add_parser("audit", help="the case audit trail")
    audit_verbs = audit_cmd.add_subparsers(dest="audit_command", required=True, metavar="STEP")
    verify = audit_verbs.add_parser("verify", help="check the hash chain; exit 1 if broken")
    _common(verify)
    verify.set_defaults(handler=cmd_audit_verify)

    alerts_cmd = sub.add_parser("alerts", help="stored alerts")
    alerts_verbs = alerts_cmd.add_subparsers(dest="alerts_command", required=True, metavar="STEP")
    exp = alerts_verbs.add_parser("export", help="alerts with explanations as JSONL or CSV")
    exp.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    exp.add_argument("--out", type=Path)
    exp.add_argument("--customer")
    exp.add_argument("--limit", type=int, default=None)
    _common(exp)
    exp.set_defaults(handler=cmd_alerts_export)

    grafana_cmd = sub.add_parser("grafana", help="the ops dashboards in Grafana")
    grafana_verbs = grafana_cmd.add_subparsers(
        dest="grafana_command", required=True, metavar="STEP"
    )
    push = grafana_verbs.add_parser(
        "push", help="upload the dashboards into Grafana's riskwatch folder (over its HTTP API)"
    )
    push.add_argument("--url", help="Grafana's URL (default grafana.url / GRAFANA_URL)")
    _common(push)
    push.set_defaults(handler=cmd_grafana_push)
