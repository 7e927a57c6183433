"""Download current GP (general perturbations) elements from CelesTrak, politely.

CelesTrak publishes the elements of every satellite group at
``https://celestrak.org/NORAD/elements/gp.php?GROUP=<group>&FORMAT=<tle|json|csv|xml>``
(see https://celestrak.org/NORAD/documentation/gp-data-formats.php).  The data are updated
every 2 hours and CelesTrak asks clients to download a group at most once in that time
(https://celestrak.org/NORAD/elements/: "please do not download more than once every 2 hours";
clients that do are blocked).  :func:`fetch_gp` therefore

- keeps a cache (one JSON file per base URL, group and format holding the body, its ``ETag``,
  ``Last-Modified`` and the time of the last good download);
- inside :data:`MIN_INTERVAL_S` of the last download serves the cache without any request;
  ``force`` skips that wait only for hosts other than CelesTrak's own (a mirror, a test server);
- after it, asks conditionally (``If-None-Match`` / ``If-Modified-Since``); a 304 answer serves
  the cache and restarts the 2-hour window;
- checks every download (it must parse as the requested format and hold at least one
  satellite; CelesTrak answers some errors, e.g. "No GP data found", with HTTP 200) before it
  replaces the cached copy, so a bad answer never overwrites a good one.

Failures raise :class:`FetchError` (one line, naming the URL and, when there is one, the age of
the cached copy); ``allow_stale=True`` serves that cached copy instead, with a warning note.
The module prints nothing: notes for the user are returned in :class:`FetchResult`.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import json
import math
import os
import re
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .errors import InputError, LeosimError
from .omm import parse_omm_bytes
from .outputs import _umask
from .tle import parse_tle_text

CELESTRAK_GP_URL = "https://celestrak.org/NORAD/elements/gp.php"
"""CelesTrak's GP query endpoint; ``GROUP`` and ``FORMAT`` are appended as query parameters."""

MIN_INTERVAL_S = 2 * 3600.0
"""CelesTrak's rule: at most one download of a group per 2 hours, in seconds."""

TIMEOUT_S = 30.0
"""Default network timeout (connect and each read), in seconds."""

MAX_BODY_BYTES = 256 * 1024 * 1024
"""Largest answer accepted (the whole public catalogue is about 30 MB as OMM JSON)."""

FORMATS = {"tle": "tle", "omm-json": "json", "omm-csv": "csv", "omm-xml": "xml"}
"""leosim's format names and the matching ``FORMAT=`` value of CelesTrak's query."""

_CELESTRAK_HOSTS = ("celestrak.org", "celestrak.com")
_GROUP_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_CACHE_VERSION = 1


class FetchError(LeosimError):
    """A download failed (network, HTTP status, or an answer that is not valid data)."""


@dataclass(frozen=True)
class FetchResult:
    """What :func:`fetch_gp` served.

    ``origin`` is ``"downloaded"`` (a new 200 answer), ``"not-modified"`` (304: the cache is
    current), ``"cache"`` (inside the 2-hour window, no request made) or ``"stale-cache"``
    (the request failed and ``allow_stale`` served the old copy).  ``age_s`` is the time since
    the data were last downloaded or confirmed by the server, in seconds, before this call.
    """

    body: str
    n_satellites: int
    url: str
    origin: str
    fetched_at_s: float
    age_s: float
    cache_file: Path
    notes: tuple[str, ...] = ()


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$LEOSIM_CACHE_DIR``, else ``$XDG_CACHE_HOME/leosim``, else ``~/.cache/leosim``."""
    env = os.environ if env is None else env
    if env.get("LEOSIM_CACHE_DIR"):
        return Path(env["LEOSIM_CACHE_DIR"]).expanduser()
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]).expanduser() / "leosim"
    return Path.home() / ".cache" / "leosim"


def check_group(group: str) -> str:
    """A CelesTrak group name (letters, digits, ``-``, ``_``), lower-cased."""
    if not isinstance(group, str) or not _GROUP_RE.fullmatch(group):
        raise InputError(
            f"GROUP must be a CelesTrak group name such as starlink, oneweb or kuiper "
            f"(letters, digits, '-' and '_', at most 64), got {group!r}"
        )
    return group.lower()


def check_format(fmt: str) -> str:
    """One of :data:`FORMATS` (``tle``, ``omm-json``, ``omm-csv``, ``omm-xml``)."""
    if fmt not in FORMATS:
        raise InputError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return fmt


def is_celestrak_host(base_url: str) -> bool:
    """Whether ``base_url`` points at CelesTrak itself (whose 2-hour rule cannot be forced)."""
    host = (urllib.parse.urlsplit(base_url).hostname or "").lower().rstrip(".")
    return any(host == h or host.endswith("." + h) for h in _CELESTRAK_HOSTS)


def gp_url(group: str, fmt: str, base_url: str = CELESTRAK_GP_URL) -> str:
    """The query URL of ``group`` in ``fmt``: ``base_url?GROUP=<group>&FORMAT=<format>``."""
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(f"--base-url must be an http:// or https:// URL, got {base_url!r}")
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, v) for k, v in query if k.upper() not in ("GROUP", "FORMAT")]
    query += [("GROUP", check_group(group)), ("FORMAT", FORMATS[check_format(fmt)])]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


# -- validation --------------------------------------------------------------------------------


def count_satellites(body: str, fmt: str, *, source: str = "<download>") -> int:
    """Number of satellites in ``body`` after checking it parses as ``fmt``.

    Every format goes through the reader that leosim itself uses on such a file:
    :func:`leosim.tle.parse_tle_text` (lengths, checksums, every field, the SGP4 parser) or
    :func:`leosim.omm.parse_omm_bytes` (every OMM field, its range and the SGP4 elements), so
    what ``fetch`` accepts is what ``run`` reads.  Raises :class:`~leosim.errors.InputError`
    naming the line or record at fault, also when there is no satellite at all.
    """
    check_format(fmt)
    if fmt == "tle":
        n = len(parse_tle_text(body, source=source))
    else:
        n = len(parse_omm_bytes(body.encode("utf-8"), FORMATS[fmt], source=source))
    if n == 0:
        raise InputError("holds no satellites", source=source)
    return n


def describe_body(body: str) -> str:
    """A short description of what an answer holds, for error messages."""
    text = body.strip()
    if not text:
        return "an empty answer"
    head = text[:512].lower()
    if "<html" in head or "<!doctype html" in head:
        return "an HTML page"
    first = text.splitlines()[0].strip()
    return "an answer beginning " + repr(first[:80] + ("..." if len(first) > 80 else ""))


# -- cache -------------------------------------------------------------------------------------


def cache_path(cache_dir: Path, base_url: str, group: str, fmt: str) -> Path:
    """The cache file of one base URL, group and format (readable prefix, hashed key)."""
    key = f"{base_url}\n{group}\n{fmt}".encode()
    digest = hashlib.sha256(key).hexdigest()[:16]
    return Path(cache_dir) / f"gp-{group}-{fmt}-{digest}.json"


def _read_cache(path: Path, url: str, fmt: str) -> tuple[dict | None, str | None]:
    """The cache entry at ``path``, or None and a note saying why it was ignored."""
    if not path.is_file():
        return None, None
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        if entry.get("version") != _CACHE_VERSION or entry.get("url") != url:
            raise ValueError("written for another URL or by another leosim version")
        if not isinstance(entry.get("body"), str):
            raise ValueError("it has no body")
        entry["fetched_at_s"] = float(entry["fetched_at_s"])
        entry["n_satellites"] = count_satellites(entry["body"], fmt, source=str(path))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return None, f"ignoring the unusable cache file {path}: {exc}"
    return entry, None


def _write_cache(path: Path, entry: dict) -> None:
    entry = dict(entry, version=_CACHE_VERSION)
    entry["fetched_at_utc"] = datetime.fromtimestamp(entry["fetched_at_s"], UTC).isoformat()
    try:
        atomic_write(path, json.dumps(entry, indent=1) + "\n")
    except OSError as exc:
        raise FetchError(f"{path}: cannot write the cache file: {exc.strerror or exc}") from None


def _make_cache_dir(cache_dir: Path) -> None:
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot create the cache folder ({exc.strerror or exc}); "
            "choose another with --cache-dir or LEOSIM_CACHE_DIR",
            source=cache_dir,
        ) from None


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8, newlines as given) via a temporary file in the same folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        # mkstemp creates 0600; a file the user asked for gets what open() would give it.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_out_path(out: Path) -> Path:
    """Refuse an ``--out`` that is a folder or another non-regular file (before downloading)."""
    out = Path(out)
    if out.is_dir():
        raise InputError("--out is a folder; give a file name", source=out)
    if out.exists() and not out.is_file():
        raise InputError("--out exists and is not a regular file", source=out)
    if out.parent.exists() and not out.parent.is_dir():
        raise InputError(f"--out's parent {out.parent} is not a folder", source=out)
    return out


def format_age(age_s: float) -> str:
    """``"37 min"``, ``"2 h 05 min"``, ``"3 days"``: a human age from seconds.

    >>> format_age(37 * 60 + 20), format_age(7500), format_age(3 * 86400 + 5)
    ('37 min', '2 h 05 min', '3.0 days')
    """
    minutes = max(0, int(age_s // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{age_s / 86400:.1f} days"


# -- network -----------------------------------------------------------------------------------


def user_agent() -> str:
    """``leosim/<version> (python-urllib/<python version>)``."""
    from . import __version__

    return f"leosim/{__version__} (python-urllib/{sys.version_info[0]}.{sys.version_info[1]})"


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    etag: str | None
    last_modified: str | None


def _gunzip(data: bytes, url: str) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
            out = fh.read(MAX_BODY_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise FetchError(f"{url}: the gzip-compressed answer is corrupt ({exc})") from None
    if len(out) > MAX_BODY_BYTES:
        raise FetchError(f"{url}: the answer exceeds {MAX_BODY_BYTES >> 20} MiB")
    return out


def _request(url: str, headers: dict[str, str], timeout_s: float) -> _Answer:
    """One GET; HTTP errors other than 304 raise :class:`FetchError`, as do network errors."""
    req = urllib.request.Request(url, headers=headers, method="GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            data = resp.read(MAX_BODY_BYTES + 1)
            if len(data) > MAX_BODY_BYTES:
                raise FetchError(f"{url}: the answer exceeds {MAX_BODY_BYTES >> 20} MiB")
            length = resp.headers.get("Content-Length")
            if length is not None and length.strip().isdigit() and int(length) != len(data):
                raise http.client.IncompleteRead(data, int(length) - len(data))
            if (resp.headers.get("Content-Encoding") or "").lower() == "gzip":
                data = _gunzip(data, url)
            return _Answer(
                resp.status, data, resp.headers.get("ETag"), resp.headers.get("Last-Modified")
            )
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return _Answer(304, b"", exc.headers.get("ETag"), exc.headers.get("Last-Modified"))
        try:
            text = exc.read(4096).decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            text = ""
        detail = f" ({describe_body(text)})" if text.strip() else ""
        raise FetchError(f"{url} answered HTTP {exc.code} {exc.reason}{detail}") from None
    except http.client.IncompleteRead as exc:
        raise FetchError(
            f"cannot reach {url}: the answer was cut short after {len(exc.partial)} bytes"
            + (f" of {len(exc.partial) + exc.expected}" if exc.expected else "")
        ) from None
    except urllib.error.URLError as exc:
        raise FetchError(f"cannot reach {url}: {exc.reason}") from None
    except (OSError, http.client.HTTPException, EOFError) as exc:  # timeouts, resets, bad gzip
        raise FetchError(f"cannot reach {url}: {exc or type(exc).__name__}") from None


def fetch_gp(
    group: str,
    fmt: str = "tle",
    *,
    base_url: str = CELESTRAK_GP_URL,
    cache_dir: Path | None = None,
    force: bool = False,
    allow_stale: bool = False,
    timeout_s: float = TIMEOUT_S,
    now: Callable[[], float] = time.time,
) -> FetchResult:
    """Current GP elements of ``group`` in ``fmt``, from the cache or the server (see module).

    ``now`` returns the current Unix time in seconds (injectable for tests).  Raises
    :class:`~leosim.errors.InputError` for a bad group, format or URL and :class:`FetchError`
    when nothing valid could be served.
    """
    group, fmt = check_group(group), check_format(fmt)
    url = gp_url(group, fmt, base_url)
    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    _make_cache_dir(cache_dir)
    path = cache_path(cache_dir, base_url, group, fmt)
    entry, note = _read_cache(path, url, fmt)
    notes = (note,) if note else ()
    t_now = now()
    age_s = math.nan if entry is None else t_now - entry["fetched_at_s"]

    def served(origin: str, e: dict, *extra: str) -> FetchResult:
        age = 0.0 if origin == "downloaded" else age_s
        return FetchResult(
            e["body"], e["n_satellites"], url, origin, e["fetched_at_s"], age, path,
            (*notes, *extra),
        )  # fmt: skip

    if entry is not None and 0 <= age_s < MIN_INTERVAL_S:
        if not force or is_celestrak_host(base_url):
            return served("cache", entry, _window_note(age_s, force))
    try:
        answer = _request(url, _headers(None if force else entry), timeout_s)
        if answer.status == 304 and entry is None:
            raise FetchError(f"{url} answered 304 Not Modified to an unconditional request")
        body, n = ("", 0) if answer.status == 304 else _decode_and_check(answer, url, fmt)
    except FetchError as exc:
        if entry is None:
            raise
        old = f"fetched {format_age(age_s)} ago" if age_s >= 0 else "of unknown age"
        if allow_stale:
            return served("stale-cache", entry, f"warning: {exc}; serving the cached copy ({old})")
        raise FetchError(
            f"{exc}; the cached copy ({old}) was kept, --allow-stale would serve it"
        ) from None
    if answer.status == 304:  # the cache is current: it counts as this period's download
        entry = dict(entry, fetched_at_s=t_now)
        entry["etag"] = answer.etag or entry.get("etag")
        entry["last_modified"] = answer.last_modified or entry.get("last_modified")
        _write_cache(path, entry)
        return served("not-modified", entry)
    new = {"url": url, "group": group, "format": fmt, "etag": answer.etag,
           "last_modified": answer.last_modified, "fetched_at_s": t_now, "n_satellites": n,
           "body": body}  # fmt: skip
    _write_cache(path, new)
    return served("downloaded", new)


def _window_note(age_s: float, force: bool) -> str:
    """Why the cache was served without a request (inside :data:`MIN_INTERVAL_S`)."""
    why = "; --force does not override that for celestrak.org" if force else ""
    wait = format_age(MIN_INTERVAL_S - age_s + 59)
    return (
        f"served from cache (fetched {format_age(age_s)} ago; CelesTrak asks for at most one "
        f"download per group every 2 hours{why}; next download in {wait})"
    )


def _headers(entry: dict | None) -> dict[str, str]:
    """Request headers: User-Agent, gzip, and the validators of a cached ``entry``."""
    headers = {"User-Agent": user_agent(), "Accept-Encoding": "gzip"}
    if entry is not None and entry.get("etag"):
        headers["If-None-Match"] = entry["etag"]
    if entry is not None and entry.get("last_modified"):
        headers["If-Modified-Since"] = entry["last_modified"]
    return headers


def _decode_and_check(answer: _Answer, url: str, fmt: str) -> tuple[str, int]:
    try:
        text = answer.body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FetchError(
            f"{url} answered HTTP {answer.status} with bytes that are not UTF-8 text "
            f"(at byte {exc.start})"
        ) from None
    try:
        n = count_satellites(text, fmt, source="answer")
    except InputError as exc:
        where = f"line {exc.line}: " if exc.line is not None else ""
        raise FetchError(
            f"{url} answered HTTP {answer.status} with {describe_body(text)}, not valid "
            f"{fmt} data ({where}{exc.message})"
        ) from None
    return text, n


def write_out(out: Path, body: str) -> None:
    """Write a served body to ``out`` atomically, after :func:`check_out_path`."""
    try:
        atomic_write(check_out_path(out), body)
    except OSError as exc:
        raise InputError(f"cannot write --out: {exc.strerror or exc}", source=out) from None
