"""Tests of leosim.ground_segment: built-in data, CSV readers and their errors, terminal sampling."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from leosim.borders import EARTH_MEAN_RADIUS_KM, Borders, data_path
from leosim.errors import InputError
from leosim.ground_segment import (
    GATEWAY_STATUSES,
    builtin_gateways,
    builtin_pops,
    populated_places,
    read_gateways_csv,
    read_pops_csv,
    read_terminals_csv,
    sample_terminals,
)

SHARED = Path(__file__).resolve().parents[2] / "shared"
GROUND = SHARED / "data" / "starlink-ground"


def haversine_km(lat1, lon1, lat2, lon2):
    lat1, lon1, lat2, lon2 = map(np.radians, (lat1, lon1, lat2, lon2))
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_MEAN_RADIUS_KM * np.arcsin(np.sqrt(a))


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------ built-in data
def test_builtin_gateways_counts_match_the_data_readme():
    # shared/data/starlink-ground/README.md: 340 rows, 196 operational, 3 TT&C sites, 36 countries
    everything = builtin_gateways(None, include_ttc=True)
    assert len(everything) == 340
    assert len(set(everything.country.tolist())) == 36
    assert int(np.sum(everything.status == "operational")) == 196
    assert sum("TT&C" in n for n in everything.name) == 3
    assert int(np.sum(everything.country == "USA")) == 212
    default = builtin_gateways()
    assert set(default.status.tolist()) == {"operational"}
    assert not any("TT&C" in n for n in default.name)
    assert len(default) == 196 - sum(
        "TT&C" in n for n, s in zip(everything.name, everything.status, strict=True)
        if s == "operational"
    )  # fmt: skip
    assert len(builtin_gateways(("planned", "construction"))) == 92 + 18
    with pytest.raises(InputError, match="'built'"):
        builtin_gateways("built")


def test_builtin_gateway_countries_match_the_borders():
    gw = builtin_gateways(None, include_ttc=True)
    assert set(gw.status.tolist()) <= set(GATEWAY_STATUSES)
    found = Borders.default().country_of(gw.latitude_deg, gw.longitude_deg, territorial_sea_km=0)
    # The README: 15 coastal gateways fall just outside the 50m coastline and got the nearest
    # country; every other one is inside the polygon of its country.
    differs = found != gw.country
    assert differs.sum() == 15
    assert set(found[differs].tolist()) == {""}
    # With the 12 nm territorial sea they are all in the waters of the country listed.
    np.testing.assert_array_equal(
        Borders.default().country_of(gw.latitude_deg, gw.longitude_deg), gw.country
    )


def test_builtin_pops():
    pops = builtin_pops()
    assert len(pops) == 64
    assert len(set(pops.code.tolist())) == 64
    assert "krcipak1" in pops.code.tolist()
    i = pops.code.tolist().index("acklnzl1")
    assert pops.city[i] == "Auckland" and pops.country[i] == "NZL"
    assert len(set(pops.country.tolist())) == 32


@pytest.mark.parametrize("name", ["gateways.csv", "pops.csv"])
def test_shipped_ground_files_are_exact_copies(name):
    src = GROUND / name
    if not src.exists():
        pytest.skip("shared/ data not available")
    assert data_path(f"starlink_{name}").read_bytes() == src.read_bytes()


def test_populated_places_lie_in_their_country():
    places = populated_places()
    assert 7000 < len(places) <= 7343
    assert (places.pop_max > 0).all()
    found = Borders.default().country_of(places.latitude_deg, places.longitude_deg)
    np.testing.assert_array_equal(found, places.country)


# ------------------------------------------------------------------ CSV readers
def test_read_gateways_csv_ok(tmp_path):
    path = write(
        tmp_path,
        "gw.csv",
        "\ufeffname,latitude_deg,longitude_deg,country,status,extra\n"
        '"Paris, FR",48.857,2.352,FRA,operational,x\n'
        "\n"
        "Nowhere,30.0,-40.0,,planned,y\n"
        "Taipei,25.033,121.565,,,z\n",
    )
    gw = read_gateways_csv(path)
    assert gw.name.tolist() == ["Paris, FR", "Nowhere", "Taipei"]
    assert gw.country.tolist() == ["FRA", "", "TWN"]  # blank: looked up in the borders
    assert gw.status.tolist() == ["operational", "planned", "unknown"]
    np.testing.assert_allclose(gw.latitude_deg, [48.857, 30.0, 25.033])
    sub = gw.select(gw.country != "")
    assert len(sub) == 2 and sub.name.tolist() == ["Paris, FR", "Taipei"]


def test_read_gateways_csv_alias_and_default_status(tmp_path):
    path = write(tmp_path, "gw.csv", "name,latitude_deg,longitude_deg,country_adm0_a3\nA,1,2,KOS\n")
    gw = read_gateways_csv(path)
    assert gw.country.tolist() == ["KOS"] and gw.status.tolist() == ["operational"]


BAD_GATEWAYS = [
    ("name,latitude_deg,longitude_deg,country\nA,10,20,FRA\nB,95,20,FRA\n", 3, "latitude_deg",
     r"must be in \[-90, 90\], got 95"),
    ("name,latitude_deg,longitude_deg,country\nA,10,abc,FRA\n", 2, "longitude_deg",
     "not a number: 'abc'"),
    ("name,latitude_deg,longitude_deg,country\nA,10,200,FRA\n", 2, "longitude_deg",
     r"\[-180, 180\]"),
    ("name,latitude_deg,longitude_deg,country\nA,nan,20,FRA\n", 2, "latitude_deg", "got nan"),
    ("name,latitude_deg,longitude_deg,country\nA,10,20,FRN\n", 2, "country",
     r"unknown country code 'FRN'; did you mean FRA \(France\)"),
    ("name,latitude_deg,longitude_deg,country,status\nA,10,20,FRA,live\n", 2, "status",
     "unknown status 'live'"),
    ("name,latitude_deg,longitude_deg,country\n,10,20,FRA\n", 2, "name", "empty value"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "column", "message"), BAD_GATEWAYS)
def test_read_gateways_csv_errors_name_file_line_and_column(tmp_path, text, line, column, message):
    path = write(tmp_path, "gw.csv", text)
    with pytest.raises(InputError, match=message) as exc:
        read_gateways_csv(path)
    err = exc.value
    assert (err.source, err.line, err.key) == (str(path), line, column)
    assert str(err).startswith(f"{path}:{line}: [{column}] ")


def test_missing_column_and_ragged_rows(tmp_path):
    path = write(tmp_path, "gw.csv", "name,lat,longitude_deg\nA,1,2\n")
    with pytest.raises(InputError, match="missing column 'latitude_deg'") as exc:
        read_gateways_csv(path)
    assert exc.value.line == 1 and "gw.csv:1:" in str(exc.value)
    path = write(tmp_path, "gw2.csv", "name,latitude_deg,longitude_deg\nA,1,2\nB,1\n")
    with pytest.raises(InputError, match="2 fields, but the header has 3") as exc:
        read_gateways_csv(path)
    assert exc.value.line == 3
    with pytest.raises(InputError, match="empty file"):
        read_gateways_csv(write(tmp_path, "empty.csv", ""))
    with pytest.raises(InputError, match="cannot read"):
        read_gateways_csv(tmp_path / "absent.csv")


def test_line_numbers_count_physical_lines(tmp_path):
    # A quoted field spanning two lines: the bad row after it is on line 4 of the file.
    text = 'name,latitude_deg,longitude_deg\n"two\nlines",1,2\nB,-91,2\n'
    with pytest.raises(InputError) as exc:
        read_gateways_csv(write(tmp_path, "gw.csv", text))
    assert exc.value.line == 4


def test_read_pops_csv_duplicate_code(tmp_path):
    path = write(
        tmp_path,
        "pops.csv",
        "code,city,latitude_deg,longitude_deg\nabc1,X,1,2\nabc2,Y,1,2\nabc1,Z,1,2\n",
    )
    with pytest.raises(InputError, match=r"duplicate code 'abc1' \(first on line 2\)") as exc:
        read_pops_csv(path)
    assert (exc.value.line, exc.value.key) == (4, "code")


def test_read_terminals_csv(tmp_path):
    path = write(
        tmp_path,
        "t.csv",
        "terminal_id,latitude_deg,longitude_deg\nt1,48.857,2.352\nt2,30.0,-40.0\nt3,44.952,34.102\n",
    )
    t = read_terminals_csv(path)
    assert t.terminal_id.tolist() == ["t1", "t2", "t3"]
    assert t.country.tolist() == ["FRA", "", "RUS"]  # a ship at sea has no country
    assert t.weight.tolist() == [1.0, 1.0, 1.0]
    path = write(tmp_path, "t2.csv", "terminal_id,latitude_deg,longitude_deg,weight\nt1,1,2,-3\n")
    with pytest.raises(InputError, match="weight") as exc:
        read_terminals_csv(path)
    assert exc.value.line == 2
    path = write(tmp_path, "t3.csv", "terminal_id,latitude_deg,longitude_deg\nt1,1,2\nt1,3,4\n")
    with pytest.raises(InputError, match="duplicate terminal_id 't1'") as exc:
        read_terminals_csv(path)
    assert str(exc.value).startswith(f"{path}:3: [terminal_id]")


def test_gateways_roundtrip_through_csv(tmp_path):
    gw = builtin_gateways(None, include_ttc=True)
    path = tmp_path / "gw.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["name", "latitude_deg", "longitude_deg", "country", "status"])
        for row in zip(
            gw.name, gw.latitude_deg, gw.longitude_deg, gw.country, gw.status, strict=True
        ):
            w.writerow([row[0], repr(float(row[1])), repr(float(row[2])), row[3], row[4]])
    back = read_gateways_csv(path)
    for name in ("name", "latitude_deg", "longitude_deg", "country", "status"):
        np.testing.assert_array_equal(getattr(back, name), getattr(gw, name))


# ------------------------------------------------------------------ terminal sampling
def test_sample_terminals_per_country():
    b = Borders.default()
    t = sample_terminals(["FRA", "TWN", "KOS"], n_per_country=500, seed=3)
    assert len(t) == 1500
    assert len(set(t.terminal_id.tolist())) == 1500
    np.testing.assert_array_equal(b.country_of(t.latitude_deg, t.longitude_deg), t.country)
    for code in ("FRA", "TWN", "KOS"):
        m = t.country == code
        assert m.sum() == 500
        assert t.weight[m].sum() == pytest.approx(b.population_of(code))
    again = sample_terminals(["FRA", "TWN", "KOS"], n_per_country=500, seed=3)
    np.testing.assert_array_equal(again.latitude_deg, t.latitude_deg)
    other = sample_terminals(["FRA", "TWN", "KOS"], n_per_country=500, seed=4)
    assert not np.array_equal(other.latitude_deg, t.latitude_deg)


def test_sample_terminals_stay_within_jitter_of_a_place():
    places = populated_places()
    t = sample_terminals("TWN", n_per_country=400, seed=5, jitter_km=5.0)
    twn = places.country == "TWN"
    d = haversine_km(
        t.latitude_deg[:, None], t.longitude_deg[:, None],
        places.latitude_deg[twn][None, :], places.longitude_deg[twn][None, :],
    ).min(axis=1)  # fmt: skip
    assert d.max() <= 5.0 * 1.01
    assert np.median(d) > 1.0  # actually jittered, not sitting on the places
    exact = sample_terminals("TWN", n_per_country=50, seed=5, jitter_km=0.0)
    d0 = haversine_km(
        exact.latitude_deg[:, None], exact.longitude_deg[:, None],
        places.latitude_deg[twn][None, :], places.longitude_deg[twn][None, :],
    ).min(axis=1)  # fmt: skip
    assert d0.max() < 1e-6


def test_sample_terminals_follow_population():
    # Share of French terminals near Paris must match the pop_max share of places near Paris.
    places = populated_places()
    fra = places.country == "FRA"
    d_places = haversine_km(places.latitude_deg[fra], places.longitude_deg[fra], 48.857, 2.352)
    pop = places.pop_max[fra]
    share_15 = pop[d_places <= 15].sum() / pop.sum()
    share_25 = pop[d_places <= 25].sum() / pop.sum()
    t = sample_terminals("FRA", n_per_country=20_000, seed=11, jitter_km=5.0)
    observed = np.mean(haversine_km(t.latitude_deg, t.longitude_deg, 48.857, 2.352) <= 20)
    assert share_15 > 0.2  # Paris's pop_max dominates France's places
    assert share_15 - 0.015 <= observed <= share_25 + 0.015


def test_sample_terminals_total_allocation():
    b = Borders.default()
    t = sample_terminals(["IND", "FRA", "NRU"], n_total=1000, seed=0)
    counts = {c: int(np.sum(t.country == c)) for c in ("IND", "FRA", "NRU")}
    assert sum(counts.values()) == 1000
    pops = {c: b.population_of(c) for c in counts}
    total = sum(pops.values())
    for c, n in counts.items():
        assert abs(n - 1000 * pops[c] / total) <= 1.0
    assert counts["NRU"] == 0  # 9,642 people out of 1.35 billion


def test_sample_terminals_country_without_places():
    assert not np.any(populated_places().country == "HMD")
    t = sample_terminals(["HMD"], n_per_country=20, seed=0)
    assert Borders.default().contains("HMD", t.latitude_deg, t.longitude_deg).all()


def test_sample_terminals_bad_arguments():
    with pytest.raises(InputError, match=r"'FRN'; did you mean FRA"):
        sample_terminals(["FRN"], n_per_country=1)
    with pytest.raises(InputError, match="exactly one"):
        sample_terminals(["FRA"], n_per_country=1, n_total=2)
    with pytest.raises(InputError, match="exactly one"):
        sample_terminals(["FRA"])
    with pytest.raises(InputError, match="integer"):
        sample_terminals(["FRA"], n_per_country=-1)
    with pytest.raises(InputError, match="no countries"):
        sample_terminals([], n_total=5)
