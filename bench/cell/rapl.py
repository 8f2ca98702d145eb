"""CPU package energy from RAPL (``/sys/class/powercap/intel-rapl:N/energy_uj``): machine-level, since a
package counts everything running on it. bench/cell/energy.py reads it over a cell's timed window."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

#: Where the kernel's powercap tree is; ``RNNBENCH_POWERCAP_ROOT`` overrides it.
POWERCAP_ROOT = Path("/sys/class/powercap")
POWERCAP_ROOT_ENV = "RNNBENCH_POWERCAP_ROOT"


class Unavailable(Exception):
    """A meter that cannot read on this machine; the message says why."""


_PACKAGE_ZONE = re.compile(r"intel-rapl:\d+")  # not the subzones intel-rapl:N:M, nor intel-rapl-mmio:N


def powercap_root(root: str | os.PathLike | None = None) -> Path:
    """``root``, else ``$RNNBENCH_POWERCAP_ROOT``, else :data:`POWERCAP_ROOT`."""
    return Path(root or os.environ.get(POWERCAP_ROOT_ENV) or POWERCAP_ROOT)


@dataclass(frozen=True)
class RaplReading:
    """One read of every CPU package's energy counter (µJ) and the range at which each wraps."""

    energy_uj: dict[str, int]
    max_uj: dict[str, int | None]


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().strip())
    except PermissionError:
        raise Unavailable(f"permission denied reading {path} (energy_uj is root-only on Linux since 2020; "
                          "readable after e.g. 'sudo chmod a+r' on it)") from None
    except FileNotFoundError:
        raise Unavailable(f"{path} does not exist") from None
    except OSError as exc:
        raise Unavailable(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError:
        raise Unavailable(f"{path} does not hold a number") from None


def rapl_zones(root: str | os.PathLike | None = None) -> list[Path]:
    """The package-level RAPL zones under the powercap root (``intel-rapl:N``, named ``package-*``).

    Subzones (core, uncore, dram: ``intel-rapl:N:M``) are inside their package's count; a ``psys``
    zone counts the whole platform, package included: both are left out so nothing is counted twice.
    """
    base = powercap_root(root)
    if not base.is_dir():
        raise Unavailable(f"no powercap tree at {base} (not Linux, or no RAPL driver: a VM or a non-x86 CPU)")
    zones = []
    for zone in sorted(base.iterdir(), key=lambda p: p.name):
        if not _PACKAGE_ZONE.fullmatch(zone.name):
            continue
        try:
            name = (zone / "name").read_text().strip()
        except OSError:
            name = "package"  # no name file: a package-level zone by its place in the tree
        if name.startswith("package"):
            zones.append(zone)
    if not zones:
        raise Unavailable(f"no RAPL package zone (intel-rapl:N) under {base}")
    return zones


def read_rapl(root: str | os.PathLike | None = None) -> RaplReading:
    """Every package's counter now; :class:`Unavailable` saying why when one cannot be read."""
    energy, ranges = {}, {}
    for zone in rapl_zones(root):
        energy[zone.name] = _read_int(zone / "energy_uj")
        try:
            ranges[zone.name] = _read_int(zone / "max_energy_range_uj")
        except Unavailable:
            ranges[zone.name] = None  # only a wrap needs it
    return RaplReading(energy, ranges)


def rapl_energy_j(start: RaplReading, end: RaplReading) -> float:
    """Joules counted by all packages between two readings, summed.

    A counter that went back wrapped once at its ``max_energy_range_uj`` (a window is far shorter than a
    counter's range, minutes at full power); without that range a wrap cannot be undone: Unavailable.
    """
    total = 0
    for zone, a in start.energy_uj.items():
        if zone not in end.energy_uj:
            raise Unavailable(f"RAPL zone {zone} went away during the window")
        delta = end.energy_uj[zone] - a
        if delta < 0:
            span = start.max_uj.get(zone)
            if not span:
                raise Unavailable(f"RAPL counter of {zone} wrapped and its max_energy_range_uj is unreadable")
            delta += span
        total += delta
    return total / 1e6
