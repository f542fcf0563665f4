"""The `finops` command: serve, worker, connect, orgs, sync, export, delete, users."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import NoReturn, TextIO

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import col

from app.anthropic.errors import AnthropicError
from app.anthropic.keys import KeyFormatError
from app.datasets import EXPORT_DATASETS
from app.db import DatabaseError, describe_database_error
from app.keystore import MasterKeyError
from app.models import OrgStatus, Provider, Role, SyncOutcome
from app.redact import configure_logging, redact
from app.services.access import OPERATOR, PermissionDenied
from app.settings import Settings, SettingsError, get_settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# `finops connect --provider`: the words people type, and the stored id of Console ("anthropic").
CONNECT_PROVIDERS = {
    "console": Provider.CONSOLE,
    Provider.CONSOLE.value: Provider.CONSOLE,
    "enterprise": Provider.ENTERPRISE,
}


class CliError(Exception):
    """A failure to report on stderr with exit code 1 (no traceback)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but its error messages are redacted (a key pasted as an argument by mistake
    must not be echoed back) and an option given an empty value is refused by name."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {redact(message)}\n")


def _check_values(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    # argparse turns `--opt=--` into [] without checking it; and `--org ""` (an unset shell
    # variable) must not silently mean "every organization".
    for name, value in vars(args).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, list):
            parser.error(f"argument {flag}: expected one argument")
        if name in ("org", "output", "name") and isinstance(value, str) and not value.strip():
            parser.error(f"argument {flag}: must not be empty")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _check_values(parser, args)
    try:
        settings = get_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging("WARNING" if args.command not in ("worker", "serve") else settings.log_level)
    try:
        return int(args.handler(args, settings))
    except (
        CliError,
        DatabaseError,
        MasterKeyError,
        KeyFormatError,
        AnthropicError,
        PermissionDenied,
    ) as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 1
    except DBAPIError as exc:
        # A write that met a lock another process held past the busy timeout, or a full disk:
        # say which and what to do, instead of a traceback with the SQL in it.
        print(f"error: {redact(describe_database_error(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`finops export … | head`): not an error of ours. Point stdout
        # at /dev/null so the interpreter's final flush does not complain either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="finops",
        description="Anthropic FinOps: spend and usage of Claude Console organizations.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "serve", help="run the worker and the dashboard together (Ctrl-C stops both)"
    )
    p.set_defaults(handler=cmd_serve)

    p = sub.add_parser("worker", help="run the background sync worker alone")
    p.set_defaults(handler=cmd_worker)

    p = sub.add_parser(
        "connect",
        help="connect an organization; the key is read from FINOPS_ADMIN_KEY "
        "(FINOPS_ANALYTICS_KEY for Claude Enterprise) or standard input, never from argv",
    )
    p.add_argument(
        "--provider",
        choices=list(CONNECT_PROVIDERS),
        default="console",
        help="console (default): a Claude Console organization with an Admin key "
        "(sk-ant-admin01-…); enterprise: a Claude Enterprise organization with an Analytics "
        "API key (sk-ant-api01-…, scope read:analytics)",
    )
    p.add_argument("--name", help="a label to show instead of the organization's own name")
    p.add_argument(
        "--demo",
        action="store_true",
        help="connect the simulated demo organization (with --provider enterprise, the "
        "simulated Claude Enterprise one)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=cmd_connect)

    p = sub.add_parser("orgs", help="list connected organizations and their sync status")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.set_defaults(handler=cmd_orgs)

    p = sub.add_parser("sync", help="run what is due now (backfill or incremental) and exit")
    p.add_argument("--org", metavar="ID", help="only this organization id")
    p.add_argument(
        "--wait",
        type=float,
        default=600,
        metavar="SECONDS",
        help="how long to wait for a worker that is syncing it (default 600)",
    )
    p.set_defaults(handler=cmd_sync)

    from app import commands

    p = sub.add_parser("export", help="CSV of stored rows at the finest grain")
    p.add_argument(
        "--dataset",
        choices=[*EXPORT_DATASETS, *commands.exporters()],
        required=True,
        help="cost and usage (every organization); claude_code and key_cost (per-key billed "
        "cost; Console organizations), key_cost_estimate (its estimate where the key may not "
        "read it); user_cost, user_usage and engagement (Claude Enterprise "
        "organizations); allocation (with --allocation NAME); focus (FOCUS, --focus-version)",
    )
    p.add_argument("--org", metavar="ID", help="only this organization id")
    p.add_argument("--start", type=_date_arg, metavar="DATE", help="first day, YYYY-MM-DD")
    p.add_argument("--end", type=_date_arg, metavar="DATE", help="day after the last, exclusive")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    for module in commands.modules():
        if hasattr(module, "export_arguments"):
            module.export_arguments(p)
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser(
        "rotate-master-key",
        help="re-encrypt every stored key under a new master key (safe to kill and rerun)",
    )
    p.set_defaults(handler=cmd_rotate_master_key)

    p = sub.add_parser("users", help="manage dashboard accounts (admin and viewer roles)")
    users = p.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    u = users.add_parser(
        "add",
        help="add an account; the password is read from "
        "FINOPS_USER_PASSWORD or standard input, never from the command line",
    )
    u.add_argument("email")
    u.add_argument("--role", choices=Role.ALL, default=Role.VIEWER)
    u.add_argument("--name")
    u.set_defaults(handler=cmd_users_add)
    u = users.add_parser("list", help="list accounts")
    u.add_argument("--json", action="store_true")
    u.set_defaults(handler=cmd_users_list)
    u = users.add_parser("remove", help="remove an account")
    u.add_argument("email")
    u.set_defaults(handler=cmd_users_remove)
    u = users.add_parser("set-role", help="change an account's role")
    u.add_argument("email")
    u.add_argument("role", choices=Role.ALL)
    u.set_defaults(handler=cmd_users_set_role)
    u = users.add_parser(
        "set-password",
        help="set a new password for an account and sign it out everywhere; the password is "
        "read from FINOPS_USER_PASSWORD, a hidden prompt or standard input, never from the "
        "command line",
    )
    u.add_argument("email")
    # Only to refuse one typed here by habit, with a reason and without echoing it back.
    u.add_argument("password_given", nargs="?", metavar="PASSWORD", help=argparse.SUPPRESS)
    u.set_defaults(handler=cmd_users_set_password)

    p = sub.add_parser("delete", help="delete an organization: its key, its jobs and its data")
    p.add_argument("organization_id", metavar="ORG_ID")
    p.add_argument("--yes", action="store_true", help="confirm the deletion")
    p.set_defaults(handler=cmd_delete)

    # The FinOps layer's command groups (allocations, budgets, …), one module each.
    for module in commands.modules():
        module.register(sub)
    return parser


def _date_arg(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-05-31") from None


def _engine(settings: Settings) -> Engine:
    from app.runtime import get_engine

    return get_engine(settings)


# --- commands ---------------------------------------------------------------------------------


def cmd_worker(_args: argparse.Namespace, _settings: Settings) -> int:
    from ingest.worker import main as worker_main

    return worker_main()


# Secrets only this process needs: the admin is bootstrapped above, before the children start.
_NOT_FOR_CHILDREN = ("FINOPS_BOOTSTRAP_ADMIN_PASSWORD", "FINOPS_USER_PASSWORD")


def _child_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of the worker and Streamlit: ours, without the passwords (a child's
    environment is readable in /proc by the same user and lands in crash reports)."""
    env = {k: v for k, v in environ.items() if k not in _NOT_FOR_CHILDREN}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def cmd_serve(_args: argparse.Namespace, settings: Settings) -> int:
    """Worker and Streamlit as two child processes; if either stops, both stop."""
    from app.runtime import keystore

    engine = _engine(settings)  # create/upgrade the schema once, before two processes race
    keystore(settings)  # create the master key file once, likewise
    from app.services.users import bootstrap_admin

    try:
        bootstrap_admin(engine, settings.bootstrap_admin_email, settings.bootstrap_admin_password)
    except ValueError as exc:  # (a weak password: the message says why, never what it is)
        raise CliError(str(exc)) from None
    env = _child_env(os.environ)
    worker = subprocess.Popen([sys.executable, "-m", "ingest"], env=env)
    web = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.web",  # `streamlit run`, with the slow starts begun before the first visit
            "run",
            str(PROJECT_ROOT / "app" / "main.py"),
            "--server.address",
            "localhost",
            "--server.port",
            str(settings.streamlit_port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=PROJECT_ROOT,
        env=env,
    )
    print(f"Anthropic FinOps: http://localhost:{settings.streamlit_port} (Ctrl-C stops)")
    children = [worker, web]
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        failed = [c for c in children if c.returncode not in (0, None)]
        return 1 if failed else 0
    except KeyboardInterrupt:
        return 0
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()


def _read_key(enterprise: bool = False) -> str:
    names = ("FINOPS_ANALYTICS_KEY", "FINOPS_ADMIN_KEY") if enterprise else ("FINOPS_ADMIN_KEY",)
    for name in names:
        key = os.environ.get(name)
        if key:
            return key
    if sys.stdin.isatty():
        kind = "Analytics API key" if enterprise else "Admin API key"
        return getpass.getpass(f"{kind} (input hidden): ")
    return sys.stdin.read()


def cmd_connect(args: argparse.Namespace, settings: Settings) -> int:
    from app.runtime import key_probe, keystore
    from app.services.connections import connect, connect_demo

    engine = _engine(settings)
    store = keystore(settings)
    provider = CONNECT_PROVIDERS[args.provider]
    if args.demo:
        result = connect_demo(
            probe=key_probe(settings),
            engine=engine,
            settings=settings,
            keystore=store,
            actor=OPERATOR,
            provider=provider,
        )
    else:
        raw = _read_key(enterprise=provider == Provider.ENTERPRISE)
        result = connect(
            raw,
            probe=key_probe(settings),
            engine=engine,
            settings=settings,
            keystore=store,
            actor=OPERATOR,
            label=args.name,
            provider=provider,
        )
        del raw
    if args.json:
        print(
            json.dumps(
                {
                    "organization_id": result.organization_id,
                    "name": result.name,
                    "key_hint": result.key_hint,
                    "status": result.status,
                    "replaced": result.replaced,
                    "provider": result.provider,
                    "key_note": result.key_note,
                }
            )
        )
        return 0
    print(f"organization_id: {result.organization_id}")
    print(f"name: {result.name}")
    print(f"provider: {result.provider}")
    print(f"key: {result.key_hint} (stored encrypted)")
    if result.key_note:
        print(f"note: {result.key_note}")
    if result.replaced:
        print("This organization was already connected: its key was replaced.")
    print(
        f"The backfill of the last {settings.backfill_months} months is scheduled: a running "
        "worker (finops serve / finops worker) starts it within seconds, or run `finops sync`."
    )
    return 0


def cmd_orgs(args: argparse.Namespace, settings: Settings) -> int:
    from app.services.organizations import list_organizations

    orgs = list_organizations(_engine(settings))
    if args.json:
        print(json.dumps([o.as_json() for o in orgs], indent=2))
        return 0
    if not orgs:
        print("No organizations connected. Run `finops connect` (or `finops connect --demo`).")
        return 0
    header = ("ORGANIZATION ID", "NAME", "PROVIDER", "KEY", "STATUS", "LAST SYNC (UTC)", "DATA")
    lines = [header]
    for o in orgs:
        status = o.status
        if o.status == OrgStatus.BACKFILLING:
            status += f" {o.backfill_progress:.0%}"
        data = f"{o.data_start} .. {o.data_end}" if o.data_start else "-"
        synced = o.last_synced_at.strftime("%Y-%m-%d %H:%M") if o.last_synced_at else "never"
        lines.append(
            (o.organization_id, o.name, o.provider_label, o.key_hint, status, synced, data)
        )
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)))
    for o in orgs:
        if o.status_message:
            print(f"\n{o.name}: {o.status_message}")
    return 0


def cmd_sync(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import select

    from app.db import read_session
    from app.models import Organization
    from app.runtime import client_factory, keystore
    from ingest.sync import Syncer

    engine = _engine(settings)
    with read_session(engine) as session:
        query = select(col(Organization.id), col(Organization.organization_id)).order_by(
            col(Organization.id)
        )
        if args.org:
            query = query.where(col(Organization.organization_id) == args.org)
        targets = list(session.execute(query))
    if args.org and not targets:
        raise CliError(f"No connected organization has the id {args.org}. See `finops orgs`.")
    if not targets:
        print("No organizations connected. Run `finops connect` first.")
        return 0
    sync = Syncer(
        engine=engine,
        settings=settings,
        keystore=keystore(settings),
        client_factory=client_factory(settings),
    )
    failed = 0
    for pk, _org_id in targets:
        deadline = time.monotonic() + args.wait
        result = sync.run(pk)
        while (
            result.outcome == SyncOutcome.SKIPPED
            and result.organization_id
            and time.monotonic() < deadline
        ):
            time.sleep(1.0)  # a worker holds it; wait for its run to end, then run ours
            result = sync.run(pk)
        line = f"{result.organization_id}  {result.name}: {result.outcome}"
        if result.outcome == SyncOutcome.OK:
            print(f"{line} ({result.pages} pages, {result.rows} rows)")
        else:
            failed += 1
            print(f"{line}: {result.message}", file=sys.stderr)
    from app.finops import after_sync

    # Allocation, alerts and anomalies follow the new rows (PRODUCT.md: after every sync), as
    # in the worker only after a sync that succeeded (a locked or broken database would only
    # fail again, with a traceback per step).
    synced = len(targets) - failed
    for step in after_sync(engine, settings) if synced else []:
        message = f"After the sync, {step} failed (see the log); it runs again next time."
        print(message, file=sys.stderr)
    return 1 if failed else 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from app import commands
    from app.reports.export import export_csv

    if args.start and args.end and args.end <= args.start:
        raise CliError("--end must be after --start (it is exclusive).")
    engine = _engine(settings)
    if args.org:
        from app.services.organizations import find_organization

        if find_organization(engine, args.org) is None:
            raise CliError(f"No connected organization has the id {args.org}. See `finops orgs`.")
    exporter = commands.exporters().get(args.dataset)

    def write(out: TextIO) -> int:
        if exporter is not None:
            return exporter(engine, args, out)
        return export_csv(
            engine=engine,
            dataset=args.dataset,
            out=out,
            organization_id=args.org,
            start=args.start,
            end=args.end,
        )

    if not args.output or args.output == "-":
        write(sys.stdout)
        return 0
    target = Path(args.output)
    # Write beside the target and rename: a full disk never leaves a half-written export.
    tmp = ""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".finops-export-", dir=target.parent or Path("."))
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            count = write(handle)
        os.replace(tmp, target)
    except OSError as exc:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        raise CliError(f"Could not write {target}: {exc.strerror}. Nothing was written.") from None
    except BaseException:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        raise
    print(f"Wrote {count} rows to {target}", file=sys.stderr)
    return 0


def cmd_delete(args: argparse.Namespace, settings: Settings) -> int:
    from app.services.organizations import delete_organization

    if not args.yes:
        raise CliError(
            f"This deletes organization {args.organization_id}: its stored key, its sync jobs and "
            "all of its cost and usage data. Run again with --yes to confirm."
        )
    if not delete_organization(
        engine=_engine(settings), organization_id=args.organization_id, actor=OPERATOR
    ):
        raise CliError(f"No connected organization has the id {args.organization_id}.")
    print(f"Deleted organization {args.organization_id}: key, jobs and data removed.")
    return 0


def cmd_rotate_master_key(_args: argparse.Namespace, settings: Settings) -> int:
    from app.services.rotation import rotate_master_key

    report = rotate_master_key(engine=_engine(settings), settings=settings)
    print(
        f"Re-encrypted {report.rotated} stored key(s) and {report.channels} channel secret(s) "
        "under the new master key."
    )
    if report.key_file is not None:
        print(f"Master key file: {report.key_file}")
    else:
        print("FINOPS_MASTER_KEY is in use: remove the old key(s) from it (keep only the first).")
    if report.failed:
        print(
            "These organizations' keys could not be decrypted and were marked key rejected; "
            "replace their keys: " + ", ".join(report.failed),
            file=sys.stderr,
        )
    if report.failed_channels:
        print(
            "These channels' secrets could not be decrypted (old master keys kept); remove and "
            "add them again: " + ", ".join(report.failed_channels),
            file=sys.stderr,
        )
    return 1 if report.failed or report.failed_channels else 0


def _read_password(prompt: str = "Password") -> str:
    password = os.environ.get("FINOPS_USER_PASSWORD")
    if password:
        return password
    if sys.stdin.isatty():
        first = getpass.getpass(f"{prompt}: ")
        if getpass.getpass(f"{prompt} again: ") != first:
            raise CliError("The two passwords differ.")
        return first
    return sys.stdin.read().rstrip("\n")


def cmd_users_add(args: argparse.Namespace, settings: Settings) -> int:
    from app.passwords import WeakPassword
    from app.services.users import add_user

    try:
        account = add_user(
            _engine(settings),
            actor=OPERATOR,
            email=args.email,
            password=_read_password(),
            role=args.role,
            name=args.name,
        )
    except (WeakPassword, ValueError) as exc:
        raise CliError(str(exc)) from None
    print(f"Added {account.email} ({account.role}).")
    return 0


def cmd_users_list(args: argparse.Namespace, settings: Settings) -> int:
    from app.services.users import list_users

    accounts = list_users(_engine(settings), actor=OPERATOR)
    if args.json:
        print(json.dumps([{"email": a.email, "name": a.name, "role": a.role} for a in accounts]))
        return 0
    if not accounts:
        print(
            "No accounts yet: the first administrator is created on the setup page, or by "
            "FINOPS_BOOTSTRAP_ADMIN_EMAIL / FINOPS_BOOTSTRAP_ADMIN_PASSWORD."
        )
    for a in accounts:
        print(f"{a.email}\t{a.role}\t{a.name or ''}")
    return 0


def cmd_users_remove(args: argparse.Namespace, settings: Settings) -> int:
    from app.services.users import remove_user

    try:
        removed = remove_user(_engine(settings), actor=OPERATOR, email=args.email)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if not removed:
        raise CliError(f"No account for {args.email}.")
    print(f"Removed {args.email}.")
    return 0


def cmd_users_set_role(args: argparse.Namespace, settings: Settings) -> int:
    from app.services.users import set_role

    try:
        set_role(_engine(settings), actor=OPERATOR, email=args.email, role=args.role)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    print(f"{args.email} is now {args.role}.")
    return 0


def cmd_users_set_password(args: argparse.Namespace, settings: Settings) -> int:
    from app.passwords import WeakPassword
    from app.services.users import password_settable, set_password

    if args.password_given is not None:
        print(
            "error: a password is never taken from the command line (it would stay in the "
            "shell history and the process list). Type it at the prompt, pipe it on standard "
            "input, or set FINOPS_USER_PASSWORD. Nothing was changed.",
            file=sys.stderr,
        )
        return 2
    engine = _engine(settings)
    try:
        email = password_settable(engine, actor=OPERATOR, email=args.email)
        ended = set_password(
            engine, actor=OPERATOR, email=email, password=_read_password("New password")
        )
    except (WeakPassword, ValueError) as exc:
        raise CliError(str(exc)) from None
    print(f"Set a new password for {email}; {ended} of its session(s) were signed out.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
