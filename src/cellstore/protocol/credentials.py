"""The ``--credentials`` file: access keys, the principals they belong to, and their policies.

TOML (``.toml``) or JSON (any other name)::

    [keys.AKIAALICE]                  # the access key id
    secret = "alice-secret"           # the secret access key
    principal = "alice"               # whose key it is
    session_tokens = ["token-1"]      # optional: the key then needs one of these

    [principals.alice]
    policies = ['''{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}]}''']
    # account = "111122223333"   # optional: the account (tenant) it acts in; default 000000000000
    # arn = "arn:aws:iam::111122223333:role/app"   # optional; default user/<name> in its account

A policy is a JSON document, written as a string (as above) or as a TOML
table/JSON object.  A principal with no policies may authenticate but is
allowed nothing.  ``CredentialsFile`` loads the file once at start-up (a bad
file stops the server from starting) and again on ``reload()`` (SIGHUP),
keeping the previous keys if the new file is bad.  Error messages name the
file and the problem, never a secret.
"""

from __future__ import annotations

import json
import logging
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cellstore.protocol import policy

log = logging.getLogger("cellstore.auth")


class CredentialsError(ValueError):
    """The credentials file is missing, unreadable or not in the documented shape."""


#: The account of a principal that names none (AWS's placeholder account id).
DEFAULT_ACCOUNT = "000000000000"
_ACCOUNT_ID = re.compile(r"[0-9]{12}")


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    policies: tuple[policy.Policy, ...] = ()
    arn: str | None = None  # None: arn:aws:iam::<account>:user/<name>
    #: The tenant it acts in: its tables, queues and ARNs are this account's.
    account: str = DEFAULT_ACCOUNT

    @property
    def principal_arn(self) -> str:
        return self.arn or f"arn:aws:iam::{self.account}:user/{self.name}"


@dataclass(frozen=True, slots=True)
class Key:
    access_key_id: str
    secret: str = field(repr=False)
    principal: Principal
    session_tokens: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True)
class Keyring:
    keys: Mapping[str, Key]

    def get(self, access_key_id: str) -> Key | None:
        return self.keys.get(access_key_id)


def _policy(document: Any, where: str) -> policy.Policy:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError as exc:
            raise CredentialsError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    try:
        return policy.parse(document)
    except policy.PolicyError as exc:
        raise CredentialsError(f"{where}: {exc}") from None


def parse(document: Mapping[str, Any], source: str = "credentials") -> Keyring:
    """A keyring from the decoded file."""
    if not isinstance(document, Mapping):
        raise CredentialsError(f"{source}: the top level must be a table/object")
    raw_principals = document.get("principals", {})
    raw_keys = document.get("keys")
    if not isinstance(raw_principals, Mapping) or not isinstance(raw_keys, Mapping) or not raw_keys:
        raise CredentialsError(f"{source}: needs a non-empty 'keys' table (and optionally 'principals')")
    principals: dict[str, Principal] = {}
    for name, spec in raw_principals.items():
        if not isinstance(spec, Mapping):
            raise CredentialsError(f"{source}: principals.{name} must be a table/object")
        documents = spec.get("policies", [])
        if not isinstance(documents, list):
            raise CredentialsError(f"{source}: principals.{name}.policies must be a list")
        arn = spec.get("arn")
        if arn is not None and not isinstance(arn, str):
            raise CredentialsError(f"{source}: principals.{name}.arn must be a string")
        account = spec.get("account", DEFAULT_ACCOUNT)
        if not isinstance(account, str) or _ACCOUNT_ID.fullmatch(account) is None:
            raise CredentialsError(f"{source}: principals.{name}.account must be a 12-digit account id")
        if arn is not None and arn.count(":") >= 5 and arn.split(":")[4] not in ("", account):
            raise CredentialsError(
                f"{source}: principals.{name}.arn names account {arn.split(':')[4]}, not its account {account}"
            )
        principals[name] = Principal(
            name,
            tuple(_policy(d, f"{source}: principals.{name}.policies[{i}]") for i, d in enumerate(documents)),
            arn,
            account,
        )
    keys: dict[str, Key] = {}
    for key_id, spec in raw_keys.items():
        if not isinstance(spec, Mapping):
            raise CredentialsError(f"{source}: keys.{key_id} must be a table/object")
        secret, owner = spec.get("secret"), spec.get("principal")
        if not isinstance(secret, str) or not secret:
            raise CredentialsError(f"{source}: keys.{key_id} needs a 'secret' string")
        if not isinstance(owner, str) or not owner:
            raise CredentialsError(f"{source}: keys.{key_id} needs a 'principal' name")
        tokens = spec.get("session_tokens", spec.get("session_token", []))
        if isinstance(tokens, str):
            tokens = [tokens]
        if not isinstance(tokens, list) or not all(isinstance(t, str) and t for t in tokens):
            raise CredentialsError(f"{source}: keys.{key_id}.session_tokens must be a list of strings")
        keys[key_id] = Key(key_id, secret, principals.get(owner) or Principal(owner), tuple(tokens))
    return Keyring(keys)


def load(path: Path) -> Keyring:
    """Read and parse ``path`` (TOML if it ends in ``.toml``, else JSON)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CredentialsError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        document = tomllib.loads(raw.decode("utf-8")) if path.suffix.lower() == ".toml" else json.loads(raw)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        # The parsers' messages quote positions, not content, so no secret leaks.
        raise CredentialsError(f"{path}: cannot parse ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None
    return parse(document, str(path))


class CredentialsFile:
    """A credentials file and its current keyring; ``reload`` swaps it atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.keyring = load(path)

    def reload(self) -> bool:
        """Re-read the file; on any problem keep the current keys and log why."""
        try:
            keyring = load(self.path)
        except CredentialsError as exc:
            log.error("credentials not reloaded, keeping the previous ones: %s", exc)
            return False
        self.keyring = keyring
        log.info("credentials reloaded from %s (%d keys)", self.path, len(keyring.keys))
        return True

    def get(self, access_key_id: str) -> Key | None:
        return self.keyring.get(access_key_id)
