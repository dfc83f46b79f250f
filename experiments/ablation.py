"""Ablation of the paper script's options on N-D cart-pole at k = k_min: each option alone against the default.

    python -m experiments.ablation --dims 2 3 --seeds 0 1 2               # every run (resumable: done runs are kept)
    python -m experiments.ablation --dims 3 --shard 0/2 &                 # split the runs over two processes ...
    python -m experiments.ablation --dims 3 --shard 1/2                   # ... (pin each to a core with taskset)
    python -m experiments.ablation --dims 2 3 --report                    # the table from the finished runs

Options (``--options``): ``default`` (one SGD step, soft labels, fresh learners, Gaussian X), ``inner3`` (three
inner SGD steps, ``-i 3``), ``hard`` (fixed hard labels with cross-entropy, ``--conditional``), ``fixed``
(the same learner initialisations every meta-epoch, ``-s``), ``real`` (X starts from recorded states of a
uniformly random policy's rollout, ``--load_initial_state``), ``encoder`` (a learned linear encoder to 16
features, ``--encoder 16``). Every run is ``experiments.cartpole`` with the same budget, stops at a k-shot
mean of 499 over 1000 fresh learners, and ends with a 1000-learner table. Writes
``<out>/<N>d_<option>_s<seed>/`` (the cartpole run directories), ``<out>/results.{json,md}`` with the table.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import tyro

OPTIONS = {
    "default": [],
    "inner3": ["--inner.steps", "3"],
    "hard": ["--inner.labels", "hard"],
    "fixed": ["--fixed-init"],
    "real": ["--x-init-states", "{states}"],
    "encoder": ["--encoder-dim", "16"],
}
"""Each option's flags to experiments.cartpole (``{states}``: the recorded states file of the run's N)."""


@dataclasses.dataclass
class Args:
    dims: tuple[int, ...] = (2, 3)
    """Cart-pole dimensions N (k = k_min = N + 1)."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """Seeds per option."""
    options: tuple[str, ...] = tuple(OPTIONS)
    """Which options (see the module docstring)."""
    meta_epochs: dict[int, int] = dataclasses.field(default_factory=lambda: {2: 1000, 3: 2000})
    """Meta-epoch budget per N (a run stops earlier once 1000 fresh learners average 499)."""
    out: Path = Path("experiments/results/ablation")
    """Where the run directories and the table go."""
    shard: str = "0/1"
    """``i/n``: run only every n-th run starting at i (split the runs over processes)."""
    report: bool = False
    """Only write the table from the runs already finished."""


def run_dirs(args: Args):
    for dims in args.dims:
        for option in args.options:
            for seed in args.seeds:
                yield dims, option, seed, args.out / f"{dims}d_{option}_s{seed}"


def states_file(args: Args, dims: int) -> Path:
    """Real states of a uniformly random policy on N-D cart-pole (16 envs x 256 steps), recorded once."""
    path = args.out / f"states_{dims}d_random.npy"
    if not path.is_file():
        from experiments.record_states import Args as RecordArgs
        from experiments.record_states import main as record
        from jaxdistill.envs import cartpole_id

        record(RecordArgs(env=cartpole_id(dims), out=path))
    return path


def run_all(args: Args) -> None:
    from experiments.cartpole import main, parse

    try:
        index, count = (int(v) for v in args.shard.split("/"))
        assert 0 <= index < count
    except (ValueError, AssertionError):
        raise SystemExit(f"experiments.ablation: error: --shard takes i/n with 0 <= i < n (got {args.shard!r})") from None
    for i, (dims, option, seed, run_dir) in enumerate(run_dirs(args)):
        if i % count != index or (run_dir / "results.json").is_file():
            continue
        flags = [f.format(states=states_file(args, dims)) for f in OPTIONS[option]]
        print(f"[ablation] {run_dir.name}: {' '.join(flags) or '(default)'}", flush=True)
        resume = ["--resume"] if (run_dir / "checkpoints").is_dir() else []  # cut off in an earlier sitting
        main(parse(["--dims", str(dims), "--seed", str(seed), "--run-dir", str(run_dir), "--no-progress",
                    "--meta-epochs", str(args.meta_epochs[dims]), "--eval-every", "50", *flags, *resume]))


def report(args: Args) -> dict:
    rows = []
    for dims in args.dims:
        for option in args.options:
            runs = [json.loads((d / "results.json").read_text()) for _, o, _, d in run_dirs(args)
                    if o == option and d.name.startswith(f"{dims}d_") and (d / "results.json").is_file()]
            if not runs:
                continue
            means = np.array([r["kshot"][0]["mean"] for r in runs])
            reached = [r["reached_target_at"] for r in runs]
            rows.append({"dims": dims, "option": option, "seeds": len(runs), "kshot_means": means.tolist(),
                         "kshot_mean": float(means.mean()), "kshot_mean_std": float(means.std()),
                         "reached_499": sum(r is not None for r in reached), "meta_epochs": [r["meta_epochs"] for r in runs],
                         "env_steps_M": [r["env_steps"] / 1e6 for r in runs],
                         "wall_time_s": [round(r["wall_time_s"], 1) for r in runs]})
    lines = [("| N | option | k-shot mean over seeds (1000 learners each) | per seed | reached 499 | meta-epochs | "
              "wall time (s) |"), "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['dims']} | {r['option']} | {r['kshot_mean']:.1f} ± {r['kshot_mean_std']:.1f} | "
                     f"{' / '.join(f'{m:.1f}' for m in r['kshot_means'])} | {r['reached_499']}/{r['seeds']} | "
                     f"{' / '.join(map(str, r['meta_epochs']))} | {' / '.join(map(str, r['wall_time_s']))} |")
    table = "\n".join(lines)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"rows": rows, "budget": args.meta_epochs}, indent=2) + "\n")
    (args.out / "results.md").write_text("# Ablation of the paper script's options (N-D cart-pole, k = k_min)\n\n"
                                         + table + "\n")
    print(table)
    return {"rows": rows}


def main(args: Args):
    if args.report:
        return report(args)
    unknown = set(args.options) - set(OPTIONS)
    if unknown:
        raise SystemExit(f"experiments.ablation: error: unknown option(s) {sorted(unknown)}; use {list(OPTIONS)}")
    from experiments.common import check_out_dir
    from jaxdistill.core.errors import RunInterrupted

    check_out_dir(args.out, "experiments.ablation", "--out")
    try:
        run_all(args)
    except RunInterrupted as e:  # the same command continues the ablation (and this run)
        e.resume_flag, e.run_dir = False, None
        raise
    return report(args)


if __name__ == "__main__":
    from experiments.common import run_cli

    run_cli("experiments.ablation", main, lambda argv: tyro.cli(Args, args=argv))
