"""``ivr user create|list|password`` and ``ivr token issue|list|revoke`` (the first admin comes
from here; later accounts from the admin page too). They write the database directly, which a
running controller reads on every request: no restart needed."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable
from typing import Any

from ivr.accounts import services as auth
from ivr.core.config import Config
from ivr.core.constants import ROLES
from ivr.core.texttable import table
from ivr.db.session import Db, with_db

Out = Callable[[str], None]


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("passwords differ")
    return first


def cmd_user(args: argparse.Namespace, config: Config, out: Out) -> int:
    async def work(db: Db) -> int:
        if args.user_command == "create":
            user = await auth.create_user(db, args.username, _password(args), args.role,
                                          display_name=args.display_name or "",
                                          operator=args.operator, official=args.official)
            out(f"created {user.role} account {user.username}")
        elif args.user_command == "password":
            await auth.set_password(db, args.username, _password(args))
            out(f"password changed for {args.username} (its sessions were closed)")
        else:
            out(table(["user", "name", "role", "operator", "official"],
                      [[u.username, u.display_name, u.role, u.operator_endpoint or "",
                        u.official.slug if u.official else ""] for u in await auth.list_users(db)]))
        return 0
    return asyncio.run(with_db(config, work))


def cmd_token(args: argparse.Namespace, config: Config, out: Out) -> int:
    async def work(db: Db) -> int:
        if args.token_command == "issue":
            token, row = await auth.issue_token(db, args.username, args.label, "cli")
            out(f"token {row.id} for {args.username} (shown once): {token}")
        elif args.token_command == "revoke":
            await auth.revoke_token(db, args.id)
            out(f"token {args.id} revoked")
        else:
            out(table(["id", "prefix", "user", "label", "by", "revoked"],
                      [[t.id, t.prefix, t.user.username, t.label, t.created_by, t.revoked]
                       for t in await auth.list_tokens(db)]))
        return 0
    return asyncio.run(with_db(config, work))


def add_commands(sub: Any) -> None:
    user = sub.add_parser("user", help="web accounts (admin, operator, official, supervisor)")
    us = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    create = us.add_parser("create", help="create an account (the first admin, say)")
    create.add_argument("username")
    create.add_argument("--role", choices=ROLES, required=True)
    create.add_argument("--display-name", default="")
    create.add_argument("--operator", metavar="ENDPOINT", help="operator accounts: their endpoint")
    create.add_argument("--official", metavar="SLUG", help="official accounts: their official")
    create.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    pw = us.add_parser("password", help="set a new password (closes the account's sessions)")
    pw.add_argument("username")
    pw.add_argument("--password-stdin", action="store_true")
    us.add_parser("list", help="list accounts")
    user.set_defaults(run=cmd_user)

    token = sub.add_parser("token", help="API tokens (carry their account's role)")
    ts = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    issue = ts.add_parser("issue", help="issue a token for an account (printed once)")
    issue.add_argument("username")
    issue.add_argument("--label", default="")
    revoke = ts.add_parser("revoke", help="revoke a token")
    revoke.add_argument("id", type=int)
    ts.add_parser("list", help="list tokens (never the tokens themselves)")
    token.set_defaults(run=cmd_token)
