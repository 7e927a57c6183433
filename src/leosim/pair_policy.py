"""Which city pairs a service policy lets route over the constellation (``leosim run --policy``).

A pair of stations routed as Hypatia routes them (up-link at one city, lasers, down-link at the
other) uses the constellation at both ends, and its traffic comes down at the far end.  Under a
policy (:mod:`leosim.policy`) a pair is routed only when

1. both stations may be served where they stand (country activated, outside every exclusion
   zone; the station name is its terminal id for allow-lists), and
2. each end's traffic may land where the other end is: the other station's country is in its
   landing rights (when it has any) and is not a forbidden gateway country.

Blocked pairs are not routed; :func:`restrict_pairs` says why, one reason per pair.  The
policy's user-link elevation mask, when it sets one, applies to every station (the stricter of
it and the scenario's).

>>> import numpy as np
>>> from leosim.ground import GroundStations
>>> from leosim.policy import parse_policy
>>> gs = GroundStations(np.arange(3), ["Taipei", "Tokyo", "Manila"], np.array([25.03, 35.68,
...     14.6]), np.array([121.57, 139.69, 121.0]), np.zeros(3))
>>> pol = parse_policy({"countries": {"TWN": "not_activated"}, "landing_rights": {"PHL": ["PHL"]}})
>>> pair_block_reasons(gs, np.array([[0, 1], [1, 2], [2, 2]]), pol).tolist()
['Taipei: not activated in TWN', 'Manila (PHL) may land only in PHL, not in JPN', '']
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .borders import Borders
from .ground import GroundStations
from .ground_segment import Terminals
from .policy import Policy
from .simulate import Network

__all__ = ["pair_block_reasons", "restrict_pairs"]


def _station_terminals(stations: GroundStations, borders: Borders) -> Terminals:
    country = borders.country_of(stations.latitude_deg, stations.longitude_deg)
    return Terminals(
        np.asarray(stations.names, dtype=object),
        np.asarray(stations.latitude_deg, dtype=float),
        np.asarray(stations.longitude_deg, dtype=float),
        np.asarray(country),
        np.ones(len(stations)),
    )


def _landing_reason(name: str, own: str, other: str, policy: Policy) -> str:
    """Why traffic from a station in ``own`` may not come down in ``other`` ("" if it may)."""
    if other in policy.spec.forbidden_gateway_countries:
        return f"{name}: traffic may not land in {other} (forbidden gateway country)"
    rights = policy.spec.landing_rights.get(own)
    if rights is not None and other not in rights:
        return f"{name} ({own}) may land only in {', '.join(rights)}, not in {other or 'the sea'}"
    return ""


def pair_block_reasons(
    stations: GroundStations, pairs: np.ndarray, policy: Policy, borders: Borders | None = None
) -> np.ndarray:
    """Per pair ``(src_gid, dst_gid)``, why the policy blocks it (``""`` when it may route)."""
    borders = borders or Borders.default()
    terms = _station_terminals(stations, borders)
    allowed, why = policy.terminal_permission(terms, borders)
    country = terms.country
    out = np.full(len(pairs), "", dtype=object)
    for k, (a, b) in enumerate(np.asarray(pairs, dtype=np.int64).reshape(-1, 2)):
        for s in (a, b):
            if not allowed[s] and not out[k]:
                out[k] = f"{stations.names[s]}: {why[s]}"
        if not out[k]:
            out[k] = _landing_reason(
                stations.names[a], country[a], country[b], policy
            ) or _landing_reason(stations.names[b], country[b], country[a], policy)
    return out


def restrict_pairs(
    net: Network, policy: Policy, borders: Borders | None = None
) -> tuple[Network, np.ndarray, np.ndarray]:
    """``net`` with only the pairs ``policy`` lets route, and the blocked pairs with reasons.

    Returns ``(network, blocked_pairs, reasons)``; the network's elevation mask becomes the
    stricter of its own and the policy's ``min_elevation_deg`` (when the policy sets one).
    """
    reasons = pair_block_reasons(net.stations, net.pairs, policy, borders)
    ok = reasons == ""
    min_el = net.gsl_min_elevation_deg
    if policy.spec.min_elevation_deg is not None:
        min_el = np.maximum(min_el, policy.spec.min_elevation_deg)
    restricted = replace(net, pairs=net.pairs[ok], gsl_min_elevation_deg=min_el)
    return restricted, net.pairs[~ok], reasons[~ok]
