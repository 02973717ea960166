"""A small SNMP client over pysnmp 7 asyncio: GET and GETBULK table walks, v2c and v3 authPriv.

Retries are ours, not pysnmp's, so that the wait between attempts backs off and the
total time one switch can take is bounded and known: ``(retries + 1) * timeout_s`` plus
the backoff sleeps (see :meth:`SnmpTarget.worst_case_s`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

log = logging.getLogger(__name__)

Oid = tuple[int, ...]
Value = int | str | bytes | None
# Column OID -> row index (the sub-identifiers after the column) -> value.
Table = dict[Oid, dict[Oid, Value]]

# Varbinds per GETBULK response we ask for: ~40 bytes each keeps a response near 10 KiB.
# An agent that caps its responses lower answers fewer (RFC 3416 truncation), which the
# walk handles, so this only sets how many round trips a large table costs.
VARBIND_BUDGET = 250

AUTH_PROTOCOLS = ("md5", "sha", "sha224", "sha256", "sha384", "sha512")
PRIV_PROTOCOLS = ("des", "3des", "aes", "aes192", "aes256")


class SnmpError(Exception):
    """The agent did not answer in time, or answered with an error."""


def parse_oid(text: str) -> Oid:
    """``"1.3.6.1.2.1.1.3.0"`` (a leading dot allowed) → a tuple of ints; ``ValueError`` if not an OID."""
    parts = text.strip().lstrip(".").split(".")
    try:
        oid = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"not a numeric OID: {text!r}") from None
    if len(oid) < 2 or any(p < 0 for p in oid):
        raise ValueError(f"not a numeric OID: {text!r}")
    return oid


def oid_str(oid: Oid) -> str:
    return ".".join(str(p) for p in oid)


@dataclass(frozen=True)
class SnmpTarget:
    """Where and how to reach one agent.

    ``version`` ``"2c"`` uses ``community``; ``"3"`` uses ``user`` with ``auth_key`` and
    ``priv_key`` (authPriv; authNoPriv when ``priv_key`` is empty).
    """

    host: str
    port: int = 161
    version: Literal["2c", "3"] = "2c"
    community: str = "public"
    user: str = ""
    auth_key: str = ""
    priv_key: str = ""
    auth_protocol: str = "sha"
    priv_protocol: str = "aes"
    timeout_s: float = 2.0
    retries: int = 2
    backoff_s: float = 0.2
    max_repetitions: int = 40

    def backoff(self, attempt: int) -> float:
        """Sleep before retry ``attempt`` (1-based): doubling from ``backoff_s``, capped at 5 s."""
        return float(min(self.backoff_s * 2 ** (attempt - 1), 5.0))

    def worst_case_s(self, requests: int = 1) -> float:
        """The longest ``requests`` sequential requests can take against a silent agent."""
        per = (self.retries + 1) * self.timeout_s + sum(
            self.backoff(a) for a in range(1, self.retries + 1)
        )
        return requests * per


def _auth_data(target: SnmpTarget) -> Any:
    from pysnmp.hlapi.v3arch import asyncio as hl

    if target.version == "2c":
        return hl.CommunityData(target.community, mpModel=1)
    auth = {
        "md5": hl.usmHMACMD5AuthProtocol,
        "sha": hl.usmHMACSHAAuthProtocol,
        "sha224": hl.usmHMAC128SHA224AuthProtocol,
        "sha256": hl.usmHMAC192SHA256AuthProtocol,
        "sha384": hl.usmHMAC256SHA384AuthProtocol,
        "sha512": hl.usmHMAC384SHA512AuthProtocol,
    }[target.auth_protocol]
    priv = {
        "des": hl.usmDESPrivProtocol,
        "3des": hl.usm3DESEDEPrivProtocol,
        "aes": hl.usmAesCfb128Protocol,
        "aes192": hl.usmAesCfb192Protocol,
        "aes256": hl.usmAesCfb256Protocol,
    }[target.priv_protocol]
    if not target.priv_key:
        return hl.UsmUserData(target.user, authKey=target.auth_key, authProtocol=auth)
    return hl.UsmUserData(
        target.user,
        authKey=target.auth_key,
        privKey=target.priv_key,
        authProtocol=auth,
        privProtocol=priv,
    )


def _value(raw: Any) -> Value:
    """A pysnmp value as int, str (printable OCTET STRING), bytes, or None for noSuch*/endOfMibView."""
    from pyasn1.type import univ
    from pysnmp.proto import rfc1905

    if isinstance(raw, rfc1905.NoSuchObject | rfc1905.NoSuchInstance | rfc1905.EndOfMibView):
        return None
    if isinstance(raw, univ.OctetString):
        data = bytes(raw)
        try:
            text = data.decode()
        except UnicodeDecodeError:
            return data
        return text if text.isprintable() else data
    if isinstance(raw, univ.ObjectIdentifier):
        return oid_str(tuple(raw))
    try:
        return int(raw)
    except (TypeError, ValueError):
        return str(raw)


class SnmpClient:
    """GET and GETBULK walks against one :class:`SnmpTarget`, sharing one pysnmp engine.

    One ``SnmpEngine`` serves every switch of a poller: it multiplexes concurrent
    requests over one socket, so polling dozens of switches costs no thread each.
    """

    def __init__(self, target: SnmpTarget, engine: Any | None = None) -> None:
        from pysnmp.hlapi.v3arch import asyncio as hl

        self.target = target
        self.engine = engine if engine is not None else hl.SnmpEngine()
        self._auth = _auth_data(target)
        self._transport: Any = None
        self.requests = 0

    async def _transport_target(self) -> Any:
        from pysnmp.hlapi.v3arch import asyncio as hl

        if self._transport is None:
            self._transport = await hl.UdpTransportTarget.create(
                (self.target.host, self.target.port), timeout=self.target.timeout_s, retries=0
            )
        return self._transport

    async def _request(self, kind: str, *args: Any) -> Sequence[Any]:
        from pysnmp.hlapi.v3arch import asyncio as hl

        call = hl.get_cmd if kind == "get" else hl.bulk_cmd
        transport = await self._transport_target()
        last = "no answer"
        for attempt in range(self.target.retries + 1):
            if attempt:
                await asyncio.sleep(self.target.backoff(attempt))
            self.requests += 1
            request = call(
                self.engine, self._auth, transport, hl.ContextData(), *args, lookupMib=False
            )
            try:
                # pysnmp times the request out itself; this bound only guards against a
                # dispatcher that never calls back, so one switch can never hang a poll.
                answer = await asyncio.wait_for(request, self.target.timeout_s * 2 + 1)
            except TimeoutError:
                last = "no answer (request never completed)"
                continue
            err_ind, err_status, err_index, var_binds = answer
            if err_ind:
                last = str(err_ind)
                # Only a timeout is worth retrying; auth or decoding errors repeat identically.
                if "timeout" not in last.lower() and "no snmp response" not in last.lower():
                    raise SnmpError(f"{self.target.host}:{self.target.port}: {last}")
                continue
            if err_status:
                raise SnmpError(
                    f"{self.target.host}:{self.target.port}: {err_status.prettyPrint()} "
                    f"at varbind {int(err_index)}"
                )
            return list(var_binds)
        raise SnmpError(
            f"{self.target.host}:{self.target.port}: {last} after "
            f"{self.target.retries + 1} attempts of {self.target.timeout_s:g}s"
        )

    async def get(self, oids: Sequence[Oid]) -> dict[Oid, Value]:
        """GET scalars; a missing object maps to ``None``."""
        from pysnmp.hlapi.v3arch import asyncio as hl

        binds = [hl.ObjectType(hl.ObjectIdentity(oid_str(o))) for o in oids]
        answer = await self._request("get", *binds)
        return {tuple(name): _value(val) for name, val in answer}

    async def walk(self, columns: Sequence[Oid]) -> Table:
        """Walk table columns together with GETBULK; returns every row of each column.

        Columns advance in step, one request per round; a column that leaves its subtree
        drops out, so a table of hundreds of ports takes ``rows / max_repetitions`` rounds.
        """
        from pysnmp.hlapi.v3arch import asyncio as hl

        table: Table = {c: {} for c in columns}
        cursor: dict[Oid, Oid] = {c: c for c in columns}
        while cursor:
            cols = list(cursor)
            reps = max(1, min(self.target.max_repetitions, VARBIND_BUDGET // len(cols)))
            binds = [hl.ObjectType(hl.ObjectIdentity(oid_str(cursor[c]))) for c in cols]
            answer = await self._request("bulk", 0, reps, *binds)
            if not answer:
                raise SnmpError(f"{self.target.host}:{self.target.port}: empty GETBULK response")
            done: set[Oid] = set()
            for i, (name, raw) in enumerate(answer):
                col = cols[i % len(cols)]
                if col in done:
                    continue
                oid = tuple(name)
                value = _value(raw)
                # Outside the column, end of view, or a non-increasing OID (a buggy agent
                # that would otherwise loop forever): this column is complete.
                if oid[: len(col)] != col or value is None or oid <= cursor[col]:
                    done.add(col)
                    continue
                table[col][oid[len(col) :]] = value
                cursor[col] = oid
            # A column without an answer this round stays: agents truncate large
            # responses from the end, which can leave the last columns empty.
            for col in done:
                cursor.pop(col, None)
        return table
