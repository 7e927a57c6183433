"""Validation shared by the TOML files (scenarios, policies): strict tables whose errors name
the key, e.g. ``run.toml: [time.setp_s] unknown key; did you mean step_s?``.

Tables are strict: no type is coerced into another (``"2"`` is not a number, ``true`` is not
1 degree, a number is not a date), except that an integer is accepted where a float is
expected; numbers must be finite.  Field docstrings are the fields' descriptions (they make
``docs/reference.md``, see ``tools/make_reference.py``)."""

from __future__ import annotations

import difflib
from datetime import date, time
from typing import Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from .errors import InputError, quote


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        allow_inf_nan=False,
        use_attribute_docstrings=True,
    )


def _list_to_tuple(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


AsTuple = BeforeValidator(_list_to_tuple)
"""For ``Annotated[tuple[...], AsTuple]``: TOML arrays are lists, and strict tuples want tuples
(the items are still validated strictly)."""

# Union members that pydantic names in error locations, e.g. ('pairs', 0, 0, 'int').
_UNION_TAGS = {"int", "str", "float", "bool", "list", "dict", "tuple", "datetime", "none"}
_WHAT = {
    "int_type": "an integer",
    "string_type": "a string",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "an array",
    "tuple_type": "an array",
    "dict_type": "a table",
    "model_type": "a table",
    "datetime_type": "a TOML date-time (e.g. 2026-05-13T00:00:00Z)",
    "literal_error": None,
}


def _loc_to_key(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for x in loc:
        if isinstance(x, int):
            parts[-1:] = [f"{parts[-1]}[{x}]"] if parts else [f"[{x}]"]
        elif (
            x in ("function-after", "function-before")
            or "[" in str(x)
            or x in _UNION_TAGS
            or str(x).startswith("constrained-")
        ):
            continue
        else:
            parts.append(str(x))
    return ".".join(parts)


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names of the table that holds ``loc`` (for "did you mean" hints)."""
    m: Any = model
    for x in loc[:-1]:
        f = getattr(m, "model_fields", {}).get(x) if isinstance(x, str) else None
        if f is None:
            continue  # a list index, a table's own key or a union member's tag
        stack, m = [f.annotation], None
        while stack and m is None:  # the first model inside list[...], dict[...], unions
            c = stack.pop(0)
            if isinstance(c, type) and issubclass(c, BaseModel):
                m = c
            stack.extend(getattr(c, "__args__", ()))
        if m is None:
            return []
    return list(getattr(m, "model_fields", {}))


def _pydantic_to_input_error(
    exc: ValidationError, source: str, model: type[BaseModel]
) -> InputError:
    errors = exc.errors()
    err = _most_specific(errors)
    key = _loc_to_key(err["loc"]) or None
    # A union (e.g. a station given by gid or name) reports one error per member: merge them.
    same = [e for e in errors if (_loc_to_key(e["loc"]) or None) == key]
    msg = err["msg"].removeprefix("Value error, ")
    wanted = [_WHAT.get(e["type"]) for e in same]
    if err["type"] in _WHAT and all(wanted):
        msg = f"must be {' or '.join(dict.fromkeys(wanted))}, got {_toml_repr(err['input'])}"
    elif err["type"] == "literal_error" or err["type"].endswith(("_type", "_parsing")):
        msg += f", got {_toml_repr(err['input'])}"
    elif err["type"] in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        msg += f", got {_toml_repr(err['input'])}"
    elif err["type"] == "finite_number":
        msg = f"must be a finite number, got {_toml_repr(err['input'])}"
    if err["type"] == "extra_forbidden":
        known = [k for k in _known_keys(model, err["loc"]) if k not in ("source", "base_dir")]
        close = difflib.get_close_matches(str(err["loc"][-1]), known, n=2)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        msg = f"unknown key{hint} (allowed here: {', '.join(known)})"
    elif err["type"] == "missing" and isinstance(err["loc"][-1], int):
        msg = f"is missing: the array needs at least {err['loc'][-1] + 1} items"
    elif err["type"] == "missing":
        msg = "required key is missing"
    # A union member that did not fit is not one more problem of the value.
    siblings = {_loc_to_key(e["loc"]) for e in errors if e["type"].endswith("_type")}
    keys = {_loc_to_key(e["loc"]) for e in errors}
    here = key or ""
    more = len({k for k in keys if k == here or not (k in siblings and here.startswith(k))}) - 1
    if more:
        msg += f" (and {more} more problem{'s' if more > 1 else ''})"
    return InputError(msg, source=source, key=key)


def _most_specific(errors: list[dict]) -> dict:
    """The error to report: the first, unless it is a union member's type mismatch at a key
    where another member's error lies deeper (the value had that member's shape, e.g. a
    ``[[pops.add]]`` table with a bad latitude is not "must be a string")."""
    for e in errors:
        key = _loc_to_key(e["loc"])
        deeper = any(
            _loc_to_key(o["loc"]).startswith((key + ".", key + "[")) for o in errors if o is not e
        )
        if not (e["type"].endswith("_type") and deeper):
            return e
    return errors[0]


def _toml_repr(v: Any) -> str:
    """A value as the TOML file wrote it (``true``, not ``True``), cut to a readable length."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "a table"
    if isinstance(v, date | time):
        return v.isoformat()
    return quote(v)
