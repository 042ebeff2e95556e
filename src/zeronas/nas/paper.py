"""The architectures the paper found (Fig. 3), shipped as genotype files: ``--arch paper:cub``.

The files in ``paper_genotypes/`` were transcribed from the authors' public code (each names
its file, lines and commit, and keeps the authors' lists verbatim under ``source``).
:func:`from_authors` is the translation, so a test can re-derive every file from its source.

The authors' retrain code (``NetworkRetrain``) reads a genotype as ten ``(op, src)`` pairs:
pairs ``2k, 2k+1`` feed node ``3 + k`` (nodes 3-6, then the output node), each node is
``op1(src1) + op2(src2)``, and its inputs are numbered 0 = attribute, 1 = noise (G) or
feature (D), 2 = their concatenation. zeronas numbers the inputs (z|x, c, [z|x, c]), hence
:data:`AUTHORS_TO_ZERONAS`.
"""

from __future__ import annotations

import json
from pathlib import Path

from zeronas.errors import ZeroNASError
from zeronas.nas.genotype import N_INPUTS, Edge, Genotype, GenotypeError, NetGenotype, Node
from zeronas.nas.ops import LINEAR

PAPER_DIR = Path(__file__).resolve().parent / "paper_genotypes"
PAPER_ARCHS = ("cub", "flo", "awa", "sun")
PREFIX = "paper:"
#: The authors' input ids to zeronas's: attribute 0 -> c (1), noise/feature 1 -> z|x (0).
AUTHORS_TO_ZERONAS = {0: 1, 1: 0, 2: 2}
#: Widths of the authors' intermediate nodes 3-6 (the paper's search space, SPEC §4).
G_WIDTHS = (128, 256, 512, 1024)
D_WIDTHS = (1024, 512, 256, 128)


def paper_genotype_path(name: str) -> Path:
    """The bundled file of the paper's architecture for ``name`` (cub, flo, awa or sun)."""
    key = name.lower()
    if key not in PAPER_ARCHS:
        raise ZeroNASError(f"{PREFIX}{name}: unknown paper architecture (known: {', '.join(PAPER_ARCHS)})")
    return PAPER_DIR / f"{key}.json"


def paper_genotype(name: str) -> Genotype:
    """The generator/critic pair the paper found on dataset ``name`` (cub, flo, awa or sun)."""
    return Genotype.load(paper_genotype_path(name))


def paper_source(name: str) -> dict:
    """The ``source`` record of a bundled paper genotype: paper, repository, commit, lines, lists."""
    return json.loads(paper_genotype_path(name).read_text())["source"]


def _translate(role: str, pairs: list, widths: tuple[int, ...]) -> NetGenotype:
    n_nodes = len(widths)
    if len(pairs) != 2 * (n_nodes + 1):
        raise GenotypeError(f"{role}: expected {2 * (n_nodes + 1)} (op, src) pairs, got {len(pairs)}")
    out_id = N_INPUTS + n_nodes
    chosen: dict[int, tuple[Edge, ...]] = {}
    for k in range(n_nodes + 1):
        node = N_INPUTS + k
        edges = []
        for op, src in pairs[2 * k : 2 * k + 2]:
            if not 0 <= src < node:
                raise GenotypeError(f"{role}: node {node} takes input {src}, not an earlier node")
            # The critic's WGAN score stays linear (SPEC §4); the authors ended it in an activation.
            linear = node == out_id and role == "critic"
            edges.append(Edge(AUTHORS_TO_ZERONAS.get(src, src), LINEAR if linear else op))
        chosen[node] = tuple(edges)
    live = {out_id}
    for j in range(out_id, N_INPUTS - 1, -1):
        if j in live:
            live.update(e.src for e in chosen[j])
    nodes = tuple(Node(j, widths[j - N_INPUTS], chosen[j]) for j in range(N_INPUTS, out_id) if j in live)
    net = NetGenotype(role, nodes, chosen[out_id])
    return NetGenotype.from_dict(role, net.to_dict())  # validates the operation names


def from_authors(generator: list, critic: list) -> Genotype:
    """Translate the authors' ``genotype_G`` / ``genotype_D`` lists into a zeronas genotype.

    Args:
        generator: ten ``(op, src)`` pairs in the authors' numbering (see the module doc).
        critic: the same for the discriminator; its output edges become ``linear``.

    Nodes that no path reaches the output through are dropped, as in derivation (SPEC §6).
    The order of a node's two edges is kept as the authors wrote it.
    """
    return Genotype(_translate("generator", generator, G_WIDTHS), _translate("critic", critic, D_WIDTHS))
