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
from jaxdistill.presets import MINATAR_PPMO, minatar_learner, minatar_mlp
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
    learner: Literal["cnn", "mlp", "mlp-half"] = "cnn"
    """cnn: the MinAtar CNN, split at --encoder-layers; mlp: HaDES' MinAtar student, two hidden ReLU layers of
    512 on the flattened observation (mlp-half: 256), with no encoder (l = 0). PPMO's critic and the PPO
    baseline use the same family."""
    # The defaults are the GPU-sized preset: 32 learners x 16 envs x 128 steps = 65k env steps per meta-epoch.
    ppmo: Annotated[PPMOOptions, Flat] = _PPMO
    run: Annotated[RunOptions, Flat] = _RUN


PRESETS: dict[str, Args] = {
    "gpu": Args(),
    # A laptop-CPU run: 4 learners x 8 envs x 64 steps = 2048 env steps per meta-epoch.
    "cpu": Args(preset="cpu", ppmo=as_options(PPMOOptions, MINATAR_PPMO["cpu"]),
                run=dataclasses.replace(_RUN, eval_every=25, eval_learners=64)),
}


def learner_family(args: Args, obs_shape: tuple[int, ...]):
    """``make(encoder_layers, output_gain=0.01)``: the learners (and critic) of ``--learner``."""
    if args.learner == "cnn":
        return minatar_learner
    width = 512 if args.learner == "mlp" else 256
    return lambda encoder_layers=0, output_gain=0.01: minatar_mlp(obs_shape, width, output_gain)


def validate(args: Args) -> Args:
    """Reject bad arguments before anything is compiled; fill k and the run directory."""
    errors = validate_image_args(args)
    if args.learner != "cnn" and args.encoder_layers:
        errors.append(f"--learner {args.learner} has no encoder layers: use --encoder-layers 0 "
                      f"(got {args.encoder_layers})")
    fail("experiments.minatar", errors)
    from jaxdistill.envs import make, minatar_id

    spec = make(minatar_id(args.env)).spec
    tag = f"_l{args.encoder_layers}" if args.learner == "cnn" else f"_{args.learner.replace('-', '')}"
    return fill_run(args, spec, "experiments.minatar", f"minatar_{args.env.lower()}", tag,
                    learner_family(args, spec.obs_shape)(args.encoder_layers))


def main(args: Args) -> dict:
    args = validate(args)
    from jaxdistill.core.loop import run_keys
    from jaxdistill.envs import make, minatar_id
    from jaxdistill.eval.baselines import random_policy_returns

    env = make(minatar_id(args.env))
    title = f"{METHOD_NAMES[args.method]}, {args.env}-MinAtar"
    label = (f"fresh MinAtar CNN learners (l={args.encoder_layers})" if args.learner == "cnn" else
             f"fresh MLP learners ({args.learner}, flattened observations)")
    result = run_image_method(args, env, learner_family(args, env.spec.obs_shape), label, title)
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
