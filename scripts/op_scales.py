"""How large is each candidate operation's output in G's supernet?

An edge of the supernet adds its candidates as ``sum_k softmax(alpha)_k * op_k(x)`` (Eq. 2).
Where some candidates' outputs are much larger than the others', the node's value is mostly
theirs: the weights are trained through them and alpha's gradients favour them, whatever the
other candidates could do. The paper's space has four candidates with batch norm, whose
outputs have unit scale whatever their input, and four without, whose scale is their input's
times what the FC layer's initialisation gives it.

For each ``--init`` (``search.weight_init``), this builds the search's session (fold 0's
validation task, no test sample), draws one training batch of the search's size, and prints
per node of G, in train mode as a search step sees it (dropout off): the RMS of the node's
value, and the mean RMS over its in-edges of the batch-norm candidates' outputs and of the
others', with their ratio. With ``--run`` it does the same for a finished search's supernet
(its trained weights, and its own init), in the directory the search ran from.

    python scripts/op_scales.py                          # bundled fmnist; normal, kaiming, torch
    python scripts/op_scales.py --data data/cubsim
    python scripts/op_scales.py --run runs/search_s0
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from zeronas.api import load_config, load_dataset
from zeronas.engine.search import restore_search_session, search_session
from zeronas.nas.genotype import N_INPUTS
from zeronas.nas.ops import INITS, OPS, op_flags
from zeronas.nas.supernet import Supernet
from zeronas.runs import seed_everything


def rms(h: torch.Tensor) -> float:
    return h.pow(2).mean().sqrt().item()


@torch.no_grad()
def node_scales(session) -> list[tuple[int, float, float, float]]:
    """Per node of G after the inputs: (node, RMS of its value, mean RMS of its in-edges'
    batch-norm candidates, of the other candidates), on one training batch."""
    net, task, fw = session.G, session.task, session.fw
    if not isinstance(net, Supernet):
        raise SystemExit("the generator is not searched")
    rows = torch.randperm(task.train_y.numel())[: session.cfg.search.batch_size]
    z, c = fw.noise(rows.numel()), task.class_vectors[task.train_y[rows]]
    net.train()
    nodes = net.node_values(z, c)
    out = []
    for j in range(N_INPUTS, net.out_id + 1):
        sums = {True: [], False: []}
        for i, jj in net.mixed_edges:
            if jj != j:
                continue
            for k, name in enumerate(OPS):
                if name in net.ops:
                    sums[op_flags(name)[1]].append(rms(net.edge_op(nodes[i], i, j, k, dropout=False)))
        mean = {key: sum(v) / len(v) if v else float("nan") for key, v in sums.items()}
        out.append((j, rms(nodes[j]), mean[True], mean[False]))
    return out


def report(title: str, session) -> None:
    print(title)
    print("  node | RMS of its value | batch-norm candidates | the others | ratio")
    for j, value, bn, other in node_scales(session):
        name = "out" if j == session.G.out_id else str(j)
        print(f"  {name:>4} | {value:16.4f} | {bn:21.4f} | {other:10.4f} | {bn / other:5.1f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="the benchmark (default: the bundled fmnist)")
    p.add_argument("--init", default=",".join(INITS), help="comma-separated search.weight_init values")
    p.add_argument("--run", type=Path, help="a finished search (or a run or grid cell holding one in search/)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    if args.run is not None:
        run, _, session = restore_search_session(args.run, args.data)
        report(f"{run} (trained, search.weight_init = {session.cfg.search.weight_init})", session)
        return
    dataset = load_dataset(args.data)
    for init in args.init.split(","):
        cfg = load_config(dataset=dataset, overrides={"search.weight_init": init})
        seed_everything(args.seed)
        session = search_session(cfg, dataset, torch.device("cpu"))
        report(f"{dataset.name}, at initialisation, search.weight_init = {init}", session)


if __name__ == "__main__":
    main()
