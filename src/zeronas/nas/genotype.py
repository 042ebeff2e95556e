"""Discrete architectures ("genotypes"): derivation, the FIX baseline, and the JSON file.

Node ids follow the search DAG: 0, 1, 2 are the inputs (generator: ``z``, ``c``, ``[z,c]``;
critic: ``x``, ``c``, ``[x,c]``), 3.. the intermediate nodes, and the output node is
written separately. A node's value is the plain sum of its kept in-edges (SPEC §6).
Output widths are not stored: they come from the data, so a genotype transfers between
datasets.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zeronas.errors import ZeroNASError
from zeronas.nas.ops import LINEAR, OPS, known_ops

FORMAT = "zeronas-genotype"
VERSION = 1
ROLES = ("generator", "critic")
INPUT_NAMES = {"generator": ("z", "c", "zc"), "critic": ("x", "c", "xc")}
N_INPUTS = 3


class GenotypeError(ZeroNASError):
    """A genotype file, dict or text is malformed."""


#: One node of a network's one-line form: ``3:128<fc_relu~1|fc_lrelu~2>`` or ``out<linear~3>``.
_TOKEN = re.compile(r"(?:(?P<id>\d+):(?P<width>\d+)|(?P<out>out))<(?P<edges>\w+~\d+(?:\|\w+~\d+)*)>")


@dataclass(frozen=True)
class Edge:
    src: int
    op: str


@dataclass(frozen=True)
class Node:
    id: int
    width: int
    inputs: tuple[Edge, ...]


@dataclass(frozen=True)
class NetGenotype:
    """One discrete network: live intermediate nodes and the output node's in-edges."""

    role: str
    nodes: tuple[Node, ...]
    output: tuple[Edge, ...]

    def __str__(self) -> str:
        def edges(es: tuple[Edge, ...]) -> str:
            return "|".join(f"{e.op}~{e.src}" for e in es)

        parts = [f"{n.id}:{n.width}<{edges(n.inputs)}>" for n in self.nodes]
        return " ".join(parts + [f"out<{edges(self.output)}>"])

    def to_dict(self) -> dict:
        def edges(es: tuple[Edge, ...]) -> list[dict]:
            return [{"from": e.src, "op": e.op} for e in es]

        return {
            "inputs": list(INPUT_NAMES[self.role]),
            "nodes": [{"id": n.id, "width": n.width, "in": edges(n.inputs)} for n in self.nodes],
            "output": {"in": edges(self.output)},
        }

    @classmethod
    def parse(cls, role: str, text: str) -> NetGenotype:
        """The network whose one-line form (``str()``) is ``text``, e.g.
        ``3:128<fc_relu~1|fc_lrelu~2> out<fc_relu~3>``; checked like a file."""
        nodes, output = [], None
        for token in text.split():
            m = _TOKEN.fullmatch(token)
            if m is None or output is not None:
                why = "nothing may follow out<...>" if m is not None else f"cannot read {token!r}"
                raise GenotypeError(f"{role} {text!r}: {why} (expected ID:WIDTH<op~src|...> ... out<op~src|...>)")
            edges = [{"from": int(src), "op": op} for op, src in (e.rsplit("~", 1) for e in m["edges"].split("|"))]
            if m["out"]:
                output = {"in": edges}
            else:
                nodes.append({"id": int(m["id"]), "width": int(m["width"]), "in": edges})
        if output is None:
            raise GenotypeError(f"{role} {text!r}: no out<...> (expected ID:WIDTH<op~src|...> ... out<op~src|...>)")
        try:
            return cls.from_dict(role, {"nodes": nodes, "output": output})
        except GenotypeError as exc:
            raise GenotypeError(f"{role} {text!r}: {exc}") from None

    @classmethod
    def from_dict(cls, role: str, d: object) -> NetGenotype:
        where = role
        if not isinstance(d, dict):
            raise GenotypeError(f"'{where}' must be an object")
        nodes_raw, out_raw = d.get("nodes"), d.get("output")
        if not isinstance(nodes_raw, list) or not isinstance(out_raw, dict):
            raise GenotypeError(f"'{where}' needs a 'nodes' list and an 'output' object")
        known = set(range(N_INPUTS))
        nodes = []
        for k, n in enumerate(nodes_raw):
            at = f"{where}.nodes[{k}]"
            if not isinstance(n, dict) or not isinstance(n.get("id"), int) or not isinstance(n.get("width"), int):
                raise GenotypeError(f"{at} needs integer 'id' and 'width'")
            if n["id"] < N_INPUTS or n["id"] in known:
                raise GenotypeError(f"{at}: id {n['id']} is an input id or repeated")
            if n["width"] <= 0:
                raise GenotypeError(f"{at}: width must be positive")
            nodes.append(Node(n["id"], n["width"], _edges(n.get("in"), known, at, role, False)))
            known.add(n["id"])
        output = _edges(out_raw.get("in"), known, f"{where}.output", role, True)
        ids = [n.id for n in nodes]
        if ids != sorted(ids):
            raise GenotypeError(f"'{where}' nodes must be listed in increasing id order")
        return cls(role, tuple(nodes), output)


def _edges(raw: object, known: set[int], at: str, role: str, is_output: bool) -> tuple[Edge, ...]:
    if not isinstance(raw, list) or not raw:
        raise GenotypeError(f"{at} needs a non-empty 'in' list")
    allowed = (LINEAR,) if (is_output and role == "critic") else tuple(o for o in known_ops() if o != LINEAR)
    out = []
    for e in raw:
        if not isinstance(e, dict) or not isinstance(e.get("from"), int) or not isinstance(e.get("op"), str):
            raise GenotypeError(f"{at}: each edge needs integer 'from' and string 'op'")
        if e["from"] not in known:
            raise GenotypeError(f"{at}: edge from node {e['from']}, which is not an input or an earlier node")
        if e["op"] not in allowed:
            raise GenotypeError(f"{at}: operation {e['op']!r} is not one of {', '.join(allowed)}")
        out.append(Edge(e["from"], e["op"]))
    return tuple(out)


@dataclass(frozen=True)
class Genotype:
    """A generator/critic pair."""

    generator: NetGenotype
    critic: NetGenotype

    def __str__(self) -> str:
        return f"G {self.generator} | D {self.critic}"

    @classmethod
    def parse(cls, text: str) -> Genotype:
        """The pair whose one-line form (``str()``, as the search's log prints it) is ``text``:
        ``G <generator> | D <critic>``, each as :meth:`NetGenotype.parse` reads it."""
        m = re.fullmatch(r"\s*G\s+(?P<g>.+?)\s+\|\s+D\s+(?P<d>.+?)\s*", text)
        if m is None:
            raise GenotypeError(f"{text!r}: expected 'G <generator> | D <critic>'")
        return cls(NetGenotype.parse("generator", m["g"]), NetGenotype.parse("critic", m["d"]))

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "version": VERSION,
            "generator": self.generator.to_dict(),
            "critic": self.critic.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: object) -> Genotype:
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise GenotypeError(f"not a genotype: 'format' must be {FORMAT!r}")
        if d.get("version") != VERSION:
            raise GenotypeError(f"unsupported genotype version {d.get('version')!r} (this zeronas reads {VERSION})")
        return cls(*(NetGenotype.from_dict(r, d.get(r)) for r in ROLES))

    def save(self, path: str | Path, extra: dict | None = None) -> None:
        """Write the JSON file; ``extra`` adds informative keys (e.g. the search's margins),
        which reading ignores."""
        from zeronas.runs import atomic_write_text

        atomic_write_text(Path(path), json.dumps({**self.to_dict(), **(extra or {})}, indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Genotype:
        p = Path(path)
        try:
            d = json.loads(p.read_text())
        except FileNotFoundError:
            raise GenotypeError(f"{p}: file not found") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise GenotypeError(f"{p}: not valid JSON ({exc})") from None
        try:
            return cls.from_dict(d)
        except GenotypeError as exc:
            raise GenotypeError(f"{p}: {exc}") from None


def fixed_genotype(hidden: int = 4096) -> Genotype:
    """The hand-crafted f-CLSWGAN pair (SPEC §7) expressed in the same DAG language."""
    g = NetGenotype("generator", (Node(3, hidden, (Edge(2, "fc_lrelu"),)),), (Edge(3, "fc_relu"),))
    d = NetGenotype("critic", (Node(3, hidden, (Edge(2, "fc_lrelu"),)),), (Edge(3, LINEAR),))
    return Genotype(g, d)


def derive(
    role: str,
    widths: tuple[int, ...],
    op_weights: dict[tuple[int, int], np.ndarray],
    edge_weights: dict[int, np.ndarray],
    keep: int = 2,
) -> NetGenotype:
    """Prune a supernet to a discrete network (SPEC §6).

    Args:
        role: ``generator`` or ``critic``.
        widths: widths of the intermediate nodes 3, 4, ...
        op_weights: softmax(alpha) per mixed edge ``(src, dst)``; edges into the critic's
            output are absent (their only operation is ``linear``).
        edge_weights: softmax(beta) per target node, indexed by source; negative for a
            source that has no edge to that node in the space.
        keep: in-edges kept per node, ranked by edge weight.
    """
    out_id = N_INPUTS + len(widths)
    chosen: dict[int, tuple[Edge, ...]] = {}
    for j in range(N_INPUTS, out_id + 1):
        w = np.asarray(edge_weights[j])
        order = [s for s in np.argsort(-w, kind="stable") if w[s] >= 0][:keep]
        edges = []
        for i in sorted(int(s) for s in order):
            if (i, j) in op_weights:
                edges.append(Edge(i, OPS[int(np.argmax(op_weights[(i, j)]))]))
            else:
                edges.append(Edge(i, LINEAR))
        chosen[j] = tuple(edges)
    live = {out_id}
    for j in range(out_id, N_INPUTS - 1, -1):
        if j in live:
            live.update(e.src for e in chosen[j])
    nodes = tuple(Node(j, widths[j - N_INPUTS], chosen[j]) for j in range(N_INPUTS, out_id) if j in live)
    return NetGenotype(role, nodes, chosen[out_id])


def random_genotype(
    role: str,
    widths: tuple[int, ...],
    rng: np.random.Generator,
    ops: tuple[str, ...] = OPS,
    keep: int = 2,
    out_from_inputs: bool = True,
) -> NetGenotype:
    """A genotype drawn uniformly from the search space, pruned like a derived one.

    Equivalent to deriving from uniformly random softmax(alpha) and softmax(beta): per node
    ``keep`` distinct in-edges, each with one operation drawn from ``ops``, dead nodes dropped.
    Without ``out_from_inputs`` the output node reads intermediate nodes only; the draws
    are the same, so draw ``k`` of either space has the same hidden edges.
    """
    unknown = set(ops) - set(OPS)
    if unknown or not ops:
        raise ZeroNASError(f"random_genotype: operations must be among {', '.join(OPS)}")
    out_id = N_INPUTS + len(widths)
    allowed = np.isin(np.array(OPS), np.array(ops))
    op_weights = {}
    for j in range(N_INPUTS, out_id + 1):
        if role == "critic" and j == out_id:
            continue
        for i in range(j):
            op_weights[(i, j)] = np.where(allowed, rng.random(len(OPS)), -1.0)
    edge_weights = {j: rng.random(j) for j in range(N_INPUTS, out_id + 1)}
    if not out_from_inputs:
        edge_weights[out_id][:N_INPUTS] = -1.0
    return derive(role, widths, op_weights, edge_weights, keep)
