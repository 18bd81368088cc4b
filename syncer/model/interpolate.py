"""``${VAR}`` interpolation in manifests: where it is allowed, and what a malformed one is.

Interpolated values are secrets (:mod:`syncer.secrets`), so they may only go where nothing
stores or prints them: a target's settings (its path, URLs, credentials).  A value that is a
whole URL (``url: ${DATABASE_URL}``) keeps only its credentials secret: the password, query
values and token-like path segments (:func:`syncer.secrets.register_url`).  Names and paths
that reach the state, the plans and the messages (the target's name, everything under
``datasets:``: dataset names, tables, source paths, columns, keys) refuse ``${VAR}``, rather
than each output redacting them.  ``$$`` is a literal ``$``; any other ``${`` that is not a
complete ``${NAME}`` is an error naming its line, never a literal.

As in a shell: ``${NAME}`` needs NAME set and not empty (an empty value is a mistake far more
often than a wish: ``DB_DIR=`` would make ``${DB_DIR}/x.db`` the root's ``/x.db``);
``${NAME:-default}`` is the default when NAME is unset or empty, ``${NAME-default}`` only when it
is unset (so ``${NAME-}`` accepts an empty value).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .. import secrets
from ..errors import Problem
from .yaml_lines import LineMap, PathKey

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|\$\{[^}\s]*\}?")


def interpolate(value: Any, where: PathKey, path: Path, lines: LineMap,
                env: dict[str, str], problems: list[Problem]) -> Any:
    """``value`` with every ``${VAR}`` replaced; problems (unset, malformed, not allowed
    here) are appended, each with the line of its value."""
    if isinstance(value, dict):
        return {k: interpolate(v, (*where, k), path, lines, env, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, (*where, i), path, lines, env, problems) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        text = match.group(0)
        if text == "$$":
            return "$"
        name = match.group(1)
        if name is None:
            problems.append(Problem(path, lines.line(where), f"malformed ${{...}}: '{text}' is "
                                    "unterminated or not a variable name",
                                    "write ${NAME} (letters, digits, _), or $$ for a literal $"))
            return ""
        if _names_a_thing(where):
            problems.append(Problem(path, lines.line(where),
                                    f"${{{name}}} cannot be used in {_dotted(where)}: names and "
                                    "paths reach the state, plans and messages, and interpolated "
                                    "values are secrets",
                                    "write the value out; ${VAR} is for target settings "
                                    "(the target's path, URLs, credentials)"))
            return ""
        value, operator, default = env.get(name), match.group(2), match.group(3)
        if operator == ":-" and not value or operator == "-" and value is None:
            return str(default)  # written in the manifest: not a secret
        if value is None or (not value and operator is None):
            problems.append(Problem(path, lines.line(where),
                                    f"environment variable {name} is "
                                    f"{'not set' if value is None else 'set but empty'}",
                                    f"export {name}=... before running syncer (or write "
                                    f"${{{name}:-default}}, or ${{{name}-}} to allow empty)"))
            return ""
        if "://" in value and match.group(0) == match.string:
            # a whole URL (`url: ${DATABASE_URL}`): its credentials are secret (the password,
            # query values, token-like path segments), not where it points, which the state
            # records and messages name ("moved: was postgresql://db:5432/app/public:items")
            secrets.register_url(value)
        else:
            secrets.register(value)
        return value

    return _VAR.sub(substitute, value)


def _names_a_thing(where: PathKey) -> bool:
    return bool(where) and (where[0] == "datasets" or where == ("target", "name"))


def _dotted(loc: PathKey) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
