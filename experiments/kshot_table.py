"""The paper's Table 1: k-shot returns of 1000 fresh learners from each learner distribution.

    python -m experiments.kshot_table                          # N = 1..5 at k = k_min, datasets from experiments/results
    python -m experiments.kshot_table --ks kmin 512            # also k = 512 (distils what is missing)
    python -m experiments.kshot_table --dims 1 2 --learners 200
    python -m experiments.kshot_table --table 6                # the L x h grid of Table 6
    python -m jaxdistill.launch --processes 2 -- python -m experiments.kshot_table   # as 2 processes

For every (N, k) it loads ``<datasets-dir>/cartpole<N>d_k<K>_ppmo_s<seed>/dataset`` or, with
``--distill-missing``, distils it first with ``experiments.cartpole``'s defaults. Every learner
distribution is one compiled call over ``--learners`` learners (random architectures are padded
exactly, see ``jaxdistill.learn.learners``), split over every device of every process. Writes ``table1.md``,
``table1.csv``, ``table1.json``, ``table1.png`` and every learner's return (``table1_returns.npz``) into
``--out-dir`` (``table6.*`` with ``--table 6``).
"""

from __future__ import annotations

import dataclasses
import signal
import sys
import time
from pathlib import Path
from typing import Literal

import tyro

PROG = "experiments.kshot_table"
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

GRID_DEPTHS = (0, 1, 2, 3, 4, 5)
GRID_WIDTHS = (32, 64, 128, 256)
GRID_DISTRIBUTIONS = tuple(f"L{d}_h{w}" for d in GRID_DEPTHS for w in GRID_WIDTHS)

# The paper's Table 6 (k = k_min, means over 1000 learners; rows L = 0..5, columns h = 32, 64, 128, 256).
# The paper's text holds five grids whose sub-captions ("(b) 3-shot 2D", "(c) 4-shot 3D", "(d) 5-shot 4D")
# each follow one grid later than their order would put them and "(e) 6-shot 5D" has no grid after it;
# we read the five grids in order as N = 1..5, the only reading in which every cell falls as N grows.
PAPER_TABLE6 = {
    1: [[500.0, 500.0, 500.0, 500.0], [500.0, 500.0, 500.0, 500.0], [500.0, 500.0, 500.0, 500.0],
        [500.0, 500.0, 500.0, 500.0], [499.9, 500.0, 500.0, 500.0], [494.9, 499.5, 500.0, 500.0]],
    2: [[94.4, 90.4, 93.1, 93.2], [490.5, 490.5, 491.8, 491.8], [500.0, 500.0, 500.0, 500.0],
        [492.7, 500.0, 500.0, 500.0], [447.8, 490.4, 499.2, 500.0], [371.3, 448.3, 489.4, 499.6]],
    3: [[78.7, 76.9, 78.6, 80.4], [430.7, 468.7, 482.7, 488.2], [382.8, 447.6, 486.6, 498.2],
        [292.7, 368.4, 441.5, 488.1], [220.7, 284.8, 366.0, 437.1], [170.7, 221.8, 287.0, 374.9]],
    4: [[49.1, 50.7, 51.1, 50.9], [177.7, 193.1, 200.6, 208.0], [182.0, 210.2, 235.7, 261.0],
        [159.1, 186.5, 217.8, 251.3], [135.6, 162.1, 189.6, 225.2], [109.5, 136.8, 161.9, 198.8]],
    5: [[38.0, 39.6, 39.1, 39.4], [125.0, 134.5, 140.0, 143.4], [149.3, 165.5, 183.2, 196.8],
        [135.1, 153.8, 175.1, 197.5], [113.0, 136.3, 157.2, 181.5], [79.5, 115.1, 136.0, 160.9]],
}


def paper_figure(table: int, n_dims: int, k_label, name: str) -> tuple[float | None, float | None]:
    """The paper's (mean, std) for one cell, (None, None) where the paper has none."""
    if table == 1:
        paper = PAPER_TABLE1.get((n_dims, k_label))
        if paper and name in DISTRIBUTIONS:
            return paper[DISTRIBUTIONS.index(name)]
    elif k_label == "kmin" and n_dims in PAPER_TABLE6 and name in GRID_DISTRIBUTIONS:
        depth, width = name[1:].split("_h")
        return PAPER_TABLE6[n_dims][GRID_DEPTHS.index(int(depth))][GRID_WIDTHS.index(int(width))], None
    return None, None


@dataclasses.dataclass
class Args:
    dims: tuple[int, ...] = (1, 2, 3, 4, 5)
    """Cart-pole dimensions N (rows)."""
    ks: tuple[str, ...] = ("kmin",)
    """Dataset sizes: 'kmin' (= N + 1) and/or integers such as 512."""
    distributions: tuple[str, ...] = DISTRIBUTIONS
    """Learner distributions (columns); see jaxdistill.learn.learners (also 'L<depth>_h<width>')."""
    table: Literal[1, 6] = 1
    """1: the paper's Table 1 (--distributions); 6: its Table 6, the grid of L = 0..5 hidden layers x
    h = 32..256 units with Λ's init (replaces --distributions)."""
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
    out_dir: Path = Path("experiments/results/kshot_table")
    """Where the tables and plot go."""


def resolve_k(k: str, n_dims: int) -> int:
    from jaxdistill.distill.kmin import k_min

    if k == "kmin":
        return k_min(2 * n_dims)
    try:
        value = int(k)
    except ValueError:
        raise SystemExit(f"{PROG}: error: --ks takes 'kmin' or integers, got {k!r}") from None
    if value < 1:
        raise SystemExit(f"{PROG}: error: k must be >= 1, got {value}")
    return value


def dataset_dir(args: Args, n_dims: int, k: int) -> Path:
    return args.datasets_dir / f"cartpole{n_dims}d_k{k}_ppmo_s{args.seed}" / "dataset"


def main(args: Args) -> list[dict]:
    from jaxdistill.learn.learners import get_distribution

    if args.table == 6:
        args = dataclasses.replace(args, distributions=GRID_DISTRIBUTIONS)
    for name in args.distributions:
        try:
            get_distribution(name)
        except ValueError as e:
            raise SystemExit(f"{PROG}: error: {e}") from None
    if any(n < 1 for n in args.dims) or args.learners < 1:
        raise SystemExit(f"{PROG}: error: --dims and --learners must be >= 1")
    cells = [(n, k_label, resolve_k(k_label, n)) for n in args.dims for k_label in args.ks]
    from experiments.common import check_out_dir

    check_out_dir(args.out_dir, PROG)

    import jax
    import numpy as np

    from jaxdistill.core import distributed
    from jaxdistill.core.errors import RunInterrupted
    from jaxdistill.core.loop import StopSignals
    from jaxdistill.core.sharding import is_main_process, population_mesh, to_host
    from jaxdistill.envs import cartpole_id, make
    from jaxdistill.eval.kshot import make_kshot_evaluate
    from jaxdistill.learn.dataset import DatasetFileError, load_dataset
    from jaxdistill.learn.learners import padded_learners

    # Every cell's learners are split over every device of every process (padded to a multiple of the device
    # count, the padding dropped), so the returns do not depend on how many devices or processes there are.
    mesh = population_mesh()
    rows, returns_of = [], {}
    with StopSignals() as stop:  # SIGINT / SIGTERM stop every process between two cells
        for n_dims, k_label, k in cells:
            path = dataset_dir(args, n_dims, k)
            env = make(cartpole_id(n_dims))

            def read(path=path, env=env):
                """The dataset, or None where there is none. Process 0 reads the file and hands it to the others
                (they may not share its disk)."""
                if not (path / "dataset.npz").exists():
                    return None
                try:
                    dataset, _ = load_dataset(path, expect_obs_dim=env.spec.obs_shape[0],
                                              expect_num_actions=env.spec.num_actions)
                except DatasetFileError as e:
                    raise SystemExit(f"{PROG}: error: {e}") from None
                return dataset

            dataset = distributed.from_main(read)
            if dataset is None:
                if not args.distill_missing:
                    raise SystemExit(f"{PROG}: error: no dataset at {path}; distil it with `python -m "
                                     f"experiments.cartpole --dims {n_dims} --k {k} --run-dir {path.parent}` or "
                                     "pass --distill-missing")
                if jax.process_count() > 1:
                    raise SystemExit(f"{PROG}: error: no dataset at {path}, and --distill-missing distils on "
                                     "one process: distil first (`python -m experiments.kmin_sweep` splits seeds "
                                     "over every process), then run the table")
                from experiments.cartpole import Args as DistillArgs
                from experiments.cartpole import main as distill

                defaults = DistillArgs()
                resume = (path.parent / "checkpoints").is_dir()  # a distillation cut off by an earlier stop goes on
                try:
                    distill(dataclasses.replace(
                        defaults, dims=n_dims, ppmo=dataclasses.replace(defaults.ppmo, k=k),
                        run=dataclasses.replace(defaults.run, seed=args.seed, run_dir=path.parent, progress=False,
                                                resume=resume)))
                except RunInterrupted as e:  # the same command continues it
                    e.resume_flag, e.run_dir = False, None
                    raise
                dataset = read()
            for name in args.distributions:
                if distributed.any_process(stop.requested):
                    raise RunInterrupted(f"the table was interrupted at {n_dims}-D k={k}; nothing was written",
                                         stop.signum or signal.SIGTERM, resume_flag=False)
                dist = get_distribution(name)
                t0 = time.perf_counter()
                evaluate = make_kshot_evaluate(env, padded_learners(env, dist), args.learners, mesh=mesh)
                key = jax.random.fold_in(jax.random.PRNGKey(args.eval_seed), n_dims * 1000 + k)
                returns = to_host(evaluate(key, dataset))
                returns_of[f"N{n_dims}_k{k}_{name}"] = returns
                row = {
                    "n_dims": n_dims, "k": k, "distribution": name, "label": dist.label or name,
                    "learners": args.learners, "mean": float(returns.mean()), "std": float(returns.std()),
                    "seconds": time.perf_counter() - t0, "dataset": str(path),
                }
                row["paper_mean"], row["paper_std"] = paper_figure(
                    args.table, n_dims, k_label if k_label == "kmin" else k, name)
                rows.append(row)
                distributed.log(f"{n_dims}-D k={k:<4d} {row['label']:<18s} {row['mean']:6.1f} ± {row['std']:5.1f}"
                                + (f"   (paper {row['paper_mean']})" if row["paper_mean"] is not None else "")
                                + f"   [{row['seconds']:.1f} s]")
    if is_main_process():
        (write_table6 if args.table == 6 else write_outputs)(args, rows)
        # Every learner's return, for confidence intervals and tests: one array per cell.
        np.savez(args.out_dir / f"table{args.table}_returns.npz", **returns_of)
    return rows


def paper_cell(r: dict) -> str:
    if r["paper_mean"] is None:
        return ""
    return f" ({r['paper_mean']} ± {r['paper_std']})" if r["paper_std"] is not None else f" ({r['paper_mean']})"


def write_outputs(args: Args, rows: list[dict]) -> None:
    from jaxdistill.core.metrics import write_rows

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
            cells.append(f"**{r['mean']:.1f}** ± {r['std']:.1f}" + paper_cell(r))
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


def write_table6(args: Args, rows: list[dict]) -> None:
    """One L x h grid per (N, k): our mean ± std with the paper's mean in brackets, and a heat map each."""
    from jaxdistill.core.metrics import write_rows

    write_rows(args.out_dir, "table6", rows)
    experiments = list(dict.fromkeys((r["n_dims"], r["k"]) for r in rows))
    lines = [f"k-shot return, mean ± std over {rows[0]['learners']} fresh learners with L hidden layers of h units "
             "(Λ's orthogonal init) per cell; the paper's Table 6 mean in brackets.", ""]

    def cell_row(n_dims, k, depth, width):
        return next((r for r in rows if (r["n_dims"], r["k"], r["distribution"]) == (n_dims, k, f"L{depth}_h{width}")),
                    None)

    depths = [d for d in GRID_DEPTHS if any(r["distribution"].startswith(f"L{d}_") for r in rows)]
    widths = [w for w in GRID_WIDTHS if any(r["distribution"].endswith(f"_h{w}") for r in rows)]
    for n_dims, k in experiments:
        lines += [f"### {n_dims}-D, {k}-shot", "", "| | " + " | ".join(f"h={w}" for w in widths) + " |",
                  "|---|" + "---|" * len(widths)]
        for depth in depths:
            cells = []
            for width in widths:
                r = cell_row(n_dims, k, depth, width)
                cells.append("" if r is None else f"**{r['mean']:.1f}** ± {r['std']:.1f}" + paper_cell(r))
            lines.append(f"| L={depth} | " + " | ".join(cells) + " |")
        lines.append("")
    (args.out_dir / "table6.md").write_text("\n".join(lines))
    print("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    has_paper = any(r["paper_mean"] is not None for r in rows)
    fig, axes = plt.subplots(1 + has_paper, len(experiments), figsize=(2.6 * len(experiments), 2.4 * (1 + has_paper)),
                             squeeze=False)
    for j, (n_dims, k) in enumerate(experiments):
        for i, key in enumerate(["mean", "paper_mean"][: 1 + has_paper]):
            grid = np.array([[np.nan if (r := cell_row(n_dims, k, d, w)) is None or r[key] is None else r[key]
                              for w in widths] for d in depths])
            ax = axes[i, j]
            ax.imshow(grid, vmin=0, vmax=500, cmap="viridis", aspect="auto")
            for (a, b), v in np.ndenumerate(grid):
                if not np.isnan(v):
                    ax.text(b, a, f"{v:.0f}", ha="center", va="center", fontsize=6,
                            color="w" if v < 250 else "k")
            ax.set_xticks(range(len(widths)), [str(w) for w in widths], fontsize=7)
            ax.set_yticks(range(len(depths)), [str(d) for d in depths], fontsize=7)
            ax.set_title(f"{n_dims}-D k={k}" + (" (paper)" if key == "paper_mean" else " (ours)"), fontsize=8)
            ax.set_xlabel("h", fontsize=7)
            ax.set_ylabel("L", fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out_dir / "table6.png", dpi=120)
    plt.close(fig)
    print(f"\nwritten to {args.out_dir}/table6.{{md,csv,json,png}}", file=sys.stderr)


if __name__ == "__main__":
    from experiments.common import run_cli

    run_cli(PROG, main, lambda argv: tyro.cli(Args, args=argv))
