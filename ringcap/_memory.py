"""What this process may still allocate, for sizing buffers before they are made.

The worker pool sizes its shared-memory slots by it (``ringcap.parallel``):
MemAvailable from ``/proc/meminfo``, or less where the process's memory
cgroup (v1 or v2: a container, a systemd unit) has less room under its limit.
"""
from __future__ import annotations

__all__ = ["available_memory"]


def available_memory(proc: str = "/proc", cgroup_root: str = "/sys/fs/cgroup") -> int | None:
    """Bytes this process can still allocate: MemAvailable from meminfo, or
    less if its memory cgroup (v1 or v2, in a container or a systemd unit) has
    less room left under its limit; None if neither can be read."""
    left = []
    try:
        with open(f"{proc}/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    left.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(f"{proc}/self/cgroup") as cgroups:
            lines = cgroups.read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        if line.count(":") < 2:
            continue
        _, controllers, path = line.split(":", 2)
        if controllers == "":                                   # v2: one hierarchy
            base, limit, usage = cgroup_root, "memory.max", "memory.current"
        elif "memory" in controllers.split(","):                # v1: the memory controller
            base, limit, usage = f"{cgroup_root}/memory", "memory.limit_in_bytes", \
                "memory.usage_in_bytes"
        else:
            continue
        parts = [p for p in path.split("/") if p]
        for depth in range(len(parts), -1, -1):                 # the group and its parents
            folder = "/".join([base] + parts[:depth])
            try:
                with open(f"{folder}/{limit}") as f:
                    text = f.read().strip()
                if text == "max":
                    continue
                with open(f"{folder}/{usage}") as f:
                    left.append(max(0, int(text) - int(f.read())))
            except (OSError, ValueError):
                continue
    return min(left) if left else None
