"""Another local user's attempt on a grading cluster, for tests/test_cluster_security.py.

    python cluster_attack.py MODE ADDRESS...

MODE is ``plain`` (no credentials: plain tcp:// to each address, then TLS
with no certificate and no check of the server's) or ``foreign`` (TLS with
credentials of another cluster, from ``Security.temporary()``).  The
scheduler (the first address) is tried with a ``Client`` where it can be,
and each server with a raw ``run`` (``run_function`` on the scheduler).
Prints one JSON line: for each address, the uid the attacker's code ran as
there, or the error that stopped it.
"""
from __future__ import annotations

import asyncio
import json
import os
import ssl
import sys

TIMEOUT = 5


def _scheduler(address: str, security) -> int:
    from distributed import Client

    with Client(address, security=security, timeout=TIMEOUT) as client:
        return next(iter(client.run(os.getuid).values()))


def _anonymous() -> dict:
    """TLS as a client with no certificate that trusts any server."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return {"ssl_context": context}


async def _server(address: str, args: dict, scheduler: bool) -> int:
    from distributed.core import rpc
    from distributed.protocol.pickle import dumps

    async with rpc(address, connection_args=args, timeout=TIMEOUT) as server:
        call = server.run_function if scheduler else server.run
        reply = await call(function=dumps(os.getuid))
    return reply["result"] if isinstance(reply, dict) else reply


def attempt(how: str, address: str, security, scheduler: bool) -> dict:
    try:
        if how == "anonymous":
            uid = asyncio.run(_server(address, _anonymous(), scheduler))
        elif scheduler:
            uid = _scheduler(address, security)
        else:
            args = security.get_connection_args("client") if security else {}
            uid = asyncio.run(_server(address, args, scheduler))
    except BaseException as exc:  # noqa: BLE001 - refused is the expected outcome
        return {"ran_as": None, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ran_as": uid, "error": None}


def main(mode: str, addresses: list[str]) -> dict:
    from distributed.security import Security

    out = {}
    for k, address in enumerate(addresses):
        scheme, host = address.split("://", 1)
        if mode == "foreign":
            out[f"foreign {address}"] = attempt("foreign", address, Security.temporary(), k == 0)
            continue
        out[f"plain tcp://{host}"] = attempt("plain", f"tcp://{host}", None, k == 0)
        if scheme == "tls":
            out[f"anonymous {address}"] = attempt("anonymous", address, None, k == 0)
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2:])))
