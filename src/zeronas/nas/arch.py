"""What ``--arch`` (and the Python API's ``train``) names: the hand-crafted pair, a paper
architecture, a pair's one-line text, a genotype file, or a search or run directory."""

from __future__ import annotations

from pathlib import Path

from zeronas.errors import ZeroNASError
from zeronas.nas.genotype import Genotype, fixed_genotype
from zeronas.nas.paper import PREFIX, paper_genotype


def load_arch(arch: str | Path, fix_hidden: int) -> tuple[Genotype, str]:
    """The genotype ``arch`` names, and where it came from.

    ``"fixed"``: the hand-crafted f-CLSWGAN pair of width ``fix_hidden``; ``"paper:cub"``
    (``flo``, ``awa``, ``sun``): the paper's found pair; a pair's one-line text, as logs print
    it (``"G 3:64<fc_relu~2> out<fc_relu~3> | D 3:64<fc_lrelu~2> out<linear~3>"``, see
    :meth:`Genotype.parse`); a ``genotype.json``; or a directory holding ``genotype.json`` or
    ``search/genotype.json``.
    """
    name = str(arch)
    if name == "fixed":
        return fixed_genotype(fix_hidden), "fixed"
    if name.lstrip().startswith("G "):
        return Genotype.parse(name), "text"
    if name.startswith(PREFIX):
        return paper_genotype(name[len(PREFIX) :]), name
    p = Path(arch)
    if p.is_dir():
        for cand in (p / "genotype.json", p / "search" / "genotype.json"):
            if cand.is_file():
                return Genotype.load(cand), str(cand)
        raise ZeroNASError(f"{p}: no genotype.json in this run directory")
    if not p.exists() and "<" in name:  # meant as a pair's text, not as a file
        raise ZeroNASError(f"{name!r}: not a pair's text (expected 'G <generator> | D <critic>') and not a file")
    return Genotype.load(p), str(p)
