"""The minimum distillation size of the paper's Equation 3, and the default k of every distiller."""

import math


def k_min(num_actions: int) -> int:
    """``ceil(c / 2) + 1`` synthetic instances distinguish ``c`` actions with soft labels."""
    if num_actions < 1:
        raise ValueError(f"num_actions must be >= 1, got {num_actions}")
    return math.ceil(num_actions / 2) + 1


CONTINUOUS_K = 64
"""The paper's k for continuous actions (Section 6: 64 instances rather than a searched k_min)."""


def default_k(spec) -> int:
    """The k a distiller (PPMO, ES) uses when none is given: k_min for discrete actions, 64 for continuous ones."""
    return k_min(spec.num_actions) if spec.discrete else CONTINUOUS_K
