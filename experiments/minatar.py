"""Distil a MinAtar game (gymnax, fully jitted) into k synthetic images with PPMO, or train PPO on it.

    python -m experiments.minatar --env Breakout --preset cpu           # minutes on a laptop CPU
    python -m experiments.minatar --env SpaceInvaders --k 16 --preset cpu
    python -m experiments.minatar --env Breakout --encoder-layers 3     # encoder rollback, l = 3
    python -m experiments.minatar --env Breakout --method ppo --preset cpu   # the direct-RL baseline
    python -m experiments.minatar --env Breakout --resume               # continue a killed run

The learner is a five-layer MinAtar CNN (conv 16/32/32 3x3, dense 256, output), split at
``--encoder-layers l``: layers [0, l) are an encoder trained by the outer PPO loss with the dataset
(the paper's Algorithm 2), layers [l, 5) are re-sampled every meta-epoch. Writes into ``--run-dir``
(default ``runs/minatar_<game>_k<K>_l<l>_<method>_s<seed>``): ``dataset/`` (+ ``encoder.npz``),
``metrics.csv``, ``tensorboard/``, ``checkpoints/``, ``learning_curve.png``, ``dataset.png`` and
``results.{json,md}`` with the k-shot table beside a random policy and the published HaDES figures.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

from experiments.common import (
    METHOD_NAMES,
    Flat,
    ImageArgs,
    PPMOOptions,
    as_options,
    cli,
    fail,
    fill_run,
    print_results,
    run_image_method,
    validate_image_args,
)
from jaxdistill.presets import MINATAR_PPMO, minatar_learner
from jaxdistill.run.harness import RunOptions, summarize

# HaDES (Tang et al.), k-shot return of a 16-pair distilled MinAtar dataset, as quoted in the issue.
HADES_16 = {"Breakout": 8.8, "SpaceInvaders": 19.2, "Asterix": 3.9}

# MinAtar's learners act stochastically: evaluations sample (the headline figures), greedy is in the table too.
_RUN = RunOptions(eval_every=50, eval_learners=256, eval_policy="sampled", final_policies=("sampled", "greedy"))
_PPMO = as_options(PPMOOptions, MINATAR_PPMO["gpu"])


@dataclasses.dataclass
class Args(ImageArgs):
    env: Literal["Breakout", "SpaceInvaders", "Asterix", "Freeway"] = "Breakout"
    """MinAtar game (gymnax ``<game>-MinAtar``)."""
    # The defaults are the GPU-sized preset: 32 learners x 16 envs x 128 steps = 65k env steps per meta-epoch.
    ppmo: Annotated[PPMOOptions, Flat] = _PPMO
    run: Annotated[RunOptions, Flat] = _RUN


PRESETS: dict[str, Args] = {
    "gpu": Args(),
    # A laptop-CPU run: 4 learners x 8 envs x 64 steps = 2048 env steps per meta-epoch.
    "cpu": Args(preset="cpu", ppmo=as_options(PPMOOptions, MINATAR_PPMO["cpu"]),
                run=dataclasses.replace(_RUN, eval_every=25, eval_learners=64)),
}


def validate(args: Args) -> Args:
    """Reject bad arguments before anything is compiled; fill k and the run directory."""
    fail("experiments.minatar", validate_image_args(args))
    from jaxdistill.envs import make, minatar_id

    return fill_run(args, make(minatar_id(args.env)).spec, "experiments.minatar", f"minatar_{args.env.lower()}",
                    f"_l{args.encoder_layers}")


def main(args: Args) -> dict:
    args = validate(args)
    from jaxdistill.core.loop import run_keys
    from jaxdistill.envs import make, minatar_id
    from jaxdistill.eval.baselines import random_policy_returns

    env = make(minatar_id(args.env))
    title = f"{METHOD_NAMES[args.method]}, {args.env}-MinAtar"
    result = run_image_method(args, env, minatar_learner, f"fresh MinAtar CNN learners (l={args.encoder_layers})",
                              title)
    random_returns = random_policy_returns(env, run_keys(args.run.seed)[2], args.run.final_eval_learners)
    result["kshot"].append(summarize(random_returns, "uniformly random policy", "sampled"))
    result["hades_16"] = HADES_16.get(args.env)
    intro = "" if result["hades_16"] is None else f"HaDES with 16 pairs (published): {result['hades_16']}\n\n"
    print_results(args.run.run_dir, title, result, intro)
    return result


def parse(argv: list[str] | None = None) -> Args:
    """The command line (``sys.argv[1:]`` by default) as :class:`Args`, defaults from the ``--preset`` preset."""
    return cli(Args, PRESETS, "preset", argv)


if __name__ == "__main__":
    from experiments.common import run_cli

    run_cli("experiments.minatar", main, parse)
