"""Decentralized authentication's paperwork, generated at run time: what the `nsc` tool does.

An operator's nkey signs account JWTs, an account's nkey signs user JWTs, and a user's creds file holds
its JWT and its nkey seed. The server trusts the operator (its JWT in the config) and knows the accounts
(`resolver: MEMORY` with their JWTs preloaded); it needs to know nothing about users. Built with the
`nkeys` package (which nats-py[nkeys] installs) and the standard library: a NATS JWT is
base64url(header).base64url(claims).base64url(ed25519 signature by the issuer's nkey).

Nothing here is client API: the notebook shows what a client does with a creds file. Keep seeds and creds
files out of the repository (the notebook writes them into a temporary folder).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from pathlib import Path

import nkeys

PREFIXES = {
    "operator": nkeys.PREFIX_BYTE_OPERATOR,
    "account": nkeys.PREFIX_BYTE_ACCOUNT,
    "user": nkeys.PREFIX_BYTE_USER,
}
NO_LIMITS = {
    "subs": -1,
    "data": -1,
    "payload": -1,
    "imports": -1,
    "exports": -1,
    "wildcards": True,
    "conn": -1,
    "leaf": -1,
}


def new_key(kind: str) -> nkeys.KeyPair:
    """A new nkey pair: kind is "operator" (public key O...), "account" (A...) or "user" (U...)."""
    return nkeys.from_seed(nkeys.encode_seed(os.urandom(32), PREFIXES[kind]))


def public(key: nkeys.KeyPair) -> str:
    return key.public_key.decode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def encode(subject: nkeys.KeyPair, name: str, nats: dict, issuer: nkeys.KeyPair) -> str:
    """A JWT about `subject`, signed by `issuer`."""
    claims = {
        "jti": "",
        "iat": int(time.time()),
        "iss": public(issuer),
        "name": name,
        "sub": public(subject),
        "nats": {**nats, "version": 2},
    }
    digest = hashlib.new("sha512_256", json.dumps(claims, sort_keys=True).encode()).digest()
    claims["jti"] = base64.b32encode(digest).decode().rstrip("=")  # a unique id, as nsc makes it
    signed = f"{_b64(json.dumps({'typ': 'JWT', 'alg': 'ed25519-nkey'}).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signed}.{_b64(issuer.sign(signed.encode()))}"


def claims(jwt: str) -> dict:
    """The claims of a JWT, decoded but not verified (the server verifies the signature)."""
    body = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def operator_jwt(operator: nkeys.KeyPair, system_account: nkeys.KeyPair, name: str = "course-operator") -> str:
    return encode(operator, name, {"type": "operator", "system_account": public(system_account)}, operator)


def account_jwt(account: nkeys.KeyPair, operator: nkeys.KeyPair, name: str) -> str:
    return encode(account, name, {"type": "account", "limits": NO_LIMITS}, operator)


def user_jwt(user: nkeys.KeyPair, account: nkeys.KeyPair, name: str, *, publish=None, subscribe=None) -> str:
    """A user of `account`; `publish` and `subscribe` are allow lists (None: everything)."""
    nats = {
        "type": "user",
        "subs": -1,
        "data": -1,
        "payload": -1,
        "pub": {"allow": publish} if publish else {},
        "sub": {"allow": subscribe} if subscribe else {},
    }
    return encode(user, name, nats, account)


def write_creds(path, jwt: str, user: nkeys.KeyPair) -> Path:
    """A creds file, the format `nsc` writes and nats-py's user_credentials= reads; readable by you only."""
    path = Path(path)
    path.write_text(
        f"-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n"
        "NKEYs are sensitive and should be treated as secrets.\n\n"
        f"-----BEGIN USER NKEY SEED-----\n{user.seed.decode()}\n------END USER NKEY SEED------\n"
    )
    path.chmod(0o600)
    return path


def server_config(path, operator: str, accounts: list[str]) -> Path:
    """A server config that trusts the operator JWT and preloads the account JWTs (a memory resolver)."""
    preload = "\n".join(f'  {claims(jwt)["sub"]}: "{jwt}"' for jwt in accounts)
    path = Path(path)
    path.write_text(
        f'operator: "{operator}"\nsystem_account: {claims(operator)["nats"]["system_account"]}\n'
        f"resolver: MEMORY\nresolver_preload: {{\n{preload}\n}}\n"
    )
    return path
