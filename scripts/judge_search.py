"""Judge finished searches again from their files, with the package's current verdict.

A search writes its verdict (margins, stability, ``decisive``) into ``genotype.json`` when it
ends. This recomputes it from the files beside it (``arch_history.json``, ``arch_init.json``,
the chosen epoch in ``genotype.json``) without running anything, so that searches made before
a change of :func:`zeronas.nas.margins.assess` can be counted with the current one. It prints
one line per search, the stored verdict beside the recomputed one, and a count.

    python scripts/judge_search.py runs/grid/cells/*/*/nas/seed*/search
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from zeronas.errors import ZeroNASError
from zeronas.nas.margins import assess, stability_by_role
from zeronas.runs import search_record


def judge(search_dir: Path) -> tuple[bool, bool, str]:
    """The stored and the recomputed ``decisive`` of one search, and a line describing it."""
    search_dir, record = search_record(search_dir)
    stored = json.loads((search_dir / "genotype.json").read_text())["search"]
    history = json.loads((search_dir / "arch_history.json").read_text())
    init = json.loads((search_dir / "arch_init.json").read_text())
    verdict = assess(history, init, record["config"]["search"]["keep_edges"], stored["epoch"])
    ratios = ", ".join(f"{r} {v:.0f}x" for r, v in verdict.op_ratio.items())
    line = (
        f"{search_dir}: epoch {stored['epoch']} of {verdict.epochs} ({stored['select']}); op margin {ratios}; "
        f"held for the last {stability_by_role(verdict.stable_by_role)}; "
        f"decisive: stored {stored['decisive']}, now {verdict.decisive}"
    )
    return bool(stored["decisive"]), verdict.decisive, line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("search_dirs", nargs="+", type=Path, help="searches, or runs and grid cells holding one")
    args = parser.parse_args()
    stored = now = 0
    for d in args.search_dirs:
        try:
            was, is_, line = judge(d)
        except (ZeroNASError, OSError, KeyError, ValueError) as e:
            raise SystemExit(f"judge_search.py: {d}: not a finished search directory ({e})") from None
        stored, now = stored + was, now + is_
        print(line)
    print(f"decisive: {stored} of {len(args.search_dirs)} as stored, {now} of {len(args.search_dirs)} now")


if __name__ == "__main__":
    main()
