"""Network (T-NET-1/2/3/4/6): with network = "none" (the default) an instance reaches nothing,
not the Gust server, not the host, not the outside; nothing reaches it. With network = "egress"
it reaches the outside but not Gust, loopback, RFC 1918 or link-local addresses.

The host-side listeners are this test process's own, on this machine only."""

import socket
import threading
import time
import uuid

import pytest

from conftest import host_ip, wait_until

OUTSIDE = "1.1.1.1:443"
METADATA = "169.254.169.254:80"


class Listeners:
    """A TCP and a UDP socket on all host addresses, recording who reached them."""

    def __init__(self):
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("0.0.0.0", 0))
        self.tcp.listen(16)
        self.tcp.settimeout(0.2)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("0.0.0.0", 0))
        self.udp.settimeout(0.2)
        self.tcp_port = self.tcp.getsockname()[1]
        self.udp_port = self.udp.getsockname()[1]
        self.accepted = 0
        self.datagrams: list[bytes] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.tcp.accept()
                self.accepted += 1
                conn.close()
            except OSError:
                pass
            try:
                self.datagrams.append(self.udp.recvfrom(2048)[0])
            except OSError:
                pass

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.tcp.close()
        self.udp.close()


@pytest.fixture(scope="module")
def listeners():
    ls = Listeners()
    yield ls
    ls.close()


def resolver() -> str:
    for line in open("/etc/resolv.conf"):
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver" and "." in parts[1]:
            return parts[1]
    return "8.8.8.8"


def test_T_NET_1_2_3_no_network_reaches_nothing(mode, listeners):
    """network = none: only `lo`; TCP to the Gust server's port, to this host's address and to
    the outside fails; UDP to the host never arrives; DNS fails; raw and packet sockets are
    refused. Control: unconfined, the server's port and the host's listener answer and the UDP
    datagram arrives."""
    ip = host_ip()
    token = uuid.uuid4().hex
    before = listeners.accepted
    r = mode.probe("network",
                   tcp=[f"127.0.0.1:{mode.server.port}", f"{ip}:{listeners.tcp_port}",
                        f"127.0.0.1:{listeners.tcp_port}", OUTSIDE, METADATA, f"{resolver()}:53"],
                   udp=[f"{ip}:{listeners.udp_port}", f"127.0.0.1:{listeners.udp_port}",
                        f"{resolver()}:53"],
                   udp_payload=token)
    time.sleep(0.5)
    arrived = [d for d in listeners.datagrams if token.encode() in d]
    if mode.sandboxed:
        assert r["interfaces"] == ["lo"], r["interfaces"]
        reached = {t: v for t, v in r["tcp"].items() if v["ok"]}
        assert reached == {}, f"reached from network = none: {reached}"
        assert listeners.accepted == before, "the host listener accepted a connection from the sandbox"
        assert arrived == [], "a UDP datagram from the sandbox reached the host"
        assert not r["dns"]["ok"], r["dns"]
        assert not r["socket_packet"]["ok"] and not r["socket_raw_icmp"]["ok"], r
    else:
        assert r["tcp"][f"127.0.0.1:{mode.server.port}"]["ok"], r["tcp"]
        assert r["tcp"][f"{ip}:{listeners.tcp_port}"]["ok"], r["tcp"]
        assert wait_until(lambda: [d for d in listeners.datagrams if token.encode() in d], 3), (
            "control: the UDP datagram did not arrive")
        assert r["socket_packet"]["ok"] and r["socket_raw_icmp"]["ok"], r
    mode.assert_healthy()


def host_listens_on(port: int) -> bool:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            for line in open(table).read().splitlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                    return True
        except OSError:
            pass
    return False


def test_T_NET_6_a_listening_function_cannot_be_reached_from_the_host(mode):
    """The function listens on 0.0.0.0:<port>; connecting from the host to 127.0.0.1 and to the
    host's address fails. Control: both connect."""
    name = mode.deploy("listener")
    port = mode.probe("listen", name=name)["port"]
    results = {}
    for address in ("127.0.0.1", host_ip()):
        try:
            socket.create_connection((address, port), timeout=2).close()
            results[address] = "connected"
        except OSError as e:
            results[address] = repr(e)
    if mode.sandboxed:
        if host_listens_on(port):
            pytest.skip(f"a host process happens to listen on {port}")
        assert all(v != "connected" for v in results.values()), results
    else:
        assert all(v == "connected" for v in results.values()), results
    mode.assert_healthy()


def test_T_NET_4_egress_reaches_out_but_not_gust_loopback_private_or_metadata(mode, listeners):
    """network = "egress": the outside answers; the Gust server's port, loopback, RFC 1918 (this
    host's resolver is one), and link-local metadata do not. Control: no egress policy exists
    unconfined; the server's port answers."""
    name, refused = mode.try_deploy("egress", network="egress")
    if refused:
        pytest.skip(f'network = "egress" deploys are refused by this server: {refused[:300]}')
    probe_outside = socket.socket()
    probe_outside.settimeout(3)
    try:
        probe_outside.connect(tuple([OUTSIDE.split(":")[0], 443]))
        host_has_internet = True
    except OSError:
        host_has_internet = False
    finally:
        probe_outside.close()
    forbidden = [f"127.0.0.1:{mode.server.port}", f"127.0.0.1:{listeners.tcp_port}",
                 f"{resolver()}:53", METADATA, "10.0.0.1:80", "172.16.0.1:80", "192.168.0.1:80"]
    r = mode.probe("network", name=name, tcp=[OUTSIDE, *forbidden], udp=[])
    if mode.sandboxed:
        reached = {t: r["tcp"][t] for t in forbidden if r["tcp"][t]["ok"]}
        assert reached == {}, f"reached from network = egress: {reached}"
        if host_has_internet:
            assert r["tcp"][OUTSIDE]["ok"], f"egress cannot reach {OUTSIDE}: {r['tcp'][OUTSIDE]}"
    else:
        assert r["tcp"][f"127.0.0.1:{mode.server.port}"]["ok"], r["tcp"]
    mode.assert_healthy()
