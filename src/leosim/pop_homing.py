"""PoP homing: which Starlink Point of Presence (PoP) each country's users are homed to.

A user's traffic leaves the Starlink network at a PoP, whose address block the user is given.
Starlink publishes which address blocks belong to which country, region and PoP in its GeoIP
feed (geoip.starlinkisp.net, RFC 8805).  The shipped table
``leosim/data/starlink_pop_homing_2025-12-15.csv`` counts, per (country, region, PoP), the feed's
address blocks in its snapshot of 2025-12-15 (derived by ``tools/make_pop_homing.py``; see
``leosim/data/README.md``).  It is a dated snapshot of Starlink's *planned* addressing.

The homing rule for a terminal in country X, in order:

1. the policy's ``[pops]`` override for X (``TWN = "tkyojpn1"``);
2. X is in the feed: if X's regions are homed to different PoPs (the United States, Australia,
   Brazil, ...), the nearest of those regional PoPs — regional homing follows geography, and a
   sampled terminal carries no region; else X's plurality PoP (the most address blocks);
3. X is not in the feed (no service today, e.g. Taiwan): the nearest PoP that any country is
   homed to, marked ``nearest`` so that a reader knows it is an assumption.

>>> from leosim.ground_segment import builtin_pops
>>> h = PopHoming.builtin()
>>> pops = builtin_pops()
>>> idx, how = h.home(np.array(["LKA", "PHL"]), np.array([6.93, 14.6]), np.array([79.85, 121.0]), pops)
>>> pops.code[idx].tolist(), how.tolist()
(['sngesgp1', 'mnlaphl1'], ['geoip', 'geoip'])
"""

from __future__ import annotations

import csv
import functools
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .borders import Borders, data_path
from .errors import InputError
from .ground import great_circle_m
from .ground_segment import PoPs

__all__ = ["BUILTIN_HOMING_FILE", "PopHoming"]

BUILTIN_HOMING_FILE = "starlink_pop_homing_2025-12-15.csv"


@dataclass(frozen=True)
class PopHoming:
    """Address blocks per (country, region, PoP); countries are the borders' ADM0_A3 codes."""

    blocks: Mapping[str, Mapping[tuple[str, str], int]]
    """country -> {(region, pop): number of address blocks}."""
    source: str = "<memory>"
    unplaced: frozenset[str] = frozenset()
    """Feed country codes that name no polygon of the borders (their users are not homed by
    the feed; see :class:`~leosim.borders.Borders`)."""

    @staticmethod
    @functools.cache
    def builtin() -> PopHoming:
        """The shipped 2025-12-15 GeoIP snapshot (cached)."""
        return PopHoming.read_csv(data_path(BUILTIN_HOMING_FILE))

    @classmethod
    def read_csv(cls, path, *, borders: Borders | None = None) -> PopHoming:
        """Read ``country_iso2,region_iso,pop,address_blocks`` (ISO 3166 codes, any case).

        Codes that the borders cannot place are listed in :attr:`unplaced`, not guessed."""
        borders = borders or Borders.default()
        out: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
        unplaced: set[str] = set()
        with open(path, newline="", encoding="utf-8-sig") as fh:
            for row in csv.DictReader(fh):
                try:
                    code = borders.validate_code(row["country_iso2"])
                except InputError:
                    unplaced.add(row["country_iso2"])
                    continue
                key = (row["region_iso"].strip().upper(), row["pop"].strip())
                out[code][key] = out[code].get(key, 0) + int(row["address_blocks"])
        return cls({c: dict(v) for c, v in out.items()}, str(path), frozenset(unplaced))

    def pops_of(self, country: str) -> dict[str, int]:
        """Address blocks per PoP of one country (empty if the feed does not list it)."""
        tally: dict[str, int] = defaultdict(int)
        for (_, pop), n in self.blocks.get(country, {}).items():
            tally[pop] += n
        return dict(tally)

    def regional_pops(self, country: str) -> list[str]:
        """The plurality PoP of each of a country's regions (sorted, unique)."""
        per_region: dict[str, dict[str, int]] = defaultdict(dict)
        for (region, pop), n in self.blocks.get(country, {}).items():
            if region:
                per_region[region][pop] = per_region[region].get(pop, 0) + n
        return sorted({_plurality(t) for t in per_region.values()})

    def home(
        self,
        country: np.ndarray,
        latitude_deg: np.ndarray,
        longitude_deg: np.ndarray,
        pops: PoPs,
        overrides: Mapping[str, str] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Index into ``pops`` of each terminal's PoP, and how it was chosen
        (``policy``, ``geoip``, ``nearest``); see the module docstring for the rule."""
        overrides = overrides or {}
        index = {c: i for i, c in enumerate(pops.code)}
        customer = np.flatnonzero(np.isin(pops.code, list(self._all_pops())))
        if len(customer) == 0:
            customer = np.arange(len(pops))
        n = len(country)
        out = np.full(n, -1, dtype=np.int64)
        how = np.full(n, "", dtype=object)
        for c in np.unique(country):
            sel = np.flatnonzero(country == c)
            if c in overrides:
                out[sel], how[sel] = index[overrides[c]], "policy"
                continue
            regional = [index[p] for p in self.regional_pops(c) if p in index]
            tally = {p: k for p, k in self.pops_of(c).items() if p in index}
            if len(regional) > 1:
                cand, label = np.array(regional), "geoip"
            elif tally:
                cand, label = np.array([index[_plurality(tally)]]), "geoip"
            else:
                cand, label = customer, "nearest"
            out[sel] = _nearest(latitude_deg[sel], longitude_deg[sel], pops, cand)
            how[sel] = label
        return out, how

    def homed_pops(self) -> set[str]:
        """Every PoP that some country's users are homed to."""
        return self._all_pops()

    def _all_pops(self) -> set[str]:
        return {pop for table in self.blocks.values() for (_, pop) in table}


def _plurality(tally: Mapping[str, int]) -> str:
    """The key with the largest count; ties to the alphabetically first, for reproducibility."""
    return min(tally, key=lambda p: (-tally[p], p))


def _nearest(lat: np.ndarray, lon: np.ndarray, pops: PoPs, candidates: np.ndarray) -> np.ndarray:
    """Per point, the candidate PoP (index into ``pops``) at the least great-circle distance."""
    if len(candidates) == 1:
        return np.full(len(lat), candidates[0], dtype=np.int64)
    d = great_circle_m(
        lat[:, None],
        lon[:, None],
        pops.latitude_deg[candidates][None, :],
        pops.longitude_deg[candidates][None, :],
    )
    return candidates[np.argmin(d, axis=1)]


def check_pop_code(code: str, pops: PoPs, *, source: str, key: str) -> str:
    """The PoP code in ``pops`` that ``code`` names, case aside (``TKYOJPN1`` is
    ``tkyojpn1``), else an InputError suggesting close codes."""
    import difflib

    if code in set(pops.code):
        return code
    by_fold = {str(c).casefold(): str(c) for c in pops.code}
    if code.casefold() in by_fold:
        return by_fold[code.casefold()]
    close = difflib.get_close_matches(code, list(pops.code), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise InputError(
        f"unknown PoP code {code!r}{hint} (see `leosim pops`, or add one under [[pops.add]])",
        source=source,
        key=key,
    )
