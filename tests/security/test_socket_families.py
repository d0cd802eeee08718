"""Socket families and protocols (T-NET-3, issue #15): a sandboxed function gets the sockets
docs/security.md names — AF_UNIX, TCP and UDP over AF_INET/AF_INET6, NETLINK_ROUTE — and no
other transport, even one its network namespace could route (UDP-Lite is a full IP protocol the
firewall's TCP/UDP rules do not name). Checked by the C probe's raw socket(2) calls, each in a
child of its own (tests/security/cprobe/cprobe.c).

Sandboxed, each refused call must fail with EPERM (the seccomp filter, not the kernel). Control
(unconfined) shows the call reaching the kernel: it succeeds, or fails with an errno other than
EPERM/ENOSYS (a kernel without SCTP or DCCP says EPROTONOSUPPORT/ESOCKTNOSUPPORT; ping sockets
say EACCES outside net.ipv4.ping_group_range)."""

import pytest

REFUSED = [
    "socket_udplite",         # AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE: open before issue #15
    "socket_udplite6",        # AF_INET6 likewise
    "socket_ping",            # AF_INET, SOCK_DGRAM, IPPROTO_ICMP (ICMP echo without raw sockets)
    "socket_ping6",           # AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6
    "socket_sctp",            # AF_INET, SOCK_STREAM, IPPROTO_SCTP
    "socket_sctp6",
    "socket_sctp_seqpacket",  # SCTP's one-to-many style
    "socket_dccp",            # AF_INET, SOCK_DCCP, IPPROTO_DCCP
    "socket_stream_icmp",     # a stream socket naming a protocol that is not TCP
]

ALLOWED = ["socket_tcp", "socket_tcp6", "socket_udp", "socket_udp6", "socket_unix",
           "socket_netlink"]


@pytest.fixture(scope="module")
def sockets(mode):
    report = mode.probe("syscalls")
    assert "error" not in report, report
    return report


def describe(result: dict) -> str:
    if result.get("signal"):
        return f"killed by signal {result['signal']}"
    if result["ret"] == -1:
        return result["err"] or f"errno {result['errno']}"
    return f"succeeded (ret {result['ret']})"


@pytest.mark.parametrize("name", REFUSED)
def test_sockets_other_than_tcp_udp_unix_and_netlink_route_are_refused(mode, sockets, name):
    result = sockets[name]
    if mode.sandboxed:
        assert result["ret"] == -1 and result["err"] == "EPERM" and not result.get("signal"), (
            f"{name}: want EPERM from the sandbox, got {describe(result)}")
    else:
        assert not result.get("signal") and (result["ret"] >= 0 or result["err"] not in ("EPERM", "ENOSYS")), (
            f"control: {name} did not reach the kernel: {describe(result)}")


@pytest.mark.parametrize("name", ALLOWED)
def test_tcp_udp_unix_and_netlink_route_sockets_still_open(mode, sockets, name):
    result = sockets[name]
    assert result["ret"] >= 0 and not result.get("signal"), f"{name}: {describe(result)}"
