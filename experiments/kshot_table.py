"""The paper's Table 1: k-shot returns of 1000 fresh learners from each learner distribution.

    python -m experiments.kshot_table                          # N = 1..5 at k = k_min, datasets from experiments/results
    python -m experiments.kshot_table --ks kmin 512            # also k = 512 (distils what is missing)
    python -m experiments.kshot_table --dims 1 2 --learners 200

For every (N, k) it loads ``<datasets-dir>/cartpole<N>d_k<K>_ppmo_s<seed>/dataset`` or, with
``--distill-missing``, distils it first with ``experiments.cartpole``'s defaults. Every learner
distribution is one compiled call over ``--learners`` learners (random architectures are padded
exactly, see ``jaxdistill.learners``), sharded over all devices. Writes ``table1.md``,
``table1.csv``, ``table1.json`` and ``table1.png`` into ``--out-dir``.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import tyro

DISTRIBUTIONS = ("lambda", "ortho_std1", "xavier", "xavier_std1", "random_h", "random_l")

# The paper's Table 1: (mean, std) over 1000 learners.
PAPER_TABLE1 = {
    (1, "kmin"): [(500, 0), (269, 204), (202, 212), (278, 212), (500, 0), (500, 0)],
    (1, 512): [(500, 0), (291, 227), (178, 211), (280, 204), (499, 6.4), (500, 0)],
    (2, "kmin"): [(364, 151), (15.4, 12.6), (68.1, 58.6), (69.1, 60.9), (433, 124), (417, 160)],
    (2, 512): [(339, 144), (17.2, 15.2), (71.3, 62.2), (73.2, 61.6), (445, 122), (445, 117)],
    (3, "kmin"): [(261, 118), (12.4, 3.7), (41.7, 27.9), (43.3, 30.1), (375, 141), (331, 171)],
    (3, 512): [(245, 114), (12.6, 3.7), (43.5, 29.3), (45.9, 28.5), (421, 134), (387, 135)],
    (4, "kmin"): [(128, 40.8), (12.2, 2.3), (36.5, 19.1), (36.0, 18.6), (164, 58.5), (159, 65.6)],
    (4, 512): [(129, 41.5), (12.3, 2.8), (39.6, 18.7), (39.3, 18.4), (200, 71.1), (189, 52.3)],
    (5, "kmin"): [(88.4, 29.5), (12.7, 2.5), (36.6, 14.6), (36.3, 14.3), (109, 35.1), (125, 50.9)],
    (5, 512): [(85.4, 28.1), (13.0, 2.5), (42.9, 15.5), (42.0, 15.2), (142, 15.2), (160, 37.1)],
}


@dataclasses.dataclass
class Args:
    dims: tuple[int, ...] = (1, 2, 3, 4, 5)
    """Cart-pole dimensions N (rows)."""
    ks: tuple[str, ...] = ("kmin",)
    """Dataset sizes: 'kmin' (= N + 1) and/or integers such as 512."""
    distributions: tuple[str, ...] = DISTRIBUTIONS
    """Learner distributions (columns); see jaxdistill.learners (also 'L<depth>_h<width>')."""
    learners: int = 1000
    """Fresh learners per cell."""
    seed: int = 0
    """Distillation seed of the datasets to load (or distil)."""
    eval_seed: int = 2024
    """Seed of the evaluation (learner initialisations and start states)."""
    datasets_dir: Path = Path("experiments/results")
    """Where the run directories with the datasets live (or are written)."""
    distill_missing: bool = False
    """Distil a missing dataset with experiments.cartpole's defaults instead of failing."""
    distributed: bool = False
    """Multi-host: call jax.distributed.initialize() first (coordinator, process count and id come from
    the cluster environment, e.g. a TPU pod or SLURM); the population is then sharded over every host's
    devices."""
    out_dir: Path = Path("experiments/results/kshot_table")
    """Where the tables and plot go."""


def resolve_k(k: str, n_dims: int) -> int:
    from jaxdistill.kmin import k_min

    if k == "kmin":
        return k_min(2 * n_dims)
    try:
        value = int(k)
    except ValueError:
        raise SystemExit(f"experiments.kshot_table: error: --ks takes 'kmin' or integers, got {k!r}") from None
    if value < 1:
        raise SystemExit(f"experiments.kshot_table: error: k must be >= 1, got {value}")
    return value


def dataset_dir(args: Args, n_dims: int, k: int) -> Path:
    return args.datasets_dir / f"cartpole{n_dims}d_k{k}_ppmo_s{args.seed}" / "dataset"


def main(args: Args) -> list[dict]:
    from jaxdistill.learners import get_distribution

    for name in args.distributions:
        try:
            get_distribution(name)
        except ValueError as e:
            raise SystemExit(f"experiments.kshot_table: error: {e}") from None
    if any(n < 1 for n in args.dims) or args.learners < 1:
        raise SystemExit("experiments.kshot_table: error: --dims and --learners must be >= 1")
    cells = [(n, k_label, resolve_k(k_label, n)) for n in args.dims for k_label in args.ks]

    import jax

    if args.distributed:
        from jaxdistill.sharding import initialize_distributed

        initialize_distributed()

    from jaxdistill.dataset import load_dataset
    from jaxdistill.envs import cartpole_id, make_env
    from jaxdistill.learners import make_distribution_evaluate
    from jaxdistill.sharding import is_main_process, population_mesh, to_host

    mesh = population_mesh()
    learners = args.learners - args.learners % mesh.size or mesh.size
    rows = []
    for n_dims, k_label, k in cells:
        path = dataset_dir(args, n_dims, k)
        if not (path / "dataset.npz").exists():
            if not args.distill_missing:
                raise SystemExit(f"experiments.kshot_table: error: no dataset at {path}; distil it with "
                                 f"`python -m experiments.cartpole --dims {n_dims} --k {k} --run-dir {path.parent}` "
                                 "or pass --distill-missing")
            from experiments.cartpole import Args as DistillArgs
            from experiments.cartpole import main as distill

            distill(DistillArgs(dims=n_dims, k=k, seed=args.seed, run_dir=path.parent, progress=False))
        env, env_params = make_env(cartpole_id(n_dims))
        dataset, meta = load_dataset(path, expect_obs_dim=env.obs_shape[0], expect_num_actions=env.num_actions)
        paper = PAPER_TABLE1.get((n_dims, k_label if k_label == "kmin" else k))
        for name in args.distributions:
            dist = get_distribution(name)
            t0 = time.perf_counter()
            evaluate = make_distribution_evaluate(env, env_params, dist, learners, mesh=mesh)
            returns, _, _ = evaluate(jax.random.fold_in(jax.random.PRNGKey(args.eval_seed), n_dims * 1000 + k), dataset)
            returns = to_host(returns)
            row = {
                "n_dims": n_dims, "k": k, "distribution": name, "label": dist.label or name,
                "learners": learners, "mean": float(returns.mean()), "std": float(returns.std()),
                "paper_mean": None, "paper_std": None,
                "seconds": time.perf_counter() - t0, "dataset": str(path),
            }
            if paper and name in DISTRIBUTIONS:
                row["paper_mean"], row["paper_std"] = paper[DISTRIBUTIONS.index(name)]
            rows.append(row)
            print(f"{n_dims}-D k={k:<4d} {row['label']:<18s} {row['mean']:6.1f} ± {row['std']:5.1f}"
                  + (f"   (paper {row['paper_mean']} ± {row['paper_std']})" if row["paper_mean"] is not None else "")
                  + f"   [{row['seconds']:.1f} s]", file=sys.stderr)
    if is_main_process():
        write_outputs(args, rows)
    return rows


def write_outputs(args: Args, rows: list[dict]) -> None:
    from jaxdistill.metrics import write_rows

    write_rows(args.out_dir, "table1", rows)
    labels = list(dict.fromkeys(r["label"] for r in rows))
    lines = [
        f"k-shot return, mean ± std over {rows[0]['learners']} fresh learners per cell (ours); "
        "the paper's Table 1 in brackets.",
        "",
        "| experiment | " + " | ".join(labels) + " |",
        "|---|" + "---|" * len(labels),
    ]
    for n_dims, k in dict.fromkeys((r["n_dims"], r["k"]) for r in rows):
        cells = []
        for label in labels:
            r = next(x for x in rows if (x["n_dims"], x["k"], x["label"]) == (n_dims, k, label))
            cell = f"**{r['mean']:.1f}** ± {r['std']:.1f}"
            if r["paper_mean"] is not None:
                cell += f" ({r['paper_mean']} ± {r['paper_std']})"
            cells.append(cell)
        lines.append(f"| {n_dims}D {k}-shot | " + " | ".join(cells) + " |")
    (args.out_dir / "table1.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    experiments = list(dict.fromkeys((r["n_dims"], r["k"]) for r in rows))
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(experiments)), 4))
    width = 0.8 / len(labels)
    for i, label in enumerate(labels):
        sel = [next(x for x in rows if (x["n_dims"], x["k"], x["label"]) == (*e, label)) for e in experiments]
        xs = np.arange(len(experiments)) + i * width
        ax.bar(xs, [r["mean"] for r in sel], width, yerr=[r["std"] for r in sel], label=label, capsize=2)
        ax.scatter(xs, [r["paper_mean"] if r["paper_mean"] is not None else np.nan for r in sel],
                   marker="_", color="k", s=80, zorder=3)
    ax.set_xticks(np.arange(len(experiments)) + 0.4 - width / 2, [f"{n}D k={k}" for n, k in experiments])
    ax.set_ylabel("episodic return")
    ax.set_title("k-shot learning on distilled N-D cart-pole (black: the paper's Table 1)")
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(args.out_dir / "table1.png", dpi=120)
    plt.close(fig)
    print(f"\nwritten to {args.out_dir}/table1.{{md,csv,json,png}}", file=sys.stderr)


if __name__ == "__main__":
    main(tyro.cli(Args))
