"""Country codes as users write them: ISO 3166-1 alpha-2 and alpha-3, in any case.

The borders (:class:`leosim.borders.Borders`) are keyed on Natural Earth's ``ADM0_A3`` codes,
which equal ISO 3166-1 alpha-3 for most countries but not all: Kosovo is ``KOS`` (ISO
user-assigned ``XK``/``XKX``), South Sudan ``SDS`` (ISO ``SSD``), Åland ``ALD`` (``ALA``),
Palestine ``PSX`` (``PSE``), Western Sahara ``SAH`` (``ESH``).  Everywhere a country is named
(policy files, terminal and gateway CSVs, scenarios), :meth:`Borders.validate_code
<leosim.borders.Borders.validate_code>` accepts an ``ADM0_A3`` code, an ISO alpha-3 or an ISO
alpha-2 code and returns the borders' code; :func:`to_adm0` is the same on the default borders.

How the table is built (from data, per borders file, by :func:`build_code_table`): for every
ISO 3166-1 country of the ``pycountry`` package (249, the ISO 3166 Maintenance Agency's list as
packaged by Debian's iso-codes), plus Kosovo's user-assigned ``XK``/``XKX``, the borders' code is

1. its alpha-3, if the borders have a polygon with that ``ADM0_A3`` (FRA, NOR, GUF, ...);
2. else the polygon whose ``ISO_A3`` property is that alpha-3 (ALA -> ALD, PSE -> PSX, ...);
3. else the polygon whose ``ISO_A2`` property is its alpha-2 (XK -> KOS).

A code that none of these finds raises :class:`~leosim.errors.InputError` saying that it has no
polygon of its own (see :func:`unplaced_message`), never an empty result.  With the shipped
borders all but 8 ISO codes resolve (see ``tests/test_country_codes.py``); the overseas parts that
Natural Earth 1:50m folds into a sovereign's multipolygon (French Guiana, Réunion, Svalbard...)
are split out at build time, see :mod:`leosim.borders`.

>>> to_adm0("tw"), to_adm0("XKX"), to_adm0("SSD"), to_adm0("GF")
('TWN', 'KOS', 'SDS', 'GUF')
>>> iso_a2("KOS"), iso_a3("SDS"), iso_a3("CYN")
('XK', 'SSD', '')
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import pycountry

__all__ = [
    "EXCEPTIONALLY_RESERVED",
    "USER_ASSIGNED",
    "CodeTable",
    "build_code_table",
    "iso_a2",
    "iso_a3",
    "to_adm0",
    "unplaced_message",
]

USER_ASSIGNED = {"XK": ("XKX", "Kosovo")}
"""User-assigned ISO 3166-1 code elements in common use (alpha-2 -> (alpha-3, name)).  ``XK`` /
``XKX`` for Kosovo are used by the European Commission, the IMF and Starlink's own per-country
metrics; Natural Earth records ``XK`` as Kosovo's ``ISO_A2``."""

EXCEPTIONALLY_RESERVED = {"UK": "GB"}
"""ISO 3166-1 exceptionally reserved alpha-2 codes that name a country (-> its alpha-2): ``UK``
is reserved at the United Kingdom's request (ISO 3166/MA)."""


@dataclass(frozen=True)
class CodeTable:
    """ISO 3166-1 codes <-> the ADM0_A3 codes of one set of borders (see the module docstring).

    ``adm0`` maps upper-case ISO alpha-2 and alpha-3 codes to the borders' codes; ``iso`` maps a
    borders code to its ``(alpha_2, alpha_3)`` (``('', '')`` for a code with no ISO 3166-1 entry,
    e.g. CYN, SOL, KAS); ``unplaced`` maps the ISO codes that have no polygon to their names.
    """

    adm0: dict[str, str]
    iso: dict[str, tuple[str, str]]
    unplaced: dict[str, tuple[str, str, str]]
    """upper-case ISO alpha-2 or alpha-3 -> (alpha_2, alpha_3, name)"""


def _iso_records() -> list[tuple[str, str, str]]:
    """(alpha_2, alpha_3, name) of every ISO 3166-1 country, plus the user-assigned ones."""
    out = [
        (c.alpha_2, c.alpha_3, getattr(c, "common_name", None) or c.name)
        for c in pycountry.countries
    ]
    out += [(a2, a3, name) for a2, (a3, name) in USER_ASSIGNED.items()]
    return out


def build_code_table(
    codes: Sequence[str], iso_a2: Sequence[str], iso_a3: Sequence[str]
) -> CodeTable:
    """The ISO <-> ADM0_A3 table for polygons ``codes`` with Natural Earth's ``ISO_A2`` /
    ``ISO_A3`` properties (``'-99'`` or ``''`` where there is none)."""
    code_set = set(codes)

    def valid(x: str) -> bool:
        return bool(x) and x != "-99"

    by_iso_a3 = {a3: c for c, a3 in zip(codes, iso_a3, strict=True) if valid(a3)}
    by_iso_a2 = {a2: c for c, a2 in zip(codes, iso_a2, strict=True) if valid(a2)}
    adm0: dict[str, str] = {}
    iso: dict[str, tuple[str, str]] = {}
    unplaced: dict[str, tuple[str, str, str]] = {}
    for a2, a3, name in _iso_records():
        target = a3 if a3 in code_set else by_iso_a3.get(a3) or by_iso_a2.get(a2)
        if target is None:
            unplaced[a2] = unplaced[a3] = (a2, a3, name)
            continue
        adm0[a2] = adm0[a3] = target
        # A polygon's own alpha-3 wins over a code that merely points at it.
        if target not in iso or a3 == target:
            iso[target] = (a2, a3)
    for reserved, a2 in EXCEPTIONALLY_RESERVED.items():
        if a2 in adm0:
            adm0[reserved] = adm0[a2]
    for c in codes:
        iso.setdefault(c, ("", ""))
    return CodeTable(adm0, iso, unplaced)


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]+", " ", text.lower()).strip()


def _iso_3166_2_parents(alpha_2: str, name: str) -> list[str]:
    """Countries whose ISO 3166-2 subdivisions include this territory (NL-BQ1 Bonaire -> NL)."""
    parents = []
    folded = _fold(name)
    for s in pycountry.subdivisions:
        country, _, sub = s.code.partition("-")
        if country == alpha_2 or not sub.startswith(alpha_2):
            continue
        if (sub == alpha_2 or sub[len(alpha_2) :].isdigit()) and _fold(s.name) in folded:
            parents.append(country)
    return sorted(set(parents))


def unplaced_message(alpha_2: str, alpha_3: str, name: str, table: CodeTable, source: str) -> str:
    """Why an ISO code has no polygon, and which polygon to name instead where known."""
    msg = (
        f"ISO 3166-1 {alpha_2}/{alpha_3} ({name}) has no polygon of its own in the borders "
        f"({source})"
    )
    parents = [table.adm0[p] for p in _iso_3166_2_parents(alpha_2, name) if p in table.adm0]
    if parents:
        where = " or ".join(parents)
        return (
            f"{msg}; ISO 3166-2 lists it as part of {where}, so it lies inside {where}'s polygon "
            f"or is not drawn at all: name {where}, or give the places as a polygon exclusion zone"
        )
    return f"{msg} and no populated place locates it: it is not in the borders data"


def _default():
    from .borders import Borders  # borders imports this module

    return Borders.default()


def to_adm0(code: str) -> str:
    """The default borders' ADM0_A3 code for an ADM0_A3, ISO alpha-3 or alpha-2 code (any case).

    Same as ``Borders.default().validate_code(code)``; raises :class:`InputError` for an unknown
    code or an ISO code with no polygon of its own (e.g. ``'BV'``, Bouvet Island).
    """
    return _default().validate_code(code)


def iso_a2(code: str) -> str:
    """ISO 3166-1 alpha-2 of a country of the default borders (``''`` if it has none)."""
    return _default().iso_codes(code)[0]


def iso_a3(code: str) -> str:
    """ISO 3166-1 alpha-3 of a country of the default borders (``''`` if it has none)."""
    return _default().iso_codes(code)[1]
