"""Distil N-D cart-pole into k synthetic (state, soft label) pairs with PPMO, or train PPO on it.

    python -m experiments.cartpole                       # 1-D, k=2, the paper's Λ: about a minute on a CPU
    python -m experiments.cartpole --dims 2 --k 3        # 2-D at k_min
    python -m experiments.cartpole --method ppo --dims 2 # the direct-RL baseline
    python -m experiments.cartpole --resume              # continue a killed run from its checkpoint
    python -m experiments.cartpole --ppo.total-timesteps 500000 --method ppo

Flags: PPMO's configuration and the run options are top-level (``--k``, ``--meta-epochs``, ``--seed``,
``--final-policies greedy sampled``), PPO's are ``--ppo.*``; ``--help`` lists them all.

Writes into ``--run-dir`` (default ``runs/cartpole<N>d_k<K>_<method>_s<seed>``): ``dataset/``
(``dataset.npz`` + ``metadata.json``), ``metrics.csv``, ``tensorboard/``, ``checkpoints/``,
``learning_curve.png``, ``dataset.png`` and ``results.json`` / ``results.md`` with the k-shot table.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

from experiments.common import Flat, PPMOOptions, PPOOptions, cli, fail, fill_run, problems
from jaxdistill.run.harness import RunOptions, write_results


@dataclasses.dataclass
class Args:
    dims: int = 1
    """Number of cart-pole dimensions N (2N actions, 4N observation features)."""
    method: Literal["ppmo", "ppo"] = "ppmo"
    """ppmo distils a dataset; ppo trains a policy directly (the baseline)."""
    ppmo: Annotated[PPMOOptions, Flat] = PPMOOptions(meta_epochs=3000)
    """PPMO (k defaults to k_min = N + 1; the meta-epoch budget stops earlier at --target-return)."""
    ppo: PPOOptions = PPOOptions(total_timesteps=1_000_000)
    """PPO, for --method ppo (CleanRL's CartPole sizes)."""
    run: Annotated[RunOptions, Flat] = RunOptions(target_return=499.0)
    """Seed, run directory, evaluation, checkpoints."""


def validate(args: Args) -> Args:
    """Reject bad arguments with a clear message before anything is compiled; fill k and the run directory."""
    errors = [] if args.dims >= 1 else [f"--dims must be >= 1 (got {args.dims})"]
    errors += problems(args.ppmo) + problems(args.ppo, "ppo.") + problems(args.run)
    fail("experiments.cartpole", errors)
    from jaxdistill.envs import cartpole_id, make

    return fill_run(args, make(cartpole_id(args.dims)).spec, "experiments.cartpole", f"cartpole{args.dims}d")


def main(args: Args) -> dict:
    args = validate(args)
    from jaxdistill.envs import cartpole_id, make
    from jaxdistill.run.harness import run_ppmo, run_ppo

    env = make(cartpole_id(args.dims))
    if args.method == "ppmo":
        result = run_ppmo(env, args.ppmo, args.run, learner_label="Λ (2x64 tanh, orthogonal)",
                          title=f"PPMO, {args.dims}-D cart-pole")
    else:
        result = run_ppo(env, args.ppo, args.run, title=f"PPO, {args.dims}-D cart-pole")
    result.pop("rows")
    table = write_results(args.run.run_dir, f"{result['env_id']} ({result['method']})", result)
    what = (f"k-shot return over {args.run.final_eval_learners} fresh learners, one SGD step each on the "
            f"{args.ppmo.k} distilled pairs" if args.method == "ppmo" else "greedy return of the PPO actor")
    print(f"\n{what} ({result['env_steps']:,} env steps, {result['wall_time_s']:.1f} s of training):\n")
    print(table)
    if args.method == "ppmo":
        print(f"\ndataset written to {result['dataset_dir']}/dataset.npz (+ metadata.json)")
    print(f"run directory: {args.run.run_dir} (metrics.csv, learning_curve.png, results.md)")
    return result


def parse(argv: list[str] | None = None) -> Args:
    """The command line (``sys.argv[1:]`` by default) as :class:`Args`."""
    return cli(Args, {}, "preset", argv)  # cart-pole has no presets


if __name__ == "__main__":
    main(parse())
