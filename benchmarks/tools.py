"""External programs the benchmarks measure against, and what to do when one is missing."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

# program -> the Debian package that ships it
PACKAGES = {"smtp-sink": "postfix", "smtp-source": "postfix", "wrk": "wrk"}


def require(program: str) -> str:
    """The program's path; when it is missing, one line naming its Debian package, exit 2."""
    found = shutil.which(program) or next(
        (str(p) for p in (Path("/usr/sbin") / program, Path("/usr/bin") / program) if p.exists()),
        None,
    )
    if found:
        return found
    package = PACKAGES[program]
    print(
        f"{Path(sys.argv[0]).name}: {program} not found: install Debian's {package} package "
        f"(`apt-get install {package}`, or `make bench-deps` as root)",
        file=sys.stderr,
    )
    raise SystemExit(2)
