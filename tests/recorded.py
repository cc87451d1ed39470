"""Traffic of real programs, recorded with tcpdump in a private network namespace.

Shared by the tests (application-layer decoding checks its columns against
tshark on it) and the benchmarks (``benchmarks/traffic.py``'s ``recorded``
mix).  Standard library and Debian tools only: ip, ethtool, tcpdump, dnsmasq,
dig, curl, openssl, iperf3 and ping (``apt-get install iproute2 ethtool
tcpdump dnsmasq-base dnsutils curl openssl iperf3 iputils-ping``).

:func:`record` runs inside a private network namespace (the test session's,
or one :func:`record_in_new_netns` makes) and refuses to run in the
machine's own.  It makes a second namespace for the servers (a child
``unshare --net``), joined to this one by a veth pair (``10.77.0.1`` /
``fd77::1`` here, ``10.77.0.2`` / ``fd77::2`` there, offloads off so the
capture holds wire-sized frames with their real checksums), starts there

* dnsmasq, authoritative for ``example.test`` (A, AAAA, CNAME, MX, TXT;
  other names in the zone answer NXDOMAIN),
* an HTTP/1.1 server (Python's ``http.server`` with keep-alive) on port 8080,
* ``openssl s_server -www`` on port 4433 (certificate for ``tls.example.test``),
* ``iperf3 -s``,

captures on this end with ``tcpdump -w`` and runs the clients: ``ping`` (v4
and v6), ``dig`` (UDP and TCP, v4 and v6), ``curl`` (HTTP/1.1 with a
``Host`` and user agent, TLS 1.2 and 1.3 with SNI), ``iperf3`` TCP and UDP.
Which programs run is the ``programs`` argument, so a test that needs only
DNS and HTTP does not wait for iperf3.

    python tests/recorded.py OUT.pcap [--scale N] [--programs dns,http,tls]
        # as root: records in a namespace of its own
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VERSION = 1            # bump when what is recorded changes (benchmarks cache by it)

CLIENT_IF, SERVER_IF = "rcrec0", "rcrec1"
CLIENT4, SERVER4 = "10.77.0.1", "10.77.0.2"
CLIENT6, SERVER6 = "fd77::1", "fd77::2"
HTTP_PORT, TLS_PORT, IPERF_PORT = 8080, 4433, 5201
HTTP_HOST, TLS_HOST = "www.example.test", "tls.example.test"
USER_AGENT = "ringcap-recorder/1.0"
PROGRAMS = ("ping", "dns", "http", "tls", "iperf3-tcp", "iperf3-udp")

#: tool -> Debian package, for the error message when one is missing
TOOLS = {"ip": "iproute2", "ethtool": "ethtool", "tcpdump": "tcpdump", "unshare": "util-linux",
         "nsenter": "util-linux"}
PROGRAM_TOOLS = {"ping": {"ping": "iputils-ping"}, "dns": {"dnsmasq": "dnsmasq-base", "dig": "dnsutils"},
                 "http": {"curl": "curl"}, "tls": {"curl": "curl", "openssl": "openssl"},
                 "iperf3-tcp": {"iperf3": "iperf3"}, "iperf3-udp": {"iperf3": "iperf3"}}

DEADLINE = 30.0
_CHILD = "RINGCAP_RECORDING_CHILD"

HTTP_SERVER = r"""
import http.server, socket, sys
class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()
http.server.SimpleHTTPRequestHandler.extensions_map[".bin"] = "application/octet-stream"
import functools
Server(("::", int(sys.argv[1])), functools.partial(Handler, directory=sys.argv[2])).serve_forever()
"""


def missing_tools(programs=PROGRAMS) -> dict[str, str]:
    """{tool: Debian package} of the tools :func:`record` needs for ``programs`` and lacks."""
    need = dict(TOOLS)
    for program in programs:
        need.update(PROGRAM_TOOLS[program])
    return {tool: package for tool, package in need.items() if shutil.which(tool) is None}


def has_route_out() -> bool:
    """True when this network namespace has a default route (the machine's own
    namespace, or one wired to it): recording refuses to run there."""
    for family in ("-4", "-6"):
        proc = subprocess.run(["ip", family, "route", "show", "default"], capture_output=True,
                              text=True)
        if proc.returncode != 0 or proc.stdout.strip():
            return True
    return False


def _run(argv, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True, errors="replace", **kw)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} failed ({proc.returncode}): "
                           f"{(proc.stderr or proc.stdout).strip()[-400:]}")
    return proc


def _run_client(argv) -> None:
    """Run one client; iperf3's server takes a moment after a test before it
    takes the next ("the server is busy running a test"): try again until it does."""
    def finished() -> bool:
        proc = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=120)
        if proc.returncode == 0:
            return True
        if argv[0] == "iperf3" and "server is busy" in proc.stderr + proc.stdout:
            return False
        raise RuntimeError(f"{' '.join(map(str, argv))} failed ({proc.returncode}): "
                           f"{(proc.stderr or proc.stdout).strip()[-400:]}")
    _wait(finished, f"{argv[0]} to run")


def _wait(condition, what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


class _ServerNamespace:
    """A child ``unshare --net sleep`` holding the servers' namespace; gone when it exits."""

    def __init__(self) -> None:
        self.holder = subprocess.Popen(["unshare", "--net", "sleep", "infinity"],
                                       stdin=subprocess.DEVNULL)
        self.ns = f"/proc/{self.holder.pid}/ns/net"
        mine = os.stat("/proc/self/ns/net").st_ino

        def entered():
            try:
                return os.stat(self.ns).st_ino != mine
            except FileNotFoundError:
                return self.holder.poll() is not None
        _wait(entered, "the servers' network namespace")
        if self.holder.poll() is not None:
            raise RuntimeError("unshare --net failed (root is needed)")
        self.children: list[subprocess.Popen] = []

    def argv(self, *argv: str) -> list[str]:
        return ["nsenter", f"--net={self.ns}", "--", *argv]

    def run(self, *argv: str) -> subprocess.CompletedProcess:
        return _run(self.argv(*argv))

    def start(self, *argv: str, **kw) -> subprocess.Popen:
        proc = subprocess.Popen(self.argv(*argv), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True, **kw)
        self.children.append(proc)
        return proc

    def close(self) -> None:
        for proc in reversed(self.children):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            if proc.stderr:
                proc.stderr.close()
        self.holder.kill()
        self.holder.wait()


def _link_up(server: _ServerNamespace) -> None:
    _run(["ip", "link", "add", CLIENT_IF, "type", "veth", "peer", "name", SERVER_IF, "netns",
          str(server.holder.pid)])
    for name, run, addr4, addr6 in ((CLIENT_IF, lambda *a: _run(list(a)), CLIENT4, CLIENT6),
                                    (SERVER_IF, server.run, SERVER4, SERVER6)):
        run("sh", "-c", f"echo 0 > /proc/sys/net/ipv6/conf/{name}/disable_ipv6; "
                        f"echo 0 > /proc/sys/net/ipv6/conf/{name}/accept_ra")
        run("ethtool", "-K", name, "tso", "off", "gso", "off", "gro", "off", "tx", "off",
            "rx", "off")
        run("ip", "addr", "add", f"{addr4}/24", "dev", name)
        run("ip", "-6", "addr", "add", f"{addr6}/64", "dev", name, "nodad")
        run("ip", "link", "set", name, "up")
    server.run("ip", "link", "set", "lo", "up")
    _wait(lambda: "LOWER_UP" in _run(["ip", "-o", "link", "show", CLIENT_IF]).stdout,
          f"{CLIENT_IF} to come up")


def _listening(server: _ServerNamespace, port: int, udp: bool = False) -> bool:
    out = server.run("ss", "-Hln" + ("u" if udp else "t"), f"sport = :{port}").stdout
    return bool(out.strip())


def _start_servers(server: _ServerNamespace, programs, folder: Path, scale: int) -> None:
    if "dns" in programs:
        proc = server.start(
            "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
            "--no-hosts", "--bind-interfaces", f"--listen-address={SERVER4},{SERVER6}",
            "--user=root", f"--pid-file={folder / 'dnsmasq.pid'}", "--local=/example.test/",
            f"--host-record={HTTP_HOST},{SERVER4},{SERVER6}",
            f"--host-record={TLS_HOST},{SERVER4}",
            f"--cname=web.example.test,{HTTP_HOST}",
            "--mx-host=example.test,mail.example.test,10",
            "--txt-record=example.test,v=spf1 -all")
        _wait(lambda: proc.poll() is not None or _listening(server, 53, udp=True), "dnsmasq")
        if proc.poll() is not None:
            raise RuntimeError(f"dnsmasq exited: {proc.stderr.read().decode()[-400:]}")
    if "http" in programs:
        site = folder / "site"
        site.mkdir()
        (site / "index.html").write_text("<html><body>" + "hello " * 200 + "</body></html>\n")
        (site / "big.bin").write_bytes(os.urandom(200_000 * scale))
        server.start(sys.executable, "-c", HTTP_SERVER, str(HTTP_PORT), str(site))
        _wait(lambda: _listening(server, HTTP_PORT), "the HTTP server")
    if "tls" in programs:
        key, cert = folder / "key.pem", folder / "cert.pem"
        _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
              "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out", str(cert),
              "-subj", f"/CN={TLS_HOST}", "-days", "2",
              "-addext", f"subjectAltName=DNS:{TLS_HOST}"])
        server.start("openssl", "s_server", "-www", "-accept", str(TLS_PORT), "-cert", str(cert),
                     "-key", str(key), "-quiet")
        _wait(lambda: _listening(server, TLS_PORT), "openssl s_server")
    if "iperf3-tcp" in programs or "iperf3-udp" in programs:
        server.start("iperf3", "-s", "-B", SERVER4, "-p", str(IPERF_PORT))
        _wait(lambda: _listening(server, IPERF_PORT), "iperf3 -s")


def _clients(programs, scale: int) -> list[list[str]]:
    out: list[list[str]] = []
    if "ping" in programs:
        out += [["ping", "-n", "-c", str(3 * scale), "-i", "0.05", SERVER4],
                ["ping", "-n", "-6", "-c", str(3 * scale), "-i", "0.05", SERVER6]]
    if "dns" in programs:
        dig = ["dig", "+tries=3", "+time=2"]
        for _ in range(scale):
            out += [dig + [f"@{SERVER4}", HTTP_HOST, "A"], dig + [f"@{SERVER4}", HTTP_HOST, "AAAA"],
                    dig + [f"@{SERVER4}", "web.example.test", "A"],
                    dig + [f"@{SERVER4}", "example.test", "MX"],
                    dig + [f"@{SERVER4}", "example.test", "TXT"],
                    dig + [f"@{SERVER4}", "missing.example.test", "A"],
                    dig + ["+tcp", f"@{SERVER4}", TLS_HOST, "A"],
                    dig + [f"@{SERVER6}", HTTP_HOST, "AAAA"]]
    if "http" in programs:
        base = f"http://{HTTP_HOST}:{HTTP_PORT}"
        for _ in range(scale):
            out += [["curl", "-s", "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null",
                     "--http1.1", "-A", USER_AGENT,
                     "--resolve", f"{HTTP_HOST}:{HTTP_PORT}:{SERVER4}", f"{base}/",
                     f"{base}/big.bin", f"{base}/missing"],
                    ["curl", "-s", "-o", "/dev/null", "--http1.1", "-A", USER_AGENT, "-g",
                     f"http://[{SERVER6}]:{HTTP_PORT}/"]]
    if "tls" in programs:
        for _ in range(scale):
            for version in (["--tlsv1.2", "--tls-max", "1.2"], ["--tlsv1.3"]):
                out.append(["curl", "-sk", "-o", "/dev/null", "--http1.1", *version,
                            "-A", USER_AGENT, "--resolve", f"{TLS_HOST}:{TLS_PORT}:{SERVER4}",
                            f"https://{TLS_HOST}:{TLS_PORT}/"])
    if "iperf3-tcp" in programs:
        out.append(["iperf3", "-c", SERVER4, "-p", str(IPERF_PORT), "-n", f"{4 * scale}M"])
    if "iperf3-udp" in programs:
        out.append(["iperf3", "-c", SERVER4, "-p", str(IPERF_PORT), "-u", "-b", "40M", "-l",
                    "1400", "-n", f"{2 * scale}M"])
    return out


def record(path, *, programs=PROGRAMS, scale: int = 1) -> Path:
    """Record ``programs`` (a subset of :data:`PROGRAMS`) talking to their local
    servers into the pcap ``path``; returns it.  ``scale`` multiplies the work
    (DNS queries, HTTP fetches, iperf3 bytes).  Needs root and a private
    network namespace (raises RuntimeError otherwise, or when a tool is
    missing, naming its Debian package)."""
    path = Path(path)
    programs = tuple(programs)
    unknown = set(programs) - set(PROGRAMS)
    if unknown:
        raise ValueError(f"unknown programs {sorted(unknown)}: choose from {PROGRAMS}")
    if os.geteuid() != 0:
        raise RuntimeError("recording needs root (network namespaces and tcpdump)")
    if has_route_out():
        raise RuntimeError("record() runs only inside a private network namespace with no "
                           "route out (use record_in_new_netns, or the test session's namespace)")
    missing = missing_tools(programs)
    if missing:
        raise RuntimeError("recording needs " + ", ".join(sorted(missing)) + ": apt-get install "
                           + " ".join(sorted(set(missing.values()))))
    _run(["ip", "link", "set", "lo", "up"])
    server = _ServerNamespace()
    capture = None
    try:
        with tempfile.TemporaryDirectory(prefix="ringcap-record-") as tmp:
            folder = Path(tmp)
            _link_up(server)
            _start_servers(server, programs, folder, scale)
            part = path.with_name(path.name + ".part")
            capture = subprocess.Popen(["tcpdump", "-i", CLIENT_IF, "-n", "-s", "0", "-U",
                                        "--immediate-mode", "-Z", "root", "-w", str(part)],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, text=True)
            line = capture.stderr.readline()
            if "listening on" not in line:
                raise RuntimeError(f"tcpdump did not start: {line}")
            for argv in _clients(programs, scale):
                _run_client(argv)
            # the last replies are on the wire: wait until the file stops growing
            last, still = -1, 0.0
            deadline = time.monotonic() + DEADLINE
            while still < 0.5 and time.monotonic() < deadline:
                size = part.stat().st_size if part.exists() else 0
                still = still + 0.1 if size == last else 0.0
                last = size
                time.sleep(0.1)
            capture.send_signal(signal.SIGINT)
            err = capture.communicate(timeout=DEADLINE)[1]
            if capture.returncode != 0:
                raise RuntimeError(f"tcpdump exited {capture.returncode}: {err[-400:]}")
            os.replace(part, path)
    finally:
        if capture is not None and capture.poll() is None:
            capture.kill()
            capture.communicate()
        elif capture is not None and capture.stderr and not capture.stderr.closed:
            capture.stderr.close()
        server.close()
        subprocess.run(["ip", "link", "del", CLIENT_IF], capture_output=True)
    return path


def record_in_new_netns(path, *, programs=PROGRAMS, scale: int = 1) -> Path:
    """:func:`record` in a network namespace of its own (``unshare --net``), from anywhere."""
    _run(["unshare", "--net", sys.executable, os.path.abspath(__file__), str(path),
          "--scale", str(scale), "--programs", ",".join(programs)], timeout=300,
         env={**os.environ, _CHILD: "1"})
    return Path(path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--programs", default=",".join(PROGRAMS))
    args = parser.parse_args(argv)
    programs = tuple(p for p in args.programs.split(",") if p)
    if os.environ.get(_CHILD) != "1":      # (the child records; it never starts another)
        record_in_new_netns(args.out, programs=programs, scale=args.scale)
    else:
        record(args.out, programs=programs, scale=args.scale)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
