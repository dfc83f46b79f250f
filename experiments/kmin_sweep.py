"""Does the minimum distillation size k_min = ceil(c/2) + 1 hold? (the paper's Section 4.2)

    python -m experiments.kmin_sweep                           # N = 1..5, k in {k_min-1, k_min, k_min+1, 512}, 3 seeds
    python -m experiments.kmin_sweep --dims 1 2 --seeds 0 1    # a smaller sweep
    python -m jaxdistill.launch --processes 2 --cpu-devices 2 -- python -m experiments.kmin_sweep --dims 1 2
                                                               # as 2 processes (README: "Devices and several processes")

For every (N, k) all seeds are distilled together as one vmapped program (the seed axis split over every
device of every process), each seed's dataset is written in the standard format, and 1000 fresh Λ
learners evaluate each. Writes ``kmin_sweep.{md,csv,json,png}`` into ``--out-dir`` after every (N, k).
Run again with the same ``--out-dir``, the sweep resumes: an (N, k) whose datasets are all there (same
configuration) is evaluated, not distilled again.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import tyro

from jaxdistill.distill.ppmo import PPMOConfig

PROG = "experiments.kmin_sweep"


@dataclasses.dataclass
class Args:
    dims: tuple[int, ...] = (1, 2, 3, 4, 5)
    """Cart-pole dimensions N (c = 2N actions)."""
    ks: tuple[str, ...] = ("kmin-1", "kmin", "kmin+1", "512")
    """Dataset sizes relative to k_min (kmin, kmin-1, kmin+1) or absolute integers."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """Distillation seeds; they train together in one program per (N, k)."""
    meta_epochs: tuple[int, ...] = (400, 1000, 2000, 2000, 3000)
    """Meta-epoch budget for N = 1, 2, 3, ... (the last entry serves any larger N)."""
    chunk: int = 50
    """Meta-epochs between evaluations (all seeds stop once all reach --target-return)."""
    target_return: float = 499.0
    """Early-stop threshold on every seed's k-shot mean over --chunk-learners learners."""
    chunk_learners: int = 200
    """Learners per seed in the evaluations between chunks."""
    learners: int = 1000
    """Fresh Λ learners per dataset in the final table."""
    num_learners: int = PPMOConfig.num_learners
    """PPMO learners per meta-epoch."""
    num_envs: int = PPMOConfig.num_envs
    """PPMO environments per learner."""
    num_steps: int = PPMOConfig.num_steps
    """PPMO rollout length."""
    num_minibatches: int = PPMOConfig.num_minibatches
    """PPMO minibatches per policy epoch."""
    eval_seed: int = 2024
    """Seed of the final evaluation."""
    out_dir: Path = Path("experiments/results/kmin_sweep")
    """Where datasets, tables and the plot go."""
    merge: bool = False
    """Keep the rows of an earlier sweep in --out-dir (kmin_sweep.json) for every (N, k) this run does not
    redo, so a sweep can be extended one N at a time into one table."""


def resolve_k(label: str, n_dims: int) -> int:
    from jaxdistill.distill.kmin import k_min

    base = k_min(2 * n_dims)
    try:
        if label.startswith("kmin"):
            k = base + (int(label[4:]) if label[4:] else 0)
        else:
            k = int(label)
    except ValueError:
        raise SystemExit(
            f"{PROG}: error: --ks takes kmin, kmin-1, kmin+1 or integers, got {label!r}") from None
    if k < 1:
        raise SystemExit(f"{PROG}: error: {label} gives k={k} < 1 for N={n_dims}")
    return k


def validate(args: Args) -> list[tuple[int, str, int]]:
    """The sweep's (N, k label, k) plan, or one line naming every bad argument (before any work)."""
    import math

    from experiments.common import fail, problems

    errors = []
    if not args.seeds:
        errors.append("--seeds needs at least one seed")
    if not args.dims or any(n < 1 for n in args.dims):
        errors.append(f"--dims must be >= 1 (got {list(args.dims)})")
    if not args.meta_epochs or any(m < 1 for m in args.meta_epochs):
        errors.append(f"--meta-epochs must be >= 1 (got {list(args.meta_epochs)})")
    for name in ("chunk", "chunk_learners", "learners"):
        if getattr(args, name) < 1:
            errors.append(f"--{name.replace('_', '-')} must be >= 1 (got {getattr(args, name)})")
    if not math.isfinite(args.target_return):
        errors.append(f"--target-return must be a finite number (got {args.target_return})")
    errors += problems(PPMOConfig(num_learners=args.num_learners, num_envs=args.num_envs, num_steps=args.num_steps,
                                  num_minibatches=args.num_minibatches))
    fail(PROG, errors)
    return [(n, label, resolve_k(label, n)) for n in args.dims for label in args.ks]


def main(args: Args) -> list[dict]:
    plan = validate(args)
    from experiments.common import check_out_dir

    check_out_dir(args.out_dir, PROG)

    import jax

    from jaxdistill.core import distributed
    from jaxdistill.core.errors import RunInterrupted
    from jaxdistill.core.sharding import is_main_process, population_mesh, to_host
    from jaxdistill.distill.kmin import k_min
    from jaxdistill.envs import cartpole_id, make
    from jaxdistill.eval.kshot import fresh_learners, make_kshot_evaluate
    from jaxdistill.run.population import distill_population

    # Seeds (distillation) and learners (evaluation) are split over every device of every process.
    mesh = population_mesh()
    rows = []
    table = rows  # with --merge, the earlier sweep's rows too
    for n_dims, label, k in plan:
        budget = args.meta_epochs[min(n_dims, len(args.meta_epochs)) - 1]  # exactly (a shorter last chunk)
        env = make(cartpole_id(n_dims))
        config = PPMOConfig(k=k, meta_epochs=budget, num_learners=args.num_learners,
                            num_envs=args.num_envs, num_steps=args.num_steps, num_minibatches=args.num_minibatches)
        # A resumed sweep takes the (N, k) whose datasets a previous run wrote in full; process 0 reads them.
        done = distributed.from_main(lambda n_dims=n_dims, k=k, config=config: load_written(args, n_dims, k, config))
        if done is not None:
            datasets, meta_epochs, wall_time = done
            distributed.log(f"[kmin_sweep] N={n_dims} k={k} ({label}): datasets of seeds {list(args.seeds)} found in "
                            f"{args.out_dir / 'datasets'}; not distilling them again")
        else:
            distributed.log(f"[kmin_sweep] N={n_dims} k={k} ({label}), seeds {list(args.seeds)}, up to {budget} "
                            f"meta-epochs over {mesh.size} devices ({jax.process_count()} processes)")
            try:
                result = distill_population(env, config, list(args.seeds), chunk=args.chunk,
                                            eval_learners=args.chunk_learners, target_return=args.target_return,
                                            mesh=mesh)
            except RunInterrupted as e:  # every (N, k) finished so far is written; a rerun reuses them
                e.what += (f"; the finished (N, k) are in {args.out_dir}, and the same command resumes after them"
                           if rows else "; nothing of the sweep was finished yet")
                raise
            gathered = jax.tree_util.tree_map(to_host, result.states.agent.dataset)
            datasets = [jax.tree_util.tree_map(lambda x, i=i: x[i], gathered) for i in range(len(args.seeds))]
            meta_epochs, wall_time = result.meta_epochs, result.wall_time
            if is_main_process():
                for seed, dataset in zip(args.seeds, datasets, strict=True):
                    save_seed(args, n_dims, k, seed, dataset, env, config, meta_epochs, wall_time)
        evaluate = make_kshot_evaluate(env, fresh_learners(env, config.learner), args.learners, mesh=mesh)
        for seed, dataset in zip(args.seeds, datasets, strict=True):
            returns = to_host(evaluate(jax.random.fold_in(jax.random.PRNGKey(args.eval_seed), seed), dataset))
            rows.append({"n_dims": n_dims, "actions": 2 * n_dims, "k_min": k_min(2 * n_dims), "k_label": label,
                         "k": k, "seed": seed, "meta_epochs": meta_epochs,
                         "env_steps": meta_epochs * config.env_steps_per_meta_epoch,
                         "wall_time_s_all_seeds": wall_time, "mean": float(returns.mean()),
                         "std": float(returns.std()), "learners": args.learners, "resumed": done is not None})
        table = merge_rows(args.out_dir / "kmin_sweep.json", rows) if args.merge else rows
        if is_main_process():  # the table so far, so an interrupted sweep leaves its finished rows behind
            write_outputs(args, table)
    return table


def seed_dir(args: Args, n_dims: int, k: int, seed: int) -> Path:
    return args.out_dir / "datasets" / f"cartpole{n_dims}d_k{k}_s{seed}"


def save_seed(args: Args, n_dims: int, k: int, seed: int, dataset, env, config, meta_epochs: int,
              wall_time: float) -> None:
    from jaxdistill.core.loop import config_to_dict
    from jaxdistill.learn.dataset import save_dataset

    save_dataset(seed_dir(args, n_dims, k, seed), dataset, env_spec=env.spec, learner_spec=config.learner,
                 config=config_to_dict(config),
                 extra={"seed": seed, "meta_epochs": meta_epochs, "wall_time_s_all_seeds": wall_time,
                        "population": population_settings(args)})


def population_settings(args: Args) -> dict:
    """What besides the PPMO configuration decides a seed's dataset: the seeds trained together stop together,
    when all of them reach the target in an evaluation between chunks."""
    return {"seeds": list(args.seeds), "chunk": args.chunk, "target_return": args.target_return,
            "chunk_learners": args.chunk_learners}


def load_written(args: Args, n_dims: int, k: int, config: PPMOConfig):
    """``(datasets, meta_epochs, wall_time)`` when every seed of (N, k) was written with this sweep's
    configuration, else None (the (N, k) is distilled again)."""
    from jaxdistill.core.loop import config_to_dict
    from jaxdistill.learn.dataset import DatasetFileError, load_dataset

    datasets, metas = [], []
    for seed in args.seeds:
        try:  # metadata.json is written after dataset.npz: a seed cut off while saving is distilled again
            dataset, meta = load_dataset(seed_dir(args, n_dims, k, seed))
        except DatasetFileError:
            return None
        if (meta.get("config") != json_roundtrip(config_to_dict(config))
                or meta.get("population") != json_roundtrip(population_settings(args))):
            return None  # written by another configuration or seed set (or before sweeps resumed): distil again
        datasets.append(dataset)
        metas.append(meta)
    return datasets, metas[0]["meta_epochs"], metas[0]["wall_time_s_all_seeds"]


def json_roundtrip(value):
    import json

    return json.loads(json.dumps(value, default=str))  # as save_dataset writes it


def merge_rows(previous: Path, rows: list[dict]) -> list[dict]:
    """Earlier rows whose (N, k) is not among ``rows``, then ``rows``; sorted by (N, k)."""
    import json

    if not previous.exists():
        return rows
    redone = {(r["n_dims"], r["k"]) for r in rows}
    kept = [r for r in json.loads(previous.read_text())["runs"] if (r["n_dims"], r["k"]) not in redone]
    return sorted(kept + rows, key=lambda r: (r["n_dims"], r["k"], r["seed"]))


def summarize(rows: list[dict]) -> list[dict]:
    import numpy as np

    out = []
    for n_dims, k in dict.fromkeys((r["n_dims"], r["k"]) for r in rows):
        sel = [r for r in rows if (r["n_dims"], r["k"]) == (n_dims, k)]
        means = np.array([r["mean"] for r in sel])
        out.append({"n_dims": n_dims, "k": k, "k_label": sel[0]["k_label"], "k_min": sel[0]["k_min"],
                    "seeds": len(sel), "mean_of_seeds": float(means.mean()), "std_over_seeds": float(means.std()),
                    "per_seed": [round(float(m), 1) for m in means],
                    "within_seed_std": float(np.mean([r["std"] for r in sel])),
                    "meta_epochs": sel[0]["meta_epochs"], "wall_time_s": sel[0]["wall_time_s_all_seeds"]})
    return out


def law_verdicts(summary: list[dict]) -> dict[int, str]:
    verdicts = {}
    for n_dims in dict.fromkeys(s["n_dims"] for s in summary):
        by_label = {s["k_label"]: s for s in summary if s["n_dims"] == n_dims}
        below, at = by_label.get("kmin-1"), by_label.get("kmin")
        if below is None or at is None:
            verdicts[n_dims] = "not tested (needs kmin-1 and kmin)"
        elif below["mean_of_seeds"] < 0.5 * at["mean_of_seeds"]:
            verdicts[n_dims] = (f"holds: k={below['k']} gives {below['mean_of_seeds']:.1f}, "
                                f"k_min={at['k']} gives {at['mean_of_seeds']:.1f}")
        else:
            verdicts[n_dims] = (f"does NOT hold: k={below['k']} still gives {below['mean_of_seeds']:.1f} "
                                f"(k_min={at['k']}: {at['mean_of_seeds']:.1f})")
    return verdicts


def write_outputs(args: Args, rows: list[dict]) -> None:
    from jaxdistill.core.metrics import write_rows

    summary = summarize(rows)
    verdicts = law_verdicts(summary)
    write_rows(args.out_dir, "kmin_sweep", rows, {"summary": summary, "verdicts": verdicts})
    lines = [
        f"k-shot return over {rows[0]['learners']} fresh Λ learners per dataset; mean ± std over seeds of the "
        "per-dataset means (per-seed means in brackets).",
        "",
        "| N | actions | k | k vs k_min | seeds | k-shot return | per seed | meta-epochs | wall time (all seeds) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        lines.append(f"| {s['n_dims']} | {2 * s['n_dims']} | {s['k']} | {s['k_label']} | {s['seeds']} | "
                     f"**{s['mean_of_seeds']:.1f}** ± {s['std_over_seeds']:.1f} | {s['per_seed']} | "
                     f"{s['meta_epochs']} | {s['wall_time_s']:.0f} s |")
    lines += ["", "The k_min law per N (holds when k_min - 1 reaches less than half of k_min's return):", ""]
    lines += [f"- N={n}: {v}" for n, v in verdicts.items()]
    (args.out_dir / "kmin_sweep.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4))
    for n_dims in dict.fromkeys(s["n_dims"] for s in summary):
        sel = [s for s in summary if s["n_dims"] == n_dims]
        ax.errorbar([s["k_label"] for s in sel], [s["mean_of_seeds"] for s in sel],
                    yerr=[s["std_over_seeds"] for s in sel], marker="o", capsize=3, label=f"{n_dims}-D")
    ax.set_xlabel("k")
    ax.set_ylabel("k-shot return (1000 Λ learners)")
    ax.set_title("Minimum distillation size on N-D cart-pole")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out_dir / "kmin_sweep.png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    from experiments.common import run_cli

    run_cli(PROG, main, lambda argv: tyro.cli(Args, args=argv))
