"""Learner and critic networks.

A learner is an MLP described by a :class:`LearnerSpec` (architecture *and* initialisation), so
every learner distribution in the paper (Λ, orthogonal std 1, Xavier, random width or depth) is
configuration rather than code. The training code only uses ``spec.init_params(key, obs_shape, out_dim)``
and ``spec.apply(params, obs)``, so another learner family (a CNN for images) is another spec. Parameters are plain pytrees of ``{"w", "b"}`` layers, which keeps
``jax.vmap`` over thousands of fresh initialisations and ``jax.grad`` through the inner SGD step
simple.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import jax
import jax.numpy as jnp

InitScheme = Literal["orthogonal", "xavier_uniform", "xavier_normal"]
Activation = Literal["tanh", "relu"]

_ACTIVATIONS = {"tanh": jnp.tanh, "relu": jax.nn.relu}


@dataclasses.dataclass(frozen=True)
class LearnerSpec:
    """An MLP architecture plus the way its weights are initialised.

    The default is the paper's Λ: two tanh hidden layers of 64 units, orthogonal weights with gain
    sqrt(2) on hidden layers and 0.01 on the output layer, zero biases.
    """

    hidden_sizes: tuple[int, ...] = (64, 64)
    """Width of each hidden layer; ``()`` is a linear learner."""
    activation: Activation = "tanh"
    """Hidden-layer non-linearity."""
    init: InitScheme = "orthogonal"
    """Weight initialiser; gains below scale its standard deviation."""
    hidden_gain: float = math.sqrt(2.0)
    """Gain (std multiplier) of every hidden layer's weights."""
    output_gain: float = 0.01
    """Gain of the output layer's weights."""
    encoder_dim: int = 0
    """N > 0: a learned linear encoder ``obs @ W + b`` to N features in front of the MLP (the paper's script:
    ``--encoder N``), initialised once and trained by the outer loss like a CNN's encoder layers; the
    learners sampled every meta-epoch are the MLP on its N features. 0: no encoder."""
    input_shape: tuple[int, ...] = ()
    """An image observation's shape when the MLP reads images (HaDES' MinAtar students): each observation is
    flattened in C order to ``prod(input_shape)`` features first. ``()``: vector observations."""

    def __post_init__(self):
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))
        object.__setattr__(self, "input_shape", tuple(int(d) for d in self.input_shape))
        if self.encoder_dim < 0:
            raise ValueError(f"encoder_dim must be >= 0, got {self.encoder_dim}")
        if any(h < 1 for h in self.hidden_sizes):
            raise ValueError(f"hidden sizes must be >= 1, got {self.hidden_sizes}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; use one of {list(_ACTIVATIONS)}")
        if self.init not in ("orthogonal", "xavier_uniform", "xavier_normal"):
            raise ValueError(f"unknown init scheme {self.init!r}")

    def init_params(self, key: jax.Array, obs_shape: tuple[int, ...], out_dim: int) -> list[dict]:
        """Fresh parameters for observations of ``obs_shape`` (the encoder's features when it has one) and
        ``out_dim`` raw outputs."""
        return init_mlp(key, self, self.encoder_dim or self._in_dim(obs_shape), out_dim)

    def _in_dim(self, obs_shape: tuple[int, ...]) -> int:
        if self.input_shape:
            if tuple(obs_shape) != self.input_shape:
                raise ValueError(f"this MLP flattens observations of shape {self.input_shape}, got {tuple(obs_shape)}")
            return math.prod(self.input_shape)
        if len(obs_shape) != 1:
            raise ValueError(f"an MLP learner takes vector observations, got shape {tuple(obs_shape)} (give "
                             "input_shape to flatten images)")
        return int(obs_shape[0])

    def _flatten(self, obs: jax.Array) -> jax.Array:
        if not self.input_shape:
            return obs
        return obs.reshape((*obs.shape[:obs.ndim - len(self.input_shape)], -1))

    def apply(self, params: list[dict], obs: jax.Array) -> jax.Array:
        """Raw outputs (logits / regression targets) for a batch of observations (encoder features)."""
        return mlp_apply(params, obs if self.encoder_dim else self._flatten(obs), self.activation)

    @property
    def encoder_layers(self) -> int:
        """1 with a linear encoder, else 0 (PPMO distils the whole network)."""
        return 1 if self.encoder_dim else 0

    def init_encoder(self, key: jax.Array, obs_shape: tuple[int, ...], out_dim: int) -> list:
        """``[{"w": (obs_dim, N), "b": (N,)}]``: orthogonal weights of gain 1, zero bias (``[]`` without one)."""
        if not self.encoder_dim:
            return []
        w = jax.nn.initializers.orthogonal(1.0)(key, (self._in_dim(obs_shape), self.encoder_dim), jnp.float32)
        return [{"w": w, "b": jnp.zeros((self.encoder_dim,), jnp.float32)}]

    def encode(self, params: list, obs: jax.Array) -> jax.Array:
        """The encoder's linear features (the observations themselves without one)."""
        if params:
            obs = self._flatten(obs)
        for layer in params:
            obs = obs @ layer["w"] + layer["b"]
        return obs

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for name in ("encoder_dim", "input_shape"):  # written only when used: older files stay as they were
            if not d[name]:
                del d[name]
        return d

    def recipe(self) -> dict:
        """Every detail another framework needs to build and initialise this learner."""
        init = {"orthogonal": "orthogonal (QR of a Gaussian, sign-corrected), scaled by the gain",
                "xavier_uniform": "U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))",
                "xavier_normal": "normal truncated at 2 std, std = gain * sqrt(2 / (fan_in + fan_out))"}[self.init]
        return {
            "architecture": f"MLP: input -> {' -> '.join(map(str, self.hidden_sizes)) or '(no hidden layer)'} -> "
                            f"num_actions; {self.activation} after every hidden layer, linear output",
            "weights": f"{init}; gain {self.hidden_gain:g} on hidden layers, {self.output_gain:g} on the output "
                       "layer; stored as (fan_in, fan_out), y = x @ W + b",
            "biases": "zero at initialisation (PyTorch's nn.Linear default is NOT zero: reset them)",
            "input": ("the observation vector as float32" if not self.input_shape else
                      f"the {self.input_shape} observation as float32, flattened in C (row-major) order to "
                      f"{math.prod(self.input_shape)} features")
                     + "; normalised first (obs_mean, obs_std, obs_clip) when the dataset file holds observation "
                       "statistics, raw otherwise",
            **({"encoder": f"a linear layer obs_dim -> {self.encoder_dim} (encoder.npz: layer0_w (obs_dim, "
                           f"{self.encoder_dim}), layer0_b), no activation, in front of the MLP for x and for "
                           "observations alike; the MLP's input is its output"} if self.encoder_dim else {}),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "LearnerSpec":
        d = dict(d)
        d["hidden_sizes"] = tuple(d.get("hidden_sizes", ()))
        d["input_shape"] = tuple(d.get("input_shape", ()))
        return cls(**d)


CRITIC_SPEC = LearnerSpec(hidden_sizes=(64, 64), output_gain=1.0)
"""Huang et al.'s critic: 2x64 tanh, orthogonal init, gain sqrt(2) hidden and 1 on the output."""


def _weight_init(scheme: InitScheme, gain: float):
    if scheme == "orthogonal":
        return jax.nn.initializers.orthogonal(scale=gain)
    distribution = "uniform" if scheme == "xavier_uniform" else "truncated_normal"
    return jax.nn.initializers.variance_scaling(gain**2, "fan_avg", distribution)


def init_mlp(key: jax.Array, spec: LearnerSpec, in_dim: int, out_dim: int) -> list[dict]:
    """Fresh parameters for ``spec`` mapping ``in_dim`` features to ``out_dim`` outputs."""
    sizes = (in_dim, *spec.hidden_sizes, out_dim)
    keys = jax.random.split(key, len(sizes) - 1)
    layers = []
    for i, (k, fan_in, fan_out) in enumerate(zip(keys, sizes[:-1], sizes[1:])):
        is_output = i == len(sizes) - 2
        gain = spec.output_gain if is_output else spec.hidden_gain
        w = _weight_init(spec.init, gain)(k, (fan_in, fan_out), jnp.float32)
        layers.append({"w": w, "b": jnp.zeros((fan_out,), jnp.float32)})
    return layers


def mlp_apply(params: list[dict], x: jax.Array, activation: Activation = "tanh") -> jax.Array:
    """Forward pass; hidden layers use ``activation``, the output layer is linear."""
    act = _ACTIVATIONS[activation]
    for layer in params[:-1]:
        x = act(x @ layer["w"] + layer["b"])
    last = params[-1]
    return x @ last["w"] + last["b"]


def sample_learners(key: jax.Array, spec: LearnerSpec | ConvSpec, obs_shape: tuple[int, ...], out_dim: int, num: int):
    """``num`` independent initialisations of ``spec``, stacked on a leading axis."""
    return jax.vmap(lambda k: spec.init_params(k, obs_shape, out_dim))(jax.random.split(key, num))


def conv2d(x: jax.Array, w: jax.Array, stride: int, padding: str = "VALID") -> jax.Array:
    """A VALID (or SAME) convolution of NHWC ``x`` with HWIO ``w``, as patches @ weights.

    Equal to ``lax.conv_general_dilated``, but under ``jax.vmap`` over per-learner weights it stays
    a batched matmul, where XLA:CPU's grouped convolutions (and their second derivatives, which
    the meta-gradient through the inner step needs) are many times slower."""
    kh, kw, c_in, c_out = w.shape
    patches = jax.lax.conv_general_dilated_patches(x, (kh, kw), (stride, stride), padding,
                                                   dimension_numbers=("NHWC", "OIHW", "NHWC"))
    return patches @ jnp.transpose(w, (2, 0, 1, 3)).reshape(c_in * kh * kw, c_out)


ConvLayer = tuple[int, int, int]
"""``(features, kernel size, stride)`` of a square convolution (VALID or SAME padding: ``ConvSpec.padding``)."""


def avg_pool(x: jax.Array, size: int) -> jax.Array:
    """``size`` x ``size`` average pooling with stride ``size`` of NHWC ``x`` (trailing rows/columns that do
    not fill a window are dropped, as PyTorch's ``AvgPool2d`` does)."""
    n, h, w, c = x.shape
    h2, w2 = h // size, w // size
    return x[:, : h2 * size, : w2 * size].reshape(n, h2, size, w2, size, c).mean(axis=(2, 4))

NATURE_CONVS: tuple[ConvLayer, ...] = ((32, 8, 4), (64, 4, 2), (64, 3, 1))
"""The PPO Nature CNN's convolutions (Mnih et al. 2015), the paper's Atari architecture α_a."""

MINATAR_CONVS: tuple[ConvLayer, ...] = ((16, 3, 1), (32, 3, 1), (32, 3, 1))
"""A MinAtar-sized CNN with α_a's five-layer shape (three convs, one hidden dense, the output)."""


@dataclasses.dataclass(frozen=True)
class ConvSpec:
    """A CNN (convolutions, hidden dense layers, linear output) split at layer ``encoder_layers``.

    Layers ``[0, encoder_layers)`` are the *encoder*, trained by the outer loss and kept across
    meta-epochs (the paper's encoder rollback, Algorithm 2); layers ``[encoder_layers, num_layers)``
    are the *learner* that PPMO re-samples every meta-epoch and trains one step on the encoded
    synthetic images. ``init_params``/``apply`` are the learner's, so the training code treats a
    CNN learner like an MLP one; ``apply`` takes the encoder's features (raw observations when
    ``encoder_layers == 0``). Weights are orthogonal with gain sqrt(2) (hidden) and ``output_gain``.
    Observations are channels-last ``(H, W, C)`` or, with ``channels_first``, ``(C, H, W)`` as
    EnvPool's stacked Atari frames; they are expected as floats (Atari frames already divided by 255).
    """

    convs: tuple[ConvLayer, ...] = NATURE_CONVS
    """Convolutions ``(features, kernel, stride)``, ReLU after each."""
    dense: tuple[int, ...] = (512,)
    """Hidden dense layers after the flattened convolutions."""
    encoder_layers: int = 0
    """l: how many leading layers form the encoder (0 = full distillation; num_layers = direct PPO)."""
    channels_first: bool = False
    """Observations are ``(C, H, W)`` (EnvPool Atari) instead of ``(H, W, C)`` (gymnax MinAtar)."""
    padding: Literal["VALID", "SAME"] = "VALID"
    """Convolution padding (SAME keeps the map's size at stride 1)."""
    pool: int = 1
    """Average pooling (``pool`` x ``pool``, stride ``pool``) after every convolution's ReLU; 1: none."""
    hidden_gain: float = math.sqrt(2.0)
    output_gain: float = 0.01

    def __post_init__(self):
        object.__setattr__(self, "convs", tuple(tuple(int(v) for v in c) for c in self.convs))
        object.__setattr__(self, "dense", tuple(int(d) for d in self.dense))
        if not 0 <= self.encoder_layers <= self.num_layers:
            raise ValueError(f"encoder_layers must be in 0..{self.num_layers}, got {self.encoder_layers}")

    @property
    def num_layers(self) -> int:
        return len(self.convs) + len(self.dense) + 1

    def layer_input_shapes(self, obs_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
        """The input shape of every layer (channels-last maps for convs, vectors for dense layers)."""
        if len(obs_shape) != 3:
            raise ValueError(f"a CNN takes image observations (3 axes), got shape {tuple(obs_shape)}")
        c, h, w = obs_shape if self.channels_first else (obs_shape[2], obs_shape[0], obs_shape[1])
        shapes = []
        for features, kernel, stride in self.convs:
            shapes.append((h, w, c))
            if self.padding == "SAME":
                h, w = -(-h // stride), -(-w // stride)
            else:
                h, w = (h - kernel) // stride + 1, (w - kernel) // stride + 1
            h, w, c = h // self.pool, w // self.pool, features
            if h < 1 or w < 1:
                raise ValueError(f"observations of shape {tuple(obs_shape)} are too small for convolutions {self.convs}")
        flat = h * w * c
        for size in self.dense:
            shapes.append((flat,))
            flat = size
        shapes.append((flat,))
        return shapes

    def _init_layers(self, key, obs_shape, out_dim: int, start: int, end: int) -> list[dict]:
        shapes = self.layer_input_shapes(obs_shape)
        keys = jax.random.split(key, self.num_layers)
        layers = []
        for i in range(start, end):
            if i < len(self.convs):
                features, kernel, _ = self.convs[i]
                fan_in = shapes[i][2]
                w = jax.nn.initializers.orthogonal(self.hidden_gain, column_axis=-1)(
                    keys[i], (kernel, kernel, fan_in, features), jnp.float32)
                layers.append({"w": w, "b": jnp.zeros((features,), jnp.float32)})
            else:
                is_output = i == self.num_layers - 1
                fan_out = out_dim if is_output else self.dense[i - len(self.convs)]
                gain = self.output_gain if is_output else self.hidden_gain
                w = jax.nn.initializers.orthogonal(gain)(keys[i], (shapes[i][0], fan_out), jnp.float32)
                layers.append({"w": w, "b": jnp.zeros((fan_out,), jnp.float32)})
        return layers

    def _apply_layers(self, params: list[dict], x: jax.Array, start: int) -> jax.Array:
        # Inputs of layers up to the first dense one are maps (H, W, C); later ones are vectors.
        rank = 3 if start <= len(self.convs) else 1
        batch = x.shape[: x.ndim - rank]
        x = x.reshape((-1, *x.shape[x.ndim - rank:]))
        if start == 0 and self.channels_first:
            x = jnp.moveaxis(x, 1, -1)
        if not params:
            return x.reshape((*batch, *x.shape[1:]))
        for offset, layer in enumerate(params):
            i = start + offset
            if i < len(self.convs):
                x = conv2d(x, layer["w"], self.convs[i][2], self.padding) + layer["b"]
            else:
                x = x.reshape((x.shape[0], -1)) @ layer["w"] + layer["b"]
            if i < self.num_layers - 1:
                x = jax.nn.relu(x)
            if i < len(self.convs) and self.pool > 1:
                x = avg_pool(x, self.pool)
        return x.reshape((*batch, *x.shape[1:]))

    # The learner: layers [encoder_layers, num_layers).
    def init_params(self, key: jax.Array, obs_shape: tuple[int, ...], out_dim: int) -> list[dict]:
        """A fresh learner (the layers after the encoder) for observations of ``obs_shape``."""
        return self._init_layers(key, obs_shape, out_dim, self.encoder_layers, self.num_layers)

    def apply(self, params: list[dict], features: jax.Array) -> jax.Array:
        """Learner outputs for a batch of encoder features (observations when ``encoder_layers == 0``)."""
        return self._apply_layers(params, features, self.encoder_layers)

    # The encoder: layers [0, encoder_layers).
    def init_encoder(self, key: jax.Array, obs_shape: tuple[int, ...], out_dim: int) -> list[dict]:
        """The encoder's parameters (an empty list when ``encoder_layers == 0``; the whole network,
        output layer included, when ``encoder_layers == num_layers``)."""
        return self._init_layers(key, obs_shape, out_dim, 0, self.encoder_layers)

    def encode(self, params: list[dict], obs: jax.Array) -> jax.Array:
        """Encoder features for a batch of observations (the observations themselves for l = 0)."""
        if not params:
            return obs
        return self._apply_layers(params, obs, 0)

    def to_dict(self) -> dict:
        d = {"type": "cnn", **dataclasses.asdict(self)}
        for name, default in (("padding", "VALID"), ("pool", 1)):  # written only when used: older files stay as they were
            if d[name] == default:
                del d[name]
        return d

    def recipe(self) -> dict:
        """Every detail another framework needs to build and initialise this CNN."""
        layout = "(C, H, W) channels first" if self.channels_first else "(H, W, C) channels last"
        return {
            "architecture": "CNN: " + ", ".join(f"conv {f} {k}x{k} stride {s} {self.padding}" for f, k, s in self.convs)
                            + (f" (each followed by ReLU and {self.pool}x{self.pool} average pooling, stride {self.pool})"
                               if self.pool > 1 else "")
                            + ", flatten, " + (f"dense {', '.join(map(str, self.dense))}, " if self.dense else "")
                            + "linear output (num_actions); "
                            "ReLU after every layer but the output (the dense layer after the flatten included)",
            "split": f"layers [0, {self.encoder_layers}) are the encoder (encoder.npz: layer<i>_w, layer<i>_b), "
                     f"layers [{self.encoder_layers}, {self.num_layers}) the learner trained on encoded x",
            "weights": f"orthogonal, gain {self.hidden_gain:g} on hidden layers and {self.output_gain:g} on the "
                       "output; conv kernels HWIO (orthogonal over the output-feature axis), dense weights "
                       "(fan_in, fan_out)",
            "biases": "zero at initialisation",
            "input": f"observations {layout}, float32 (MinAtar's 0/1 channels as floats, Atari frames / 255); "
                     "x in dataset.npz has the observation's layout",
            "flatten": "features are flattened in (H, W, C) order after the last convolution (channels last; a "
                       "PyTorch NCHW flatten must permute to NHWC first)",
        }


def max_pool(x: jax.Array, size: int = 3, stride: int = 2) -> jax.Array:
    """``size`` x ``size`` max pooling with ``stride`` and SAME padding of NHWC ``x`` (IMPALA's downsampling)."""
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, size, size, 1), (1, stride, stride, 1), "SAME")


@dataclasses.dataclass(frozen=True)
class ImpalaSpec:
    """The IMPALA CNN (Espeholt et al. 2018), the Procgen experts' network (the offline-distillation paper's
    expert): per stack of ``channels``, a 3x3 convolution (SAME), 3x3 max pooling of stride 2, and two
    residual blocks ``x + conv(relu(conv(relu(x))))``; then ReLU, flatten, ``dense`` hidden layers (ReLU) and
    the linear output. Parameters are a flat list of ``{"w", "b"}`` layers in that order (5 convolutions per
    stack). Orthogonal weights with gain sqrt(2) (hidden) and ``output_gain``, zero biases. A whole
    network, with no encoder split (``encoder_layers`` is 0): an expert's actor and critic, not a PPMO learner."""

    channels: tuple[int, ...] = (16, 32, 32)
    """Output channels of each stack."""
    dense: tuple[int, ...] = (256,)
    """Hidden dense layers after the flattened stacks."""
    channels_first: bool = False
    """Observations are ``(C, H, W)`` (EnvPool Procgen) instead of ``(H, W, C)``."""
    hidden_gain: float = math.sqrt(2.0)
    output_gain: float = 0.01
    encoder_layers = 0  # no encoder split: the harness's encoder hooks see an empty encoder

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "dense", tuple(int(d) for d in self.dense))

    @property
    def num_layers(self) -> int:
        return 5 * len(self.channels) + len(self.dense) + 1

    def _hwc(self, obs_shape: tuple[int, ...]) -> tuple[int, int, int]:
        if len(obs_shape) != 3:
            raise ValueError(f"the IMPALA CNN takes image observations (3 axes), got shape {tuple(obs_shape)}")
        return (obs_shape[1], obs_shape[2], obs_shape[0]) if self.channels_first else tuple(obs_shape)

    def init_params(self, key: jax.Array, obs_shape: tuple[int, ...], out_dim: int) -> list[dict]:
        h, w, c = self._hwc(obs_shape)
        keys = iter(jax.random.split(key, self.num_layers))
        conv_init = jax.nn.initializers.orthogonal(self.hidden_gain, column_axis=-1)
        layers = []
        for features in self.channels:
            for c_in in (c, features, features, features, features):
                layers.append({"w": conv_init(next(keys), (3, 3, c_in, features), jnp.float32),
                               "b": jnp.zeros((features,), jnp.float32)})
            h, w, c = -(-h // 2), -(-w // 2), features
        flat = h * w * c
        for size, gain in [(d, self.hidden_gain) for d in self.dense] + [(out_dim, self.output_gain)]:
            layers.append({"w": jax.nn.initializers.orthogonal(gain)(next(keys), (flat, size), jnp.float32),
                           "b": jnp.zeros((size,), jnp.float32)})
            flat = size
        return layers

    def apply(self, params: list[dict], obs: jax.Array) -> jax.Array:
        batch = obs.shape[:-3]
        x = obs.reshape((-1, *obs.shape[-3:]))
        if self.channels_first:
            x = jnp.moveaxis(x, 1, -1)

        def conv(layer, x):
            return conv2d(x, layer["w"], 1, "SAME") + layer["b"]

        layers = iter(params)
        for _ in self.channels:
            x = max_pool(conv(next(layers), x))
            for _ in range(2):
                a, b = next(layers), next(layers)
                x = x + conv(b, jax.nn.relu(conv(a, jax.nn.relu(x))))
        x = jax.nn.relu(x).reshape((x.shape[0], -1))
        for _ in self.dense:
            layer = next(layers)
            x = jax.nn.relu(x @ layer["w"] + layer["b"])
        layer = next(layers)
        x = x @ layer["w"] + layer["b"]
        return x.reshape((*batch, x.shape[-1]))

    def init_encoder(self, key: jax.Array, obs_shape: tuple[int, ...], out_dim: int) -> list[dict]:
        return []

    def encode(self, params: list[dict], obs: jax.Array) -> jax.Array:
        return obs

    def to_dict(self) -> dict:
        return {"type": "impala", **dataclasses.asdict(self)}

    def recipe(self) -> dict:
        layout = "(C, H, W) channels first" if self.channels_first else "(H, W, C) channels last"
        return {
            "architecture": f"IMPALA CNN: stacks of {', '.join(map(str, self.channels))} channels, each a 3x3 "
                            "SAME convolution, 3x3 max pooling of stride 2 (SAME), and two residual blocks "
                            "x + conv3x3(relu(conv3x3(relu(x)))); then ReLU, flatten, "
                            + (f"dense {', '.join(map(str, self.dense))} (ReLU), " if self.dense else "")
                            + "linear output",
            "layers": "params are a list of {w, b}: per stack [conv, block1 conv a, block1 conv b, block2 conv a, "
                      "block2 conv b], then the dense layers and the output",
            "weights": f"orthogonal, gain {self.hidden_gain:g} on hidden layers and {self.output_gain:g} on the "
                       "output; conv kernels HWIO, dense weights (fan_in, fan_out)",
            "biases": "zero at initialisation",
            "input": f"observations {layout}, float32 (frames / 255)",
            "flatten": "(H, W, C) order after the last stack",
        }


def spec_from_dict(d: dict) -> LearnerSpec | ConvSpec | ImpalaSpec:
    """The learner spec a ``to_dict()`` wrote (a CNN's carries ``"type": "cnn"``, an IMPALA CNN's ``"impala"``)."""
    d = dict(d)
    kind = d.pop("type", None)
    if kind == "impala":
        return ImpalaSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
    if kind == "cnn":
        return ConvSpec(**{k: tuple(map(tuple, v)) if k == "convs" else (tuple(v) if isinstance(v, list) else v)
                           for k, v in d.items()})
    return LearnerSpec.from_dict(d)


def num_params(params) -> int:
    return sum(int(x.size) for x in jax.tree_util.tree_leaves(params))


MINATAR_STUDENT = ConvSpec(convs=((16, 3, 1),), dense=(128,), channels_first=False, output_gain=1.0)
"""The offline study's student for MinAtar's 10x10 maps: MinAtar's reference network (Young & Tian 2019: one
3x3 convolution of 16 channels, a dense layer of 128). The paper's Procgen student halves its input four times,
which 10x10 maps cannot take; this one is also 6x cheaper than three unpooled 12/48/12 convolutions, which
makes hundreds of BC students per method affordable on a CPU."""

STUDENT_CNN = ConvSpec(convs=((12, 3, 1), (48, 3, 1), (12, 3, 1), (3, 3, 1)), dense=(), padding="SAME", pool=2,
                       channels_first=True, output_gain=1.0)
"""The offline-distillation paper's student for Procgen: 4 modules of 3x3 convolution (SAME), ReLU and 2x2
average pooling (channels 3 -> 12 -> 48 -> 12 -> 3), then a linear layer to the logits."""
