"""A small authoritative DNS server on 127.0.0.1 (UDP and TCP, same random port).

It answers from the records you give it, in zone-file text, so tests exercise real DNS
wire traffic (dnspython's resolver, truncation, TCP fallback) without the internet:

    from tests.support.dns_server import LoopbackDNS

    records = {
        "_relance.acme.test": [("TXT", '"relance-verification=abc"')],
        "acme.test": [("TXT", '"v=spf1 include:sendgrid.net ~all"'), ("MX", "10 mx.acme.test.")],
        "s1._domainkey.acme.test": [("CNAME", "s1.domainkey.u1.wl.sendgrid.net.")],
    }
    with LoopbackDNS(records) as dns:
        resolver = resolver_for(dns.host, dns.port)     # relance.services.sender_domain
        dns.set_records("_dmarc.acme.test", [("TXT", '"v=DMARC1; p=none"')])  # live edit
        dns.fail("timeout")                        # every query goes unanswered
        dns.fail("servfail", "acme.test")          # or only queries for that exact name
        dns.clear_failures()
        dns.queries                                # [Query(name, type, transport), ...]

Values are zone-file text, so a TXT value needs quotes: `'"a b"'` is one string,
`'"a" "b"'` is one record split into two strings, and an unquoted `a b` would be two
strings too. Names in values are absolute (a missing final dot is added).

Failures: "timeout" (never answer, on UDP or TCP), "servfail", "nxdomain", "refused".
`truncate_udp=True` sets TC on every UDP answer so clients must retry over TCP; UDP
answers are also truncated, as a real server does, when larger than the client's
limit (512 bytes without EDNS).

Answers: the records at the name; a CNAME is followed through names this server knows;
NXDOMAIN for unknown names, NOERROR with no answer (NODATA) for known names without that
type, including empty non-terminals such as `_domainkey.acme.test` above. There is no
SOA or delegation: one flat set of names, authoritative (AA) for all of them.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

Failure = Literal["timeout", "servfail", "nxdomain", "refused"]

_RCODES = {
    "servfail": dns.rcode.SERVFAIL,
    "nxdomain": dns.rcode.NXDOMAIN,
    "refused": dns.rcode.REFUSED,
}
# Longer chains are a loop or a mistake in the test data; real servers give up too.
_MAX_CNAME_CHAIN = 8


@dataclass(frozen=True)
class Query:
    name: str  # as asked, without the final dot
    type: str  # "TXT", "CNAME", ...
    transport: Literal["udp", "tcp"]


RecordSpec = Iterable[tuple[str, str]]


class LoopbackDNS:
    host = "127.0.0.1"

    def __init__(
        self,
        records: Mapping[str, RecordSpec] | None = None,
        *,
        ttl: int = 300,
        truncate_udp: bool = False,
    ) -> None:
        self.ttl = ttl
        self.truncate_udp = truncate_udp
        self.queries: list[Query] = []
        self._lock = threading.Lock()
        self._zone: dict[dns.name.Name, dict[int, dns.rrset.RRset]] = {}
        self._failures: dict[dns.name.Name | None, Failure] = {}
        # Lets TCP handlers that are holding a connection open ("timeout") exit on close().
        self._stopping = threading.Event()
        self._udp: socketserver.UDPServer | None = None
        self._tcp: socketserver.ThreadingTCPServer | None = None
        self._threads: list[threading.Thread] = []
        self.port = 0
        for name, specs in (records or {}).items():
            self.set_records(name, specs)

    # -- configuration -----------------------------------------------------------------

    def set_records(self, name: str, specs: RecordSpec) -> None:
        """Replace every record at `name` (an empty list removes the name)."""
        owner = _name(name)
        by_type: dict[str, list[str]] = {}
        for rdtype, text in specs:
            by_type.setdefault(rdtype.upper(), []).append(text)
        rrsets: dict[int, dns.rrset.RRset] = {}
        for rdtype, texts in by_type.items():
            # from_text_list rather than from_text: it takes an origin, so a target
            # written without its final dot is still absolute instead of unrenderable.
            rrset = dns.rrset.from_text_list(
                owner,
                self.ttl,
                dns.rdataclass.IN,
                rdtype,
                texts,
                origin=dns.name.root,
                relativize=False,
            )
            rrsets[rrset.rdtype] = rrset
        with self._lock:
            if rrsets:
                self._zone[owner] = rrsets
            else:
                self._zone.pop(owner, None)

    def fail(self, kind: Failure, name: str | None = None) -> None:
        """Fail every query (name=None) or only queries for exactly `name`."""
        if kind != "timeout" and kind not in _RCODES:
            raise ValueError(f"unknown failure {kind!r}")
        with self._lock:
            self._failures[None if name is None else _name(name)] = kind

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> LoopbackDNS:
        self._udp, self._tcp = _bind_pair(self)
        self.port = self._udp.server_address[1]
        for server in (self._udp, self._tcp):
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def close(self) -> None:
        self._stopping.set()
        for server in (self._udp, self._tcp):
            if server is not None:
                server.shutdown()
                server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> LoopbackDNS:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- answering ---------------------------------------------------------------------

    def respond(self, wire: bytes, transport: Literal["udp", "tcp"]) -> bytes | None:
        """The reply to one query in wire format, or None to stay silent."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None  # not even an id to answer FORMERR to
        if len(query.question) != 1:
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.FORMERR)
            return response.to_wire()
        question = query.question[0]
        with self._lock:
            self.queries.append(
                Query(
                    question.name.to_text(omit_final_dot=True),
                    dns.rdatatype.to_text(question.rdtype),
                    transport,
                )
            )
            failure = self._failures.get(question.name) or self._failures.get(None)
            if failure == "timeout":
                return None
            response = dns.message.make_response(query)
            response.flags |= dns.flags.AA
            if failure is not None:
                response.set_rcode(_RCODES[failure])
            else:
                self._answer(question.name, question.rdtype, response)
        if transport == "tcp":
            return response.to_wire()
        limit = query.payload if query.edns >= 0 else 512
        if not self.truncate_udp:
            try:
                return response.to_wire(max_size=limit)
            except dns.exception.TooBig:
                pass
        # What a real server does when the answer does not fit: an empty reply with TC,
        # which tells the client to ask again over TCP.
        truncated = dns.message.make_response(query)
        truncated.flags |= dns.flags.AA | dns.flags.TC
        return truncated.to_wire()

    def _answer(self, name: dns.name.Name, rdtype: int, response: dns.message.Message) -> None:
        for _ in range(_MAX_CNAME_CHAIN):
            rrsets = self._zone.get(name)
            if rrsets is None:
                if not self._exists(name):
                    # RFC 6604: the rcode describes the last name in the chain.
                    response.set_rcode(dns.rcode.NXDOMAIN)
                return
            if rdtype in rrsets:
                response.answer.append(rrsets[rdtype])
                return
            cname = rrsets.get(dns.rdatatype.CNAME)
            if cname is None or rdtype == dns.rdatatype.ANY:
                return
            response.answer.append(cname)
            name = next(iter(cname)).target
        response.set_rcode(dns.rcode.SERVFAIL)

    def _exists(self, name: dns.name.Name) -> bool:
        # A name with nothing of its own but names below it (an empty non-terminal)
        # exists, and must answer NODATA, not NXDOMAIN, or resolvers may stop there.
        return any(owner.is_subdomain(name) for owner in self._zone)


def _name(text: str) -> dns.name.Name:
    return dns.name.from_text(text, origin=dns.name.root)


class _UDPHandler(socketserver.BaseRequestHandler):
    server: _UDPServer

    def handle(self) -> None:
        data, sock = self.request
        reply = self.server.dns.respond(data, "udp")
        if reply is not None:
            sock.sendto(reply, self.client_address)


class _TCPHandler(socketserver.BaseRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        dns_server = self.server.dns
        while True:
            header = _recv_exactly(sock, 2)
            if header is None:
                return
            data = _recv_exactly(sock, struct.unpack("!H", header)[0])
            if data is None:
                return
            reply = dns_server.respond(data, "tcp")
            if reply is None:
                # Hold the connection open without a word, which is what makes a TCP
                # client time out rather than see a reset.
                dns_server._stopping.wait()
                return
            sock.sendall(struct.pack("!H", len(reply)) + reply)


def _recv_exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks = b""
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return chunks


class _UDPServer(socketserver.UDPServer):
    def __init__(self, dns_server: LoopbackDNS, port: int) -> None:
        self.dns = dns_server
        super().__init__((LoopbackDNS.host, port), _UDPHandler)


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, dns_server: LoopbackDNS, port: int) -> None:
        self.dns = dns_server
        super().__init__((LoopbackDNS.host, port), _TCPHandler)


def _bind_pair(dns_server: LoopbackDNS) -> tuple[_UDPServer, _TCPServer]:
    # Resolvers retry truncated answers over TCP on the same port, so both sockets need
    # one free port; a UDP port the kernel picked can be taken for TCP, so retry.
    for _ in range(50):
        udp = _UDPServer(dns_server, 0)
        try:
            return udp, _TCPServer(dns_server, udp.server_address[1])
        except OSError:
            udp.server_close()
    raise OSError("no port free for both UDP and TCP on 127.0.0.1")
