"""Interfaces as tcpdump sees them: the `-D` list, its numbers, and the default.

tcpdump lists interfaces in libpcap's ``pcap_findalldevs`` order and, with
no ``-i``, captures on the first one.  That order is a figure of merit
(lower is better), ties kept in the kernel's order (ifindex): running before
not running, up before down, connected before disconnected, loopback after
the others, and ``any`` after every running, non-loopback interface but
before the loopback.  libpcap's pseudo-devices (nflog, nfqueue, usbmon,
bluetooth, dbus), which ringcap cannot open, are left out; they sort after
every interface that is up, so the numbers of those match ``tcpdump -D``.
Each line is tcpdump's (number, name, ``[Up, Running, Connected]``), then
the link type ringcap captures the interface with, its ifindex and MTU.
"""
from __future__ import annotations

import array
import collections
import _socket
import fcntl
import struct

from ..linktypes import linktype_description, linktype_name, linktype_value
from ..arphrd import linktypes_offered
from ..bpf import libpcap_knows_linktype
from ..ring import interface_linktypes, ioctl_socket
from .options import CliError

_SIOCGIFFLAGS = 0x8913
_SIOCGIFMTU = 0x8921
_SIOCETHTOOL = 0x8946
_SIOCGIWNAME = 0x8B01
_ETHTOOL_GLINK = 0x0000000A
_IFF_UP, _IFF_LOOPBACK, _IFF_RUNNING, _IFF_PROMISC = 0x1, 0x8, 0x40, 0x100


class Interface(collections.namedtuple("Interface", "name index flags mtu connected wireless",
                                       defaults=(False,))):
    """One entry of ``ringcap -D``: ``index`` is the ifindex (0 for ``any``);
    ``flags`` (SIOCGIFFLAGS) and ``mtu`` None if they could not be read;
    ``connected`` (ETHTOOL_GLINK) None when not applicable or unknown."""

    __slots__ = ()

    @property
    def state(self) -> str:
        if self.name == "any":
            return "all interfaces"
        if self.flags is None:
            return "unknown"
        words = ["up" if self.flags & _IFF_UP else "down"]
        if self.flags & _IFF_RUNNING:
            words.append("running")
        if self.flags & _IFF_LOOPBACK:
            words.append("loopback")
        if self.flags & _IFF_PROMISC:
            words.append("promiscuous")
        if self.connected is False:
            words.append("disconnected")
        return ", ".join(words)

    def merit(self) -> int:
        """libpcap's figure of merit: lower sorts first."""
        flags = _IFF_UP | _IFF_RUNNING if self.name == "any" else (self.flags or 0)
        n = 0
        if not flags & _IFF_RUNNING:
            n |= 0x80000000
        if not flags & _IFF_UP:
            n |= 0x40000000
        if not self.wireless and self.connected is False:
            n |= 0x20000000
        if flags & _IFF_LOOPBACK:
            n |= 0x10000000
        if self.name == "any":
            n |= 0x08000000
        return n


def _ifreq(name: str) -> bytes:
    return name.encode()[:15].ljust(40, b"\0")     # struct ifreq: the name, then a union


def _link_detected(sock, name: str) -> bool | None:
    """ETHTOOL_GLINK, as libpcap asks it: carrier or not, None if unsupported."""
    value = array.array("I", [_ETHTOOL_GLINK, 0])
    address, _ = value.buffer_info()
    ifreq = name.encode()[:15].ljust(16, b"\0") + struct.pack("P", address).ljust(24, b"\0")
    try:
        fcntl.ioctl(sock, _SIOCETHTOOL, ifreq)
    except OSError:
        return None
    return bool(value[1])


def _is_wireless(sock, name: str) -> bool:
    try:
        fcntl.ioctl(sock, _SIOCGIWNAME, _ifreq(name))
    except OSError:
        return False
    return True


def interfaces() -> list[Interface]:
    """The interfaces of this network namespace and ``any``, in tcpdump ``-D`` order."""
    found = []
    with ioctl_socket() as sock:
        for index, name in sorted(_socket.if_nameindex()):
            try:
                flags = struct.unpack_from("H", fcntl.ioctl(sock, _SIOCGIFFLAGS, _ifreq(name)),
                                           16)[0]
                mtu = struct.unpack_from("i", fcntl.ioctl(sock, _SIOCGIFMTU, _ifreq(name)), 16)[0]
            except OSError:
                found.append(Interface(name, index, None, None, None))
                continue
            connected = wireless = None
            if not flags & _IFF_LOOPBACK:
                wireless = _is_wireless(sock, name)
                connected = _link_detected(sock, name)
            found.append(Interface(name, index, flags, mtu, connected, bool(wireless)))
    found.append(Interface("any", 0, None, None, None))
    return sorted(found, key=Interface.merit)          # stable: ties stay in ifindex order


def is_down(name: str) -> bool:
    """Whether interface ``name`` is administratively down (not IFF_UP)."""
    with ioctl_socket() as sock:
        try:
            flags = struct.unpack_from("H", fcntl.ioctl(sock, _SIOCGIFFLAGS, _ifreq(name)), 16)[0]
        except OSError:
            return False        # (gone meanwhile: opening the ring says so)
    return not flags & _IFF_UP


def tcpdump_flags(iface: Interface) -> str:
    """The ``[...]`` of ``tcpdump -D`` (libpcap's flags as tcpdump words them), or ""."""
    if iface.name == "any":
        return " [Up, Running]"
    flags = iface.flags or 0
    words = [word for bit, word in ((_IFF_UP, "Up"), (_IFF_RUNNING, "Running"),
                                    (_IFF_LOOPBACK, "Loopback")) if flags & bit]
    if iface.wireless:
        words.append("Wireless")
    status = ""
    if flags & _IFF_LOOPBACK or iface.flags is None:
        pass                        # libpcap: not applicable (or not known: no flags at all)
    elif iface.wireless:
        status = {True: ", Associated", False: ", Not associated"}.get(
            iface.connected, ", Association status unknown")
    elif iface.connected is not None:   # (ETHTOOL_GLINK refused: not applicable)
        status = ", Connected" if iface.connected else ", Disconnected"
    if not words and not status and not iface.wireless:
        return ""
    return f" [{', '.join(words) or 'none'}{status}]"


def interface_linktype(name: str | None) -> int:
    """The link type ringcap captures ``name`` with (None: ``any``)."""
    return next(iter(interface_linktypes({0: name}).values()))


def describe_linktype(linktype: int) -> str:
    """``EN10MB (Ethernet)``, as tcpdump names link types."""
    return linktype_description(linktype)


def list_interfaces(stream) -> int:
    """``ringcap -D``: tcpdump's lines (numbers, order, flags), then the link
    type ringcap captures each interface with, its ifindex and MTU."""
    for n, iface in enumerate(interfaces(), 1):
        if iface.name == "any":
            print(f"{n}.any (Pseudo-device that captures on all interfaces) [Up, Running] "
                  f"link-type {describe_linktype(interface_linktype(None))}", file=stream)
            continue
        try:
            linktype = f" link-type {describe_linktype(interface_linktype(iface.name))},"
        except OSError:             # (gone since it was listed)
            linktype = ""
        mtu_text = f", mtu {iface.mtu}" if iface.mtu is not None else ""
        print(f"{n}.{iface.name}{tcpdump_flags(iface)}{linktype} ifindex {iface.index}"
              f"{mtu_text}", file=stream)
    return 0


def list_linktypes(name: str | None, stream) -> int:
    """``ringcap -L``: the link types ``name`` (None: ``any``) can be captured
    with, which ``-y`` chooses among, as tcpdump lists them (a cooked capture:
    LINUX_SLL and LINUX_SLL2, v2 the default; libpcap's DOCSIS on Ethernet is
    not offered)."""
    try:
        linktype = interface_linktype(name)
    except OSError:
        raise CliError(f"no interface named {name!r} here; see the list with `ringcap -D`"
                       ) from None
    print(f"Data link types for {name or 'any'} (use option -y to set):", file=stream)
    for offered in linktypes_offered(linktype):
        print(f"  {describe_linktype(offered)}", file=stream)
    return 0


def linktype_option(text: str | None, names: list[str | None]) -> int | None:
    """The link type ``-y TEXT`` names (None: no -y) for a capture on ``names``,
    or tcpdump's refusal: a DLT libpcap knows that ringcap does not capture
    with is not supported by the interfaces; any other name is invalid (status 1)."""
    if text is None:
        return None
    try:
        return linktype_value(text)
    except ValueError:
        # tcpdump's words; its -L names the valid ones
        if "\0" not in text and libpcap_knows_linktype(text):
            where = ",".join(n or "any" for n in names)
            raise CliError(f"{text} is not one of the DLTs supported by {where}; "
                           f"`ringcap -i {where} -L` lists them") from None
        raise CliError(f"invalid data link type {text}; `ringcap -L` lists "
                       f"the interface's", status=1) from None


def check_linktype_offered(linktype: int, text: str, captured) -> None:
    """Refuse ``-y TEXT`` (``linktype``) as tcpdump does unless each of
    ``captured``, ``(name, link type it is captured with)`` pairs (name None:
    ``any``), can be captured with it."""
    for name, kind in captured:
        if linktype not in linktypes_offered(kind):
            where = name or "any"
            # tcpdump's words ("... by this device"), naming the device
            raise CliError(f"{text} is not one of the DLTs supported by {where}; "
                           f"`ringcap -i {where} -L` lists them")


def default_interface() -> str | None:
    """What tcpdump captures on without ``-i``: the first of ``-D`` (None: ``any``)."""
    first = interfaces()[0]
    return None if first.name == "any" else first.name


def resolve_numbers(names: list[str | None]) -> list[str | None]:
    """``-i 2`` is the second interface of ``-D``, as in tcpdump, unless an
    interface is named ``2``."""
    if not any(name is not None and name.isdigit() for name in names):
        return names
    listed = interfaces()
    existing = {iface.name for iface in listed}
    resolved: list[str | None] = []
    for name in names:
        if name is not None and name.isdigit() and name not in existing:
            number = int(name)
            if not 1 <= number <= len(listed):
                raise CliError(f"no interface number {name}: `ringcap -D` lists {len(listed)} "
                               f"(1 to {len(listed)}); give a number from that list or a name")
            picked = listed[number - 1].name
            name = None if picked == "any" else picked
        if name in resolved:
            continue
        resolved.append(name)
    if None in resolved and len(resolved) > 1:
        raise CliError("-i any already captures on every interface; give it alone", status=2)
    return resolved


__all__ = ["Interface", "interfaces", "list_interfaces", "list_linktypes", "default_interface",
           "linktype_option", "check_linktype_offered",
           "resolve_numbers", "interface_linktype", "tcpdump_flags"]
