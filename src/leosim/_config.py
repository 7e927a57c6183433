"""Validation shared by the TOML files (scenarios, policies): strict tables whose errors name
the key, e.g. ``run.toml: [time.setp_s] unknown key; did you mean step_s?``."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import InputError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _loc_to_key(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for x in loc:
        if isinstance(x, int):
            parts[-1:] = [f"{parts[-1]}[{x}]"] if parts else [f"[{x}]"]
        elif x in ("function-after", "function-before") or "[" in str(x):
            continue
        else:
            parts.append(str(x))
    return ".".join(parts)


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names of the table that holds ``loc`` (for "did you mean" hints)."""
    m: Any = model
    for x in loc[:-1]:
        if isinstance(x, int):
            continue
        f = getattr(m, "model_fields", {}).get(x)
        if f is None:
            return []
        ann = f.annotation
        for cand in (ann, *getattr(ann, "__args__", ())):
            for c in (cand, *getattr(cand, "__args__", ())):
                if isinstance(c, type) and issubclass(c, BaseModel):
                    m = c
                    break
    return list(getattr(m, "model_fields", {}))


def _pydantic_to_input_error(
    exc: ValidationError, source: str, model: type[BaseModel]
) -> InputError:
    err = exc.errors()[0]
    key = _loc_to_key(err["loc"]) or None
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        known = [k for k in _known_keys(model, err["loc"]) if k not in ("source", "base_dir")]
        close = difflib.get_close_matches(str(err["loc"][-1]), known, n=2)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        msg = f"unknown key{hint} (allowed here: {', '.join(known)})"
    elif err["type"] == "missing":
        msg = "required key is missing"
    more = len(exc.errors()) - 1
    if more:
        msg += f" (and {more} more problem{'s' if more > 1 else ''})"
    return InputError(msg, source=source, key=key)
