"""Files helm-ac writes because a flag asked for them (``--output-dir``, ``--svg``, ``--html``)."""
from __future__ import annotations

from pathlib import Path

from helm_ac.errors import UserError


def write_file(path: str | Path, text: str, flag: str, *, make_parents: bool = False) -> None:
    """Write ``text`` to ``path`` (creating its directories when ``make_parents``); a file that cannot be
    written is a usage error naming the flag and the file (exit 2), never an internal error."""
    target = Path(path)
    try:
        if make_parents:
            target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{flag} {path}: cannot write the file: {exc.strerror or exc}",
                        hint="give a path in an existing, writable directory" if not make_parents
                        else f"give {flag} a directory helm-ac can write to") from None
