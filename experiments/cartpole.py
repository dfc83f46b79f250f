"""Distil N-D cart-pole into k synthetic (state, soft label) pairs with PPMO, or train PPO on it.

    python -m experiments.cartpole                       # 1-D, k=2, the paper's Λ: about a minute on a CPU
    python -m experiments.cartpole --dims 2 --k 3        # 2-D at k_min
    python -m experiments.cartpole --method ppo --dims 2 # the direct-RL baseline
    python -m experiments.cartpole --method es           # evolution strategies (HaDES) instead of PPMO
    python -m experiments.cartpole --dims 2 --k 3 --inner.steps 3 --fixed-init   # the paper script's options
    python -m experiments.cartpole --resume              # continue a killed run from its checkpoint
    python -m experiments.cartpole --ppo.total-timesteps 500000 --method ppo

Flags: PPMO's configuration and the run options are top-level (``--k``, ``--meta-epochs``, ``--seed``,
``--final-policies greedy sampled``), PPO's are ``--ppo.*``, ES's own ``--es.*`` (it shares the dataset's
options: ``--k``, ``--inner.*``, ``--fixed-init``, ``--x-init-states``); ``--help`` lists them all.

Writes into ``--run-dir`` (default ``runs/cartpole<N>d_k<K>_<method>_s<seed>``): ``dataset/``
(``dataset.npz`` + ``metadata.json``), ``metrics.csv``, ``tensorboard/``, ``checkpoints/``,
``learning_curve.png``, ``dataset.png`` and ``results.json`` / ``results.md`` with the k-shot table.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

from experiments.common import (
    METHOD_NAMES,
    ESOptions,
    Flat,
    PPMOOptions,
    PPOOptions,
    cli,
    fail,
    fill_run,
    problems,
    run_method,
)
from jaxdistill.nets.networks import LearnerSpec
from jaxdistill.run.harness import RunOptions, write_results


@dataclasses.dataclass
class Args:
    dims: int = 1
    """Number of cart-pole dimensions N (2N actions, 4N observation features)."""
    method: Literal["ppmo", "ppo", "es"] = "ppmo"
    """ppmo distils a dataset; es distils one with evolution strategies (HaDES); ppo trains a policy directly
    (the baseline)."""
    encoder_dim: int = 0
    """N > 0: a learned linear encoder to N features in front of the learners, trained with the dataset and
    saved beside it (the paper's script: ``--encoder N``; PPMO only)."""
    ppmo: Annotated[PPMOOptions, Flat] = PPMOOptions(meta_epochs=3000)
    """PPMO (k defaults to k_min = N + 1; the meta-epoch budget stops earlier at --target-return)."""
    ppo: PPOOptions = PPOOptions(total_timesteps=1_000_000)
    """PPO, for --method ppo (CleanRL's CartPole sizes)."""
    es: ESOptions = ESOptions(population=128)
    """Evolution strategies, for --method es."""
    run: Annotated[RunOptions, Flat] = RunOptions(target_return=499.0)
    """Seed, run directory, evaluation, checkpoints."""


def validate(args: Args) -> Args:
    """Reject bad arguments with a clear message before anything is compiled; fill k and the run directory."""
    errors = [] if args.dims >= 1 else [f"--dims must be >= 1 (got {args.dims})"]
    errors += [] if args.encoder_dim >= 0 else [f"--encoder-dim must be >= 0 (got {args.encoder_dim})"]
    if args.encoder_dim and args.method != "ppmo":
        errors.append(f"--encoder-dim is a PPMO option (--method {args.method} "
                      + ("evolves the dataset only)" if args.method == "es" else "trains a policy directly)"))
    errors += problems(args.ppmo) + problems(args.ppo, "ppo.") + problems(args.es, "es.") + problems(args.run)
    fail("experiments.cartpole", errors)
    from jaxdistill.envs import cartpole_id, make

    ppmo = dataclasses.replace(args.ppmo, learner=LearnerSpec(encoder_dim=args.encoder_dim))
    return fill_run(dataclasses.replace(args, ppmo=ppmo), make(cartpole_id(args.dims)).spec, "experiments.cartpole",
                    f"cartpole{args.dims}d", f"_enc{args.encoder_dim}" if args.encoder_dim else "")


def main(args: Args) -> dict:
    args = validate(args)
    from jaxdistill.envs import cartpole_id, make

    env = make(cartpole_id(args.dims))
    result = run_method(args, env, args.ppmo, args.ppo, "Λ (2x64 tanh, orthogonal)",
                        f"{METHOD_NAMES[args.method]}, {args.dims}-D cart-pole")
    table = write_results(args.run.run_dir, f"{result['env_id']} ({result['method']})", result)
    inner = args.ppmo.inner
    how = ("one SGD step each" if inner.steps == 1 and inner.kind == "sgd" else
           f"{inner.steps} {'SGD' if inner.kind == 'sgd' else 'Adam (BC)'} steps each")
    what = (f"k-shot return over {args.run.final_eval_learners} fresh learners, {how} on the {args.ppmo.k} distilled "
            "pairs" if args.method != "ppo" else "greedy return of the PPO actor")
    print(f"\n{what} ({result['env_steps']:,} env steps, {result['wall_time_s']:.1f} s of training):\n")
    print(table)
    if args.method != "ppo":
        print(f"\ndataset written to {result['dataset_dir']}/dataset.npz (+ metadata.json)")
    print(f"run directory: {args.run.run_dir} (metrics.csv, learning_curve.png, results.md)")
    return result


def parse(argv: list[str] | None = None) -> Args:
    """The command line (``sys.argv[1:]`` by default) as :class:`Args`."""
    return cli(Args, {}, "preset", argv)  # cart-pole has no presets


if __name__ == "__main__":
    from experiments.common import run_cli

    run_cli("experiments.cartpole", main, parse)
