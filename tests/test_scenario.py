"""Scenario validation and the network it builds."""

from __future__ import annotations

import numpy as np
import pytest

from leosim.constellation import WalkerShell
from leosim.errors import InputError
from leosim.links import max_isl_length_m
from leosim.scenario import parse_scenario
from leosim.simulate import build_network, run_pairs


def _sc(**over):
    base = {
        "constellation": {"preset": "starlink-550-hypatia"},
        "ground_stations": {"builtin": "hypatia-top-100"},
        "links": {"gsl_cone_radius_km": 940.7},
        "routing": {"pairs": [["Paris", "Luanda"]]},
        "time": {"times_s": [0.0]},
    }
    for k, v in over.items():
        base[k] = v
    return parse_scenario(base, source="t.toml")


def test_swapped_planes_and_sats_is_refused():
    with pytest.raises(InputError, match=r"looks swapped.*72 planes of 22"):
        WalkerShell("mine", 22, 72, 53.0, altitude_km=550.0)
    # A genuinely different shell is fine, and so is an explicit opt-out.
    WalkerShell("mine", 22, 72, 60.0, altitude_km=550.0)
    WalkerShell("mine", 22, 72, 53.0, altitude_km=550.0, check_filing=False)


def test_swapped_shell_in_scenario_names_the_key():
    with pytest.raises(InputError) as e:
        build_network(
            _sc(
                constellation={
                    "shells": [
                        {
                            "name": "k",
                            "num_planes": 34,
                            "sats_per_plane": 34,
                            "inclination_deg": 51.9,
                            "altitude_km": 630,
                        },
                        {
                            "name": "t",
                            "num_planes": 13,
                            "sats_per_plane": 27,
                            "inclination_deg": 98.98,
                            "altitude_km": 1015,
                        },
                    ]
                }
            )
        )
    assert "constellation.shells[1]" in str(e.value) and "t.toml" in str(e.value)


def test_time_offsets_are_exact_multiples():
    sc = _sc(time={"duration_s": 200, "step_s": 0.1})
    t = sc.time.offsets_s()
    assert len(t) == 2000
    assert t[1234] == 1234 * 0.1 and t[-1] == 1999 * 0.1


@pytest.mark.parametrize(
    ("time", "key"),
    [
        ({"duration_s": 10, "step_s": 0}, "time.step_s"),
        ({"duration_s": -1, "step_s": 1}, "time.duration_s"),
        ({"duration_s": 10}, "time"),
        ({"duration_s": 10, "step_s": 1, "times_s": [0]}, "time"),
        ({"times_s": []}, "time.times_s"),
    ],
)
def test_bad_time_sections(time, key):
    with pytest.raises(InputError) as e:
        _sc(time=time)
    assert f"[{key}]" in str(e.value)


def test_two_gsl_rules_conflict():
    with pytest.raises(InputError, match="links"):
        _sc(links={"gsl_cone_radius_km": 940.7, "gsl_max_range_km": 1000})


def test_per_shell_isl_limit_and_default_elevation():
    sc = _sc(constellation={"preset": "starlink-gen1"}, links={})
    net = build_network(sc)
    assert net.num_sats == 4408
    # With no GSL rule the default minimum elevation (25 deg) applies to every satellite.
    assert np.all(net.gsl_min_elevation_deg == 25.0) and np.all(np.isinf(net.gsl_max_range_m))
    # ISLs of the 570 km shell get the 570 km grazing limit; those of the 540 km shell 540 km.
    lim = set(np.round(net.isl_max_length_m, 3))
    assert round(max_isl_length_m(570e3), 3) in lim and round(max_isl_length_m(540e3), 3) in lim


def test_all_pairs_and_destination_subset_agree():
    sc = _sc(
        ground_stations={"builtin": "hypatia-top-100"},
        routing={"pairs": [[24, 66], [66, 24], [17, 85]]},
    )
    net = build_network(sc)
    t = run_pairs(net, [0.0, 1.0])
    # The pair tables computed with only the needed destinations equal full state ones.
    from leosim.orbits import Orbits
    from leosim.routing import route_step

    pos = Orbits.from_constellation(net.constellation).ecef_m(net.start, [1.0])[0]
    full = route_step(
        pos,
        net.stations.ecef_m(),
        net.stations.up(),
        net.isl_pairs,
        max_range_m=net.gsl_max_range_m,
        max_isl_length_m=net.isl_max_length_m,
    )
    for k, (s, d) in enumerate([(24, 66), (66, 24), (17, 85)]):
        assert t.columns["rtt_ms"][3 + k] == pytest.approx(full.rtt_ms(s, d), abs=1e-9)
    sub = route_step(
        pos,
        net.stations.ecef_m(),
        net.stations.up(),
        net.isl_pairs,
        max_range_m=net.gsl_max_range_m,
        destinations=[66],
    )
    with pytest.raises(ValueError, match="no routing state"):
        sub.path(66, 24)


def test_wgs84_and_dut1_reach_the_network():
    from leosim.constants import WGS84
    from leosim.orbits import Orbits

    sc = _sc(
        constellation={
            "shells": [
                {
                    "name": "s",
                    "num_planes": 4,
                    "sats_per_plane": 5,
                    "inclination_deg": 53.0,
                    "altitude_km": 550.0,
                }
            ],
            "gravity": "WGS84",
        },
        time={"times_s": [0.0], "dut1_s": 0.3},
    )
    net = build_network(sc)
    assert net.ellipsoid == WGS84 and net.dut1_s == 0.3
    # The station positions follow the ellipsoid: Paris moves by metres between WGS72 and WGS84.
    assert abs(net.stations.ecef_m(WGS84)[24] - net.stations.ecef_m()[24]).max() > 1.0
    # UT1 - UTC rotates the Earth-fixed frame: 0.3 s is ~140 m at the equator, less elsewhere.
    o0 = Orbits.from_constellation(net.constellation).ecef_m(net.start, [0.0])[0]
    o1 = Orbits.from_constellation(net.constellation, dut1_s=0.3).ecef_m(net.start, [0.0])[0]
    shift = np.linalg.norm(o1 - o0, axis=1)
    rho = np.hypot(o0[:, 0], o0[:, 1])
    assert np.allclose(shift, rho * 7.292115e-5 * 0.3, rtol=1e-4)  # Earth rotation rate, rad/s
    with pytest.raises(InputError, match=r"time\.dut1_s"):
        _sc(time={"times_s": [0.0], "dut1_s": 2.0})


def test_real_catalogue_scenario_infers_structure_and_routes():
    from pathlib import Path

    tle = (
        Path(__file__).resolve().parents[2] / "shared" / "data" / "tle" / "starlink-2026-05-12.tle"
    )
    if not tle.is_file():
        pytest.skip("../shared is absent")
    sc = parse_scenario(
        {
            "constellation": {"tle": str(tle)},
            "ground_stations": {"builtin": "cities-top-100"},
            "routing": {"pairs": [["London", "New York"], ["Tokyo", "Sydney"]]},
            "time": {"times_s": [0.0, 60.0]},
        }
    )
    net = build_network(sc)
    # Satellites set aside (raising/lowering, between planes) are out of the network entirely.
    assert net.num_sats + len(net.constellation.set_aside) == 10_361
    assert 9_000 < net.num_sats < 10_361 and "set aside" in net.notes[-1]
    deg = np.bincount(net.isl_pairs.ravel(), minlength=net.num_sats)
    assert deg.max() <= 4 and np.mean(deg >= 2) > 0.99
    t = run_pairs(net, [0.0, 60.0])
    # London - New York over lasers: at least the great-circle light time (~37 ms round trip).
    rtt = t.columns["rtt_ms"][t.columns["src"] == net.stations.resolve("London")]
    assert np.all(np.isfinite(rtt)) and np.all(rtt > 2 * 5_570e3 / 299_792.458e3 * 1e3)


def test_two_workers_give_exactly_the_serial_results():
    from leosim.simulate import iter_chunks

    sc = _sc(
        routing={"pairs": [[24, 66], [17, 85]], "forwarding_state": True},
        time={"duration_s": 1.2, "step_s": 0.1},
    )
    net = build_network(sc)
    t = sc.time.offsets_s()

    def collect(workers):
        tables, fw = [], []
        for res in iter_chunks(net, t, forwarding=True, workers=workers, chunk_steps=3):
            tables.append(res.table)
            fw.append(res.forwarding)
        cols = {
            k: np.concatenate([x.columns[k] for x in tables])
            for k in ("time_s", "rtt_ms", "path_fwd", "path_rev")
        }
        rows = {k: np.concatenate([f[k] for f in fw]) for k in fw[0]}
        return cols, rows

    serial, fw1 = collect(1)
    parallel, fw2 = collect(2)
    for k in serial:
        assert np.array_equal(serial[k], parallel[k]), k
    # Forwarding state as changes only: the same rows either way (chunk seams included).
    for k in fw1:
        assert np.array_equal(fw1[k], fw2[k]), k
    assert len(fw1["node"]) > 100 * 1684  # the first step in full, then some changes


def test_steps_are_every_multiple_of_the_step_inside_the_window():
    """Steps at k * step_s for every k with k * step_s < duration_s, counted in exact decimal
    arithmetic (0.3 s at 0.2 s is two steps; 200 s at 0.1 s is 2,000, not 2,001)."""
    import random
    from decimal import ROUND_CEILING, Decimal

    from leosim.scenario import TimeSpec

    rng = random.Random(7)
    cases = [("0.3", "0.2"), ("200", "0.1"), ("5700", "60"), ("2.5", "1"), ("1", "1")]
    cases += [
        (f"{rng.randint(1, 5000) / 10:g}", f"{rng.choice([0.1, 0.2, 0.25, 1, 7.5, 60]):g}")
        for _ in range(200)
    ]
    for d, s in cases:
        if Decimal(d) < Decimal(s):
            continue
        # #{k >= 0 : k s < d} = ceil(d / s), in exact decimals
        want = int((Decimal(d) / Decimal(s)).to_integral_value(rounding=ROUND_CEILING))
        got = TimeSpec(duration_s=float(d), step_s=float(s)).num_steps
        assert got == want, (d, s, got, want)
