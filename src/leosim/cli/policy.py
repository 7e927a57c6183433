"""``leosim policy evaluate`` and ``leosim policy compare``."""

from __future__ import annotations

import contextlib
import re
import unicodedata
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from ..errors import InputError, LeosimError
from . import _execution as xo
from ._util import TYPER_SETTINGS, out_console, outputs_line, plural, step_progress
from ._util import fail as _fail

app = typer.Typer(
    help="Service policy: who is served where, and what changes.",
    no_args_is_help=True,
    **TYPER_SETTINGS,
)


MAX_LABEL_BYTES = 160
"""Longest policy label in output file names, UTF-8 bytes (``terminals_<label>.parquet`` must
stay a legal file name: 255 bytes on most file systems)."""


def policy_labels(paths: list[Path]) -> list[str]:
    """File-name labels of several policies (their file stems: letters of any script, digits,
    ``.``, ``_``, ``-``; at most :data:`MAX_LABEL_BYTES`), refused when two coincide, also
    when they differ only in case (one file on a case-insensitive file system)."""
    labels: list[str] = []
    seen: dict[str, str] = {}
    for p in paths:
        stem = unicodedata.normalize("NFC", Path(p).stem)
        label = re.sub(r"[^\w.-]+", "_", stem).strip("._")
        label = label.encode()[:MAX_LABEL_BYTES].decode(errors="ignore") or "policy"
        if label.casefold() in seen:
            other = seen[label.casefold()]
            both = label if other == label else f"{other} and {label}"
            raise InputError(
                f"two policies would write the same files ({both}): give them different file names",
                source=p,
                key="--policy",
            )
        seen[label.casefold()] = label
        labels.append(label)
    return labels


def _ms(x: float) -> str:
    return "-" if not np.isfinite(x) else f"{x:.1f}"


def _print_countries(table, title: str, limit: int = 15) -> None:
    t = Table(title=title)
    cols = (
        "country",
        "terminals",
        "served %",
        "RTT to PoP ms",
        "PoP",
        "RTT to gateway ms",
        "foreign landing %",
        "lands in",
    )
    for c in cols:
        t.add_column(
            c, justify="left" if c in ("country", "PoP", "lands in") else "right", overflow="fold"
        )
    order = np.argsort(-np.asarray(table["weight"], dtype=float))[:limit]
    for i in order:
        fl = table["foreign_landing_share"][i]
        t.add_row(
            str(table["country"][i]),
            str(table["terminals"][i]),
            f"{100 * table['served_share'][i]:.1f}",
            _ms(table["median_rtt_pop_ms"][i]),
            str(table["pops"][i]).split(":")[0],
            _ms(table["median_rtt_gateway_ms"][i]),
            "-" if not np.isfinite(fl) else f"{100 * fl:.1f}",
            str(table["landing"][i])[:48],
        )
    out_console.print(t)


@app.command()
def evaluate(
    scenario: Annotated[
        Path, typer.Argument(help="Scenario TOML (constellation, links, time, terminals).")
    ],
    policy: Annotated[
        list[Path],
        typer.Option(
            "--policy",
            "-p",
            help="Policy TOML. Repeat it to evaluate several policies on the same terminals "
            "and times: one table, policies.csv, and each policy's files named after it.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "leosim-policy"
    ),
    terminals: Annotated[
        Path | None, typer.Option(help="Terminals CSV (terminal_id,latitude_deg,longitude_deg).")
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar or tables.")
    ] = False,
    workers: xo.Workers = None,
    executor: xo.Executor = None,
    address: xo.Address = None,
    chunk_s: xo.ChunkS = None,
    resume: xo.Resume = False,
) -> None:
    """Who is served where under a policy: terminals.csv, countries.csv and a map.

    The time window is computed in chunks on the executor of [execution] or --executor (the
    same files on every executor); --resume continues an interrupted evaluation."""
    from ..borders import Borders
    from ..ground_segment import scenario_terminals
    from ..policy import load_policy
    from ..simulate import build_network

    try:
        sc, opts = xo.load_checked(scenario, out, workers, executor, address, chunk_s, resume)
        labels = policy_labels(policy) if len(policy) > 1 else [""]
        borders = Borders.default()
        pols = [load_policy(p, borders=borders) for p in policy]
        terms = scenario_terminals(sc, borders, terminals)
        net = build_network(sc)
        texts = [Path(scenario).read_bytes(), *(Path(p).read_bytes() for p in policy)]
        o, tables = evaluate_chunked(
            sc,
            net,
            pols,
            terms,
            borders,
            out,
            texts=texts,
            labels=labels,
            quiet=quiet,
            workers=workers,
            **opts,
        )
    except LeosimError as exc:
        _fail(exc)
    if not quiet:
        title = f"{plural(len(terms), 'terminal')}, {plural(len(sc.time.offsets_s()), 'step')}"
        if len(pols) == 1:
            _print_countries(tables[0], f"{pols[0].name} ({title})")
        else:
            _print_policies(labels, tables, title)
        out_console.print(outputs_line(out, o.files), soft_wrap=True)


def evaluate_chunked(
    sc,
    net,
    pols: list,
    terms,
    borders,
    out: Path,
    *,
    texts: list[bytes],
    labels: list[str],
    quiet: bool = True,
    workers: int | None = None,
    executor: str | None = None,
    address: str | None = None,
    chunk_s: float | None = None,
    resume: bool = False,
):
    """Evaluate policies ``pols`` over the scenario's window in chunks and write the output
    folder ``out``; return it (:class:`~leosim.outputs.OutputDir`) and the country tables.

    ``texts`` are the scenario's and the policies' file contents (scenario first), copied into
    the folder and part of the resume fingerprint; ``labels`` suffix each policy's file names
    (:func:`policy_labels`; ``[""]`` for one policy).  See :func:`chunked_evaluation`.
    """
    from ..outputs import OutputDir

    kw = dict(quiet=quiet, workers=workers, executor=executor, address=address)
    with chunked_evaluation(
        sc, net, pols, terms, borders, out, texts=texts, chunk_s=chunk_s, resume=resume, **kw
    ) as tables_of:
        with OutputDir(out) as o:
            tables = []
            for k, p in enumerate(pols):
                tt, ct = tables_of(k)
                _write_evaluation(o, sc, tt, ct, p, texts[1 + k], labels[k], borders)
                tables.append(ct)
                del tt
            if len(pols) > 1:
                _write_policies_csv(o, labels, pols, tables)
            o.path("scenario.toml").write_bytes(texts[0])
    return o, tables


@contextlib.contextmanager
def chunked_evaluation(sc, net, pols: list, *args, quiet: bool = True, **kw):
    """:func:`leosim.chunked_policy.chunked_evaluation` (same arguments) with a progress bar
    per policy of ``pols`` (none if ``quiet``)."""
    from ..chunked_policy import chunked_evaluation as core

    state: dict = {}

    def on_start(ch, done: list[int]) -> None:
        state["ch"] = ch
        state["bars"] = [progress.add_task(p.name, total=len(ch.t_s)) for p in pols]
        for j in done:
            progress.advance(state["bars"][ch.policy_of(j)], ch.plan[j][1] - ch.plan[j][0])

    def on_chunk(j: int, res) -> None:
        progress.advance(state["bars"][state["ch"].policy_of(j)], len(res.rtt_gw_ms))

    with (
        step_progress(quiet) as progress,
        core(sc, net, pols, *args, on_start=on_start, on_chunk=on_chunk, **kw) as tables_of,
    ):
        yield tables_of


def _write_evaluation(o, sc, tt, ct, pol, policy_text: bytes, label: str, borders) -> None:
    """One policy's terminals.csv, countries.csv (tables ``tt``, ``ct``), map and policy copy
    (suffixed by ``label``)."""
    from ..outputs import write_table
    from ..reports import plot_policy_maps

    def name(stem: str, ext: str) -> str:
        return f"{stem}_{label}{ext}" if label else f"{stem}{ext}"

    write_table(o, name("terminals", ".csv"), tt, parquet=sc.output.parquet)
    write_table(o, name("countries", ".csv"), ct)
    if sc.output.plot:
        plot_policy_maps(
            tt,
            {k: o.path(name(k, ".png")) for k in ("map", "map_rtt", "map_landing")},
            policy=pol,
            borders=borders,
        )
    o.path(name("policy", ".toml")).write_bytes(policy_text)


def _write_policies_csv(o, labels: list[str], pols, tables: list[dict]) -> None:
    """``policies.csv``: every policy's country table, stacked, led by the policy's label."""
    from ..outputs import write_table

    stacked: dict[str, list] = {"policy": [], "policy_name": []}
    for label, pol, ct in zip(labels, pols, tables, strict=True):
        n = len(ct["country"])
        stacked["policy"] += [label] * n
        stacked["policy_name"] += [pol.name] * n
        for k, v in ct.items():
            stacked.setdefault(k, []).extend(list(v))
    write_table(
        o,
        "policies.csv",
        {
            k: np.asarray(v, dtype=object if isinstance(v[0], str) else None)
            for k, v in stacked.items()
        },
    )


def _print_policies(labels: list[str], tables: list[dict], title: str, limit: int = 8) -> None:
    """One table: for each policy (by file name), its countries, largest first, with the RTT to
    the PoP and its light-time parts (the access overhead, the same for all, in the title)."""
    overhead = next((float(v) for ct in tables for v in ct["overhead_ms"] if np.isfinite(v)), None)
    extra = f"; RTT = radio + lasers + fibre + {overhead:.1f} ms overhead" if overhead else ""
    t = Table(title=f"{plural(len(labels), 'policy', 'policies')} ({title}{extra})")
    cols = (
        "policy",
        "country",
        "served %",
        "RTT to PoP ms",
        "PoP",
        "radio",
        "lasers",
        "fibre",
        "lands in",
    )
    for c in cols:
        t.add_column(
            c,
            justify="left" if c in ("policy", "country", "PoP", "lands in") else "right",
            overflow="fold",  # never "taiwa…" for four policies that all start alike
        )
    for label, ct in zip(labels, tables, strict=True):
        order = np.argsort(-np.asarray(ct["weight"], dtype=float), kind="stable")[:limit]
        for j, i in enumerate(order):
            t.add_row(
                label if j == 0 else "",
                str(ct["country"][i]),
                f"{100 * ct['served_share'][i]:.1f}",
                _ms(ct["median_rtt_pop_ms"][i]),
                str(ct["pops"][i]).split(":")[0] if ct["pops"][i] else "-",
                _ms(ct["radio_ms"][i]),
                _ms(ct["lasers_ms"][i]),
                _ms(ct["fibre_ms"][i]),
                _landing(ct["landing"][i]),
                end_section=j == len(order) - 1,
            )
    out_console.print(t)


def _landing(text: str, limit: int = 3) -> str:
    """``PHL 98%, JPN 2%`` from ``PHL:0.980;JPN:0.020``."""
    if not text:
        return "-"
    parts = [p.rsplit(":", 1) for p in str(text).split(";")[:limit]]
    return ", ".join(f"{c} {_percent(float(s))}" for c, s in parts)


def _percent(share: float) -> str:
    return "<1%" if 0 < share < 0.005 else f"{100 * share:.0f}%"


@app.command()
def compare(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML.")],
    policy_a: Annotated[Path, typer.Argument(help="Policy A (the baseline).")],
    policy_b: Annotated[Path, typer.Argument(help="Policy B (the what-if).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "leosim-compare"
    ),
    terminals: Annotated[Path | None, typer.Option(help="Terminals CSV.")] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar or tables.")
    ] = False,
    workers: xo.Workers = None,
    executor: xo.Executor = None,
    address: xo.Address = None,
    chunk_s: xo.ChunkS = None,
    resume: xo.Resume = False,
) -> None:
    """What changes from policy A to B, per country, with a difference map.

    Both policies are computed in chunks on the executor of [execution] or --executor (the
    same files on every executor); --resume continues an interrupted comparison."""
    from ..borders import Borders
    from ..ground_segment import scenario_terminals
    from ..outputs import OutputDir, write_table
    from ..policy import load_policy
    from ..reports import plot_service_map
    from ..service import compare as compare_results
    from ..simulate import build_network

    try:
        sc, opts = xo.load_checked(scenario, out, workers, executor, address, chunk_s, resume)
        borders = Borders.default()
        pa_, pb_ = load_policy(policy_a, borders=borders), load_policy(policy_b, borders=borders)
        terms = scenario_terminals(sc, borders, terminals)
        net = build_network(sc)
        texts = [Path(p).read_bytes() for p in (scenario, policy_a, policy_b)]
        with chunked_evaluation(
            sc,
            net,
            [pa_, pb_],
            terms,
            borders,
            out,
            texts=texts,
            command="policy compare",
            quiet=quiet,
            workers=workers,
            **opts,
        ) as tables_of:
            (ta, ca), (tb, cb) = tables_of(0), tables_of(1)
            diff = compare_results(_Tables(ca), _Tables(cb), borders)
            per_term = _compare_terminals(ta, tb)
            with OutputDir(out) as o:
                write_table(o, "compare.csv", diff)
                write_table(o, "terminals.csv", per_term, parquet=sc.output.parquet)
                write_table(o, "countries_a.csv", ca)
                write_table(o, "countries_b.csv", cb)
                if sc.output.plot:
                    plot_service_map(
                        per_term,
                        o.path("diff_map.png"),
                        borders=borders,
                        value="served_fraction_change",
                        diverging=True,
                        title=f"served fraction, B ({pb_.name}) minus A ({pa_.name})",
                        gateways=pb_.gateways,
                        zones=pb_.zones,
                    )
                for name, text in zip(
                    ("policy_a.toml", "policy_b.toml", "scenario.toml"),
                    (*texts[1:], texts[0]),
                    strict=True,
                ):
                    o.path(name).write_bytes(text)
    except LeosimError as exc:
        _fail(exc)
    if quiet:
        return
    t = Table(title=f"A: {pa_.name}  →  B: {pb_.name}")
    for c in (
        "country",
        "served % A",
        "served % B",
        "RTT to PoP A",
        "RTT to PoP B",
        "lands in (B)",
    ):
        t.add_column(
            c, justify="left" if c in ("country", "lands in (B)") else "right", overflow="fold"
        )
    changed = np.flatnonzero(
        (np.abs(diff["served_share_change"]) > 1e-9) | (diff["landing_a"] != diff["landing_b"])
    )
    for i in changed[:25]:

        def f(x, scale=1.0):
            return "-" if not np.isfinite(x) else f"{scale * x:.1f}"

        t.add_row(
            str(diff["country"][i]),
            f(diff["served_share_a"][i], 100),
            f(diff["served_share_b"][i], 100),
            f(diff["median_rtt_pop_ms_a"][i]),
            f(diff["median_rtt_pop_ms_b"][i]),
            str(diff["landing_b"][i])[:40],
        )
    out_console.print(t)
    if len(changed) == 0:
        out_console.print("no country changes between A and B")
    out_console.print(outputs_line(out, o.files), soft_wrap=True)


class _Tables:
    """A policy's merged country table where :func:`leosim.service.compare` asks a result."""

    def __init__(self, countries: dict[str, np.ndarray]) -> None:
        self._countries = countries

    def country_table(self, borders=None) -> dict[str, np.ndarray]:
        return self._countries


def _compare_terminals(ta: dict, tb: dict) -> dict[str, np.ndarray]:
    """Columns of ``compare``'s terminals.csv from the two terminal tables."""
    out = {k: ta[k] for k in ("terminal_id", "latitude_deg", "longitude_deg", "country")}
    out["served_fraction_a"] = ta["served_fraction"]
    out["served_fraction_b"] = tb["served_fraction"]
    out["served_fraction_change"] = tb["served_fraction"] - ta["served_fraction"]
    for k in (
        "median_rtt_pop_ms",
        "pop",
        "gateway",
        "median_rtt_gateway_ms",
        "gateway_countries",
    ):
        out[f"{k}_a"], out[f"{k}_b"] = ta[k], tb[k]
    return out
