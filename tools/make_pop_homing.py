"""Derive leosim's country/region → PoP homing table from Starlink's public GeoIP feed.

Input: a dated snapshot of the feed (geoip.starlinkisp.net/feed.csv) joined with reverse-DNS
names, as in ``../shared/data/starlink-ground/geoip-pops-ptr-2025-12-15.csv`` (columns
``cidr,country,region,city,pop,code,dns_ptr,pop_dns_ptr_match``; from
github.com/clarkzjw/starlink-geoip-data, ``geoip/202512/``).

Rule: an address block's PoP is the one its reverse-DNS name ``customer.<pop>.pop.starlinkisp.net``
names (what traffic uses), else the feed's ``pop`` column.  Blocks with no PoP, or whose PoP is not
a ground PoP in ``leosim/data/starlink_pops.csv`` (cruise ships, staging placeholders), are dropped
and counted.  Output: one row per (country, region, PoP) with the number of address blocks.

    python tools/make_pop_homing.py ../shared/data/starlink-ground/geoip-pops-ptr-2025-12-15.csv
"""

from __future__ import annotations

import csv
import re
import sys
from collections import Counter
from pathlib import Path

OUT = Path(__file__).parents[1] / "src/leosim/data/starlink_pop_homing_2025-12-15.csv"
POPS = Path(__file__).parents[1] / "src/leosim/data/starlink_pops.csv"
_PTR = re.compile(r"^customer\.([a-z0-9]+)\.pop\.starlinkisp\.net\.?$")


def block_pop(row: dict) -> str:
    m = _PTR.match((row.get("dns_ptr") or "").strip())
    return m.group(1) if m else (row.get("pop") or "").strip()


def main(src: str) -> None:
    with open(POPS, newline="", encoding="utf-8") as fh:
        known = {r["code"] for r in csv.DictReader(fh)}
    counts: Counter = Counter()
    dropped: Counter = Counter()
    with open(src, newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            pop = block_pop(row)
            if pop not in known:
                dropped[pop or "(none)"] += 1
                continue
            counts[(row["country"].strip().upper(), row["region"].strip().upper(), pop)] += 1
    with open(OUT, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["country_iso2", "region_iso", "pop", "address_blocks"])
        for (c, r, p), n in sorted(counts.items()):
            w.writerow([c, r, p, n])
    print(f"{OUT.name}: {len(counts)} rows, {sum(counts.values())} blocks, "
          f"{len({k[0] for k in counts})} countries; dropped {sum(dropped.values())}: {dict(dropped)}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else
         str(Path(__file__).parents[2] / "shared/data/starlink-ground/geoip-pops-ptr-2025-12-15.csv"))
