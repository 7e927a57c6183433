"""One self-contained HTML file from any leosim output folder (``leosim report DIR``).

The folder's ``manifest.json`` (:mod:`leosim.outputs`) says what leosim wrote there; the
report shows, in this order: what kind of run it was and its scenario name, every file with its
size and whether its SHA-256 still matches the manifest, the plots (PNG inlined as base64
``data:`` URLs), the tables (CSV as HTML tables, long ones cut to their first rows with the
count of the rest), and the scenario and policy TOML as written.  Every value taken from the
folder is HTML-escaped; the page has no script, no external reference, and a
Content-Security-Policy that forbids any network request, so it opens the same offline.

Kinds, recognised by the files they write: ``run`` (routes.csv), ``policy compare``
(compare.csv), ``policy evaluate`` (terminals.csv and countries.csv), ``coverage`` (grid.csv)
and ``capacity`` (servable.csv).

>>> _kind({"routes.csv", "summary.csv"})
'run'
>>> _kind({"notes.txt"})
'output'
"""

from __future__ import annotations

import base64
import csv
import datetime as _dt
import html
import json
import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ._io import file_kind
from .errors import InputError, quote
from .outputs import MANIFEST, atomic_output_file, sha256_file

MAX_TABLE_ROWS = 200
"""Rows of each table shown in the report; the rest are counted, not shown."""
MAX_TEXT_BYTES = 1 << 20
"""Largest TOML or text file shown whole (1 MiB); larger ones are listed only."""
MAX_PNG_BYTES = 32 << 20
"""Largest plot inlined (32 MiB)."""
MAX_MANIFEST_BYTES = 64 << 20
"""Largest manifest.json read (64 MiB; a run's lists a handful of files)."""

_KINDS = (
    ("run", ("routes.csv",)),
    ("policy compare", ("compare.csv",)),
    ("policy evaluate", ("terminals.csv", "countries.csv")),
    ("policy evaluate", ("policies.csv",)),
    ("export hypatia", ("tles.txt", "isls.txt", "ground_stations.txt")),
    ("coverage", ("grid.csv",)),
    ("capacity", ("servable.csv",)),
)
_TABLE_ORDER = (
    "summary.csv",
    "compare.csv",
    "countries.csv",
    "countries_a.csv",
    "countries_b.csv",
    "bands.csv",
    "population_countries.csv",
    "servable.csv",
    "links_by_kind.csv",
)
"""The small summary tables come first; the per-step or per-terminal ones after them."""
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:2em}
table{border-collapse:collapse;font-size:12px;margin:.5em 0}
th,td{border:1px solid #ddd;padding:2px 6px;vertical-align:top}th{background:#f3f3f3}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.scroll{overflow-x:auto;max-height:600px;overflow-y:auto}
pre{background:#f7f7f7;border:1px solid #ddd;padding:.7em;overflow-x:auto;font-size:12px}
img{max-width:100%;border:1px solid #eee}.bad{color:#b00;font-weight:bold}.note{color:#666}
"""


@dataclass(frozen=True)
class OutputFile:
    """One file listed in the manifest: its name, path, size and SHA-256 check."""

    name: str
    path: Path
    size_bytes: int
    sha256_ok: bool


def _kind(names: set[str]) -> str:
    for kind, needs in _KINDS:
        if all(n in names for n in needs):
            return kind
    return "output"


def read_manifest(folder: str | Path) -> tuple[dict, list[OutputFile]]:
    """The manifest of a leosim output folder and its files, checked.

    InputError (one line) when ``folder`` is missing or not a folder, has no readable
    ``manifest.json``, or the manifest names a file that is absent, not a regular file or
    not a plain file name inside the folder.
    """
    d = Path(folder)
    if not os.path.lexists(d):
        raise InputError("does not exist: give a leosim output folder", source=d)
    if not d.is_dir():
        raise InputError(
            f"is {file_kind(os.stat(d).st_mode)}, not a folder: give a leosim output folder",
            source=d,
        )
    try:
        too_big = os.stat(d / MANIFEST).st_size > MAX_MANIFEST_BYTES
        with open(d / MANIFEST, encoding="utf-8") as fh:
            manifest = None if too_big else json.load(fh)
    except FileNotFoundError:
        raise InputError(
            f"has no {MANIFEST}: not a leosim output folder (or one still being written)",
            source=d,
        ) from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InputError(f"cannot be read: {exc}", source=d / MANIFEST) from None
    if too_big:
        raise InputError(
            f"is over {MAX_MANIFEST_BYTES >> 20} MiB: not a leosim manifest", source=d / MANIFEST
        )
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict):
        raise InputError("has no 'files' table: not a leosim manifest", source=d / MANIFEST)
    checked = [_checked_file(d, name, entry) for name, entry in files.items()]
    return manifest, [f for f in checked if f is not None]


def _plain_path(name: object) -> bool:
    """A relative path of plain names (``a.csv``, ``sub/a.txt``): no ``..``, no NUL."""
    if not isinstance(name, str) or not name or "\x00" in name or "\\" in name:
        return False
    parts = name.split("/")
    return len(parts) <= 2 and all(p not in ("", ".", "..") for p in parts)


def _checked_file(d: Path, name: str, entry: object) -> OutputFile | None:
    """The manifest's entry ``name``, checked (None for a sub-folder, whose files the
    manifest lists one by one as ``folder/name``, as ``leosim export hypatia`` writes)."""
    src = d / MANIFEST
    if not _plain_path(name):
        raise InputError(f"names {quote(name)}, which is not a plain file name", source=src)
    p = d / name
    try:
        st = os.lstat(p)
        if "/" in name and not stat.S_ISDIR(os.lstat(p.parent).st_mode):
            raise FileNotFoundError
    except FileNotFoundError:
        raise InputError(f"lists {name}, which is missing from the folder", source=src) from None
    if stat.S_ISDIR(st.st_mode) and isinstance(entry, dict) and entry.get("folder") is True:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(
            f"lists {name}, which is {file_kind(st.st_mode)}, not a regular file", source=src
        )
    want = entry.get("sha256") if isinstance(entry, dict) else None
    return OutputFile(name, p, st.st_size, want == sha256_file(p))


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _size(n: int) -> str:
    for unit, k in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= k:
            return f"{n / k:,.1f} {unit}"
    return f"{n:,} bytes"


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _read_csv(path: Path, max_rows: int) -> tuple[list[str], list[list[str]], int]:
    """Header, the first ``max_rows`` rows, and the total number of rows of a CSV file."""
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        rows, total = [], 0
        for row in reader:
            if total < max_rows:
                rows.append(row)
            total += 1
    return header, rows, total


def _table_html(f: OutputFile, max_rows: int) -> str:
    try:
        header, rows, total = _read_csv(f.path, max_rows)
    except csv.Error as exc:
        return f'<p class="bad">{_e(f.name)}: not shown (not a readable CSV table: {_e(exc)})</p>'
    numeric = [
        all(_is_number(r[i]) for r in rows if i < len(r) and r[i]) for i in range(len(header))
    ]
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for r in rows:
        cells = (
            f'<td class="n">{_e(v)}</td>'
            if i < len(numeric) and numeric[i]
            else f"<td>{_e(v)}</td>"
            for i, v in enumerate(r)
        )
        body.append("<tr>" + "".join(cells) + "</tr>")
    shown = f"all {total:,} rows" if total <= max_rows else f"first {len(rows):,} of {total:,} rows"
    return (
        f'<h3 id="{_e(f.name)}">{_e(f.name)}</h3><p class="note">{shown}</p>'
        f'<div class="scroll"><table data-file="{_e(f.name)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _png_html(f: OutputFile) -> str:
    data = f.path.read_bytes() if f.size_bytes <= MAX_PNG_BYTES else b""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return f'<p class="bad">{_e(f.name)}: not shown (not a PNG image of at most 32 MiB)</p>'
    b64 = base64.b64encode(data).decode("ascii")
    return (
        f'<figure><img alt="{_e(f.name)}" src="data:image/png;base64,{b64}">'
        f"<figcaption>{_e(f.name)}</figcaption></figure>"
    )


def _text_html(f: OutputFile) -> str:
    if f.size_bytes > MAX_TEXT_BYTES:
        return f'<p class="note">{_e(f.name)}: {_size(f.size_bytes)}, too long to show</p>'
    text = f.path.read_bytes().decode("utf-8", errors="replace")
    return f'<h3 id="{_e(f.name)}">{_e(f.name)}</h3><pre>{_e(text)}</pre>'


def _toml_name(files: list[OutputFile], name: str) -> str | None:
    """The ``name`` key of a TOML file in the folder, if it has one."""
    for f in files:
        if f.name == name and f.size_bytes <= MAX_TEXT_BYTES:
            try:
                v = tomllib.loads(f.path.read_bytes().decode("utf-8")).get("name")
            except (UnicodeDecodeError, tomllib.TOMLDecodeError):
                return None
            return v if isinstance(v, str) else None
    return None


def _files_html(files: list[OutputFile]) -> str:
    """One row per file of the folder, and one per sub-folder with its files' count."""
    groups: dict[str, list[OutputFile]] = {}
    for f in files:
        groups.setdefault(f.name.split("/")[0] + ("/" if "/" in f.name else ""), []).append(f)
    rows = ""
    for name, fs in groups.items():
        bad = sum(not f.sha256_ok for f in fs)
        what = name if len(fs) == 1 and "/" not in name else f"{name} ({len(fs):,} files)"
        changed = (
            "changed since it was written"
            if len(fs) == 1
            else f"{bad:,} of {len(fs):,} changed since they were written"
        )
        check = "matches" if not bad else f'<span class="bad">{changed}</span>'
        size = _size(sum(f.size_bytes for f in fs))
        rows += f"<tr><td>{_e(what)}</td><td class='n'>{size}</td><td>{check}</td></tr>"
    return (
        '<table data-file="manifest"><thead><tr><th>file</th><th>size</th>'
        f"<th>SHA-256 against the manifest</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def build_report(folder: str | Path, *, max_rows: int = MAX_TABLE_ROWS) -> str:
    """The HTML text of the report of one output folder (see the module docs)."""
    manifest, files = read_manifest(folder)
    top = [f for f in files if "/" not in f.name]  # sub-folders' files: listed, not shown
    kind = _kind({f.name for f in top})
    name = _toml_name(files, "scenario.toml")
    pol_files = sorted(
        f.name for f in top if f.name.startswith("policy") and f.name.endswith(".toml")
    )
    pol = [_toml_name(files, n) for n in pol_files]
    title = f"leosim {kind}" + (f": {name}" if name else "")
    labels = {"leosim": "leosim", "command": "command", "written_utc": "written"}
    meta = ", ".join(f"{v} {_e(manifest[k])}" for k, v in labels.items() if manifest.get(k))
    parts = [
        f"<h1>{_e(title)}</h1>",
        f"<p>Folder <code>{_e(Path(folder).name)}</code> ({meta}); policies: "
        + (_e(", ".join(p for p in pol if p)) or "none")
        + ".</p>",
        "<h2>Files</h2>",
        _files_html(files),
    ]
    pngs = [f for f in top if f.name.lower().endswith(".png")]
    if pngs:
        parts += ["<h2>Plots</h2>", *(_png_html(f) for f in pngs)]
    csvs = [f for f in top if f.name.lower().endswith(".csv")]
    order = {n: i for i, n in enumerate(_TABLE_ORDER)}
    csvs.sort(key=lambda f: (order.get(f.name, len(order)), f.name))
    if csvs:
        parts += ["<h2>Tables</h2>", *(_table_html(f, max_rows) for f in csvs)]
    texts = [f for f in top if f.name.lower().endswith((".toml", ".txt", ".md"))]
    if texts:
        parts += ["<h2>Inputs</h2>", *(_text_html(f) for f in texts)]
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    parts.append(f'<p class="note">Report written {now} by leosim report.</p>')
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )


def default_report_path(folder: str | Path) -> Path:
    """Where the report goes by default: ``DIR.html`` beside the folder (never inside it,
    which would make the folder no longer a pure leosim output)."""
    d = Path(os.path.abspath(folder))
    return d.with_name(d.name + ".html")


def write_report(folder: str | Path, out: str | Path | None = None) -> Path:
    """Write the report of ``folder`` to ``out`` (default :func:`default_report_path`)."""
    text = build_report(folder)
    target = Path(out) if out is not None else default_report_path(folder)
    if os.path.realpath(target.parent) == os.path.realpath(folder):
        # An unlisted file there would make the next run refuse (or a reader distrust) it.
        raise InputError(
            "is inside the folder it reports on; write the report beside it (the default)",
            source=target,
            key="--out",
        )
    with atomic_output_file(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target
