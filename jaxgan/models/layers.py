"""Exact 2x up/down-sampling convolutions (PyTorch k, s=2, p=k/2-1) that are fast on XLA:CPU.

`ConvTranspose2x` is PyTorch's `ConvTranspose2d(k, stride=2, padding=k/2-1)` (k=4, p=1 in DCGAN):
an H x W input gives exactly 2H x 2W. `Conv2x` is `Conv2d(k, stride=2, padding=k/2-1)`: 2H -> H.
Both keep the parameters of the plain flax layer (`kernel` (k, k, in, out) and `bias` (out,), same
initialisers), so checkpoints do not depend on `impl`, which only picks how the same function is
computed:

- 'xla': `lax.conv_transpose` / `lax.conv_general_dilated` with stride 2, as `nn.ConvTranspose`
  and `nn.Conv` compute it. On XLA:CPU the kernel gradient of the stride-2 transposed convolution
  becomes a convolution that no fast library supports and runs as a slow generic loop (10-20x
  slower than the forward pass on DCGAN layers).
- 'phase': stride-1 convolutions only, whose forward and both gradients map to fast kernels.
  Transposed: output phase (r, s) in {0, 1}^2 (pixels (2m + r, 2n + s)) is a stride-1
  convolution of the input with the (k/2 x k/2) sub-kernel kernel[a0_r::2, a0_s::2]; the four
  phases are interleaved (sub-pixel convolution). Strided: 2x2 space-to-depth, then a
  (k/2 x k/2) stride-1 convolution on 4 * in channels.
- 'hybrid' (strided only): 'xla' forward and kernel gradient; the input gradient, which XLA
  computes as a slow input-dilated convolution, is the transposed layer's 'auto' instead.
- 'gemm' (transposed only): no convolution at all. One matrix product takes every input pixel to
  its k x k output patch, and the patches overlap-add into the image (col2im). Fastest for few
  output features (an image layer), where convolutions use the machine poorly.
- 'auto' (the default of both): the one measured fastest for the layer's shape
  (benchmarks/conv_ops.py and the whole DCGAN step, with jaxgan's XLA flags, 2 cores).
  Transposed: 'gemm' up to 4 output features (grey, RGB, RGBA images; 1.6-2.9x the others in
  forward + backward), 'phase' above. Strided: 'hybrid' (1.2-1.7x 'xla' and 1.1-1.3x 'phase' in
  forward + backward on the DCGAN layers).

One convolution with the four transposed sub-kernels stacked on 4 * features outputs was measured
too and did not pay (see benchmarks/conv_ops.py).

Kernel orientation is flax's (no flipping in `lax.conv_transpose`): a PyTorch ConvTranspose2d
weight w of shape (in, out, k, k) is `kernel = w.transpose(2, 3, 0, 1)[::-1, ::-1]`; a Conv2d
weight w (out, in, k, k) is `kernel = w.transpose(2, 3, 1, 0)`.
"""

import functools
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen.dtypes import promote_dtype
from jax import lax

Array = jax.Array
DIMS = ("NHWC", "HWIO", "NHWC")


def _check_kernel_size(kernel_size) -> int:
    if not isinstance(kernel_size, int) or kernel_size < 2 or kernel_size % 2:
        raise ValueError(
            f"kernel_size must be an even int >= 2 (padding k/2-1 gives exact 2x scaling); "
            f"got {kernel_size!r}"
        )
    return kernel_size


def _conv(x: Array, kernel: Array, strides, padding) -> Array:
    return lax.conv_general_dilated(x, kernel, strides, padding, dimension_numbers=DIMS)


# ---- transposed convolution, 2x upsampling --------------------------------------------------


def conv_transpose_2x_xla(x: Array, kernel: Array) -> Array:
    """PyTorch ConvTranspose2d(k, s=2, p=k/2-1) as one lax.conv_transpose (flax kernel layout)."""
    pad = kernel.shape[0] // 2  # k - 1 - p on the dilated input
    return lax.conv_transpose(x, kernel, (2, 2), ((pad, pad), (pad, pad)), dimension_numbers=DIMS)


def _phase_taps(k: int) -> list[tuple[int, int]]:
    """(first tap a0, input offset d) of output phase r = 0, 1 along one axis.

    Output 2m + r is the correlation of x[m + d + j] with kernel[a0 + 2j], j = 0 .. k/2 - 1.
    """
    c = k // 2
    taps = []
    for r in (0, 1):
        a0 = (c - r) % 2
        taps.append((a0, (r + a0 - c) // 2))
    return taps


def _phase_kernels(kernel: Array) -> list[Array]:
    """The (k/2, k/2, in, out) sub-kernels of the output phases (r, s), in order 00, 01, 10, 11."""
    taps = _phase_taps(kernel.shape[0])
    return [kernel[a0::2, b0::2] for a0, _ in taps for b0, _ in taps]


def _interleave(phases: list[Array]) -> Array:
    """Four (n, h, w, f) phase outputs, ordered (r, s), into the (n, 2h, 2w, f) image."""
    n, h, w, f = phases[0].shape
    y = jnp.stack(phases, axis=3).reshape(n, h, w, 2, 2, f)  # (n, h, w, r, s, f)
    return y.transpose(0, 1, 3, 2, 4, 5).reshape(n, 2 * h, 2 * w, f)


def conv_transpose_2x_phase(x: Array, kernel: Array) -> Array:
    """Same function as `conv_transpose_2x_xla` from four stride-1 convolutions, one per phase."""
    c = kernel.shape[0] // 2
    taps = _phase_taps(kernel.shape[0])
    pads = [((-dr, c - 1 + dr), (-ds, c - 1 + ds)) for _, dr in taps for _, ds in taps]
    subs = _phase_kernels(kernel)
    return _interleave([_conv(x, sub, (1, 1), pad) for sub, pad in zip(subs, pads, strict=True)])


def conv_transpose_2x_gemm(x: Array, kernel: Array) -> Array:
    """Same function as `conv_transpose_2x_xla` from one matrix product and an overlap-add.

    Kernel tap a = 2q + r (flipped to PyTorch's scatter orientation) of input pixel i lands on
    pixel 2(i + q) + r of the uncropped output: its phase r sums the k/2 x k/2 taps (q_a, q_b),
    each shifted by q. The phases interleave, and the padding k/2 - 1 is cropped.
    """
    k, _, cin, features = kernel.shape
    n, h, w, _ = x.shape
    c = k // 2
    weights = kernel[::-1, ::-1].transpose(2, 0, 1, 3).reshape(cin, k * k * features)
    taps = (x.reshape(n * h * w, cin) @ weights).reshape(n, h, w, c, 2, c, 2, features)
    phases = []
    for r in (0, 1):
        for s in (0, 1):
            shifted = [
                jnp.pad(
                    taps[:, :, :, qa, r, qb, s],
                    ((0, 0), (qa, c - 1 - qa), (qb, c - 1 - qb), (0, 0)),
                )
                for qa in range(c)
                for qb in range(c)
            ]
            phases.append(sum(shifted))
    p = c - 1
    return _interleave(phases)[:, p : p + 2 * h, p : p + 2 * w]


# ---- strided convolution, 2x downsampling ---------------------------------------------------


def conv_2x_xla(x: Array, kernel: Array) -> Array:
    """PyTorch Conv2d(k, s=2, p=k/2-1) as one strided lax convolution."""
    p = kernel.shape[0] // 2 - 1
    return _conv(x, kernel, (2, 2), ((p, p), (p, p)))


def conv_2x_phase(x: Array, kernel: Array) -> Array:
    """Same function as `conv_2x_xla`: 2x2 space-to-depth, then a (k/2 x k/2) stride-1 conv.

    Block (i, j) of the padded input holds its 2x2 pixels as 4 * in channels; kernel tap
    (2u + r, 2v + s) becomes tap (u, v) of the block kernel on channel block (r, s).
    """
    k, _, c, features = kernel.shape
    n, h, w, _ = x.shape
    p = k // 2 - 1
    x = jnp.pad(x, ((0, 0), (p, p + h % 2), (p, p + w % 2), (0, 0)))
    hb, wb = x.shape[1] // 2, x.shape[2] // 2
    x = x.reshape(n, hb, 2, wb, 2, c).transpose(0, 1, 3, 2, 4, 5).reshape(n, hb, wb, 4 * c)
    sub = kernel.reshape(k // 2, 2, k // 2, 2, c, features).transpose(0, 2, 1, 3, 4, 5)
    y = _conv(x, sub.reshape(k // 2, k // 2, 4 * c, features), (1, 1), "VALID")
    return y[:, : h // 2, : w // 2]  # odd sides: the last block row/column is padding only


# ---- per-shape choice, and the strided convolution with the transposed one as its gradient ---

AUTO_GEMM_MAX_FEATURES = 4  # ConvTranspose2x 'auto' uses 'gemm' up to this many output features


def conv_transpose_2x_auto(x: Array, kernel: Array) -> Array:
    """'gemm' for layers with <= AUTO_GEMM_MAX_FEATURES outputs, else 'phase' (measured fastest)."""
    if kernel.shape[-1] <= AUTO_GEMM_MAX_FEATURES:
        return conv_transpose_2x_gemm(x, kernel)
    return conv_transpose_2x_phase(x, kernel)


def _swap_in_out(kernel: Array) -> Array:
    """A Conv2d kernel (k, k, in, out) as the ConvTranspose2d kernel of its adjoint, and back."""
    return kernel.transpose(0, 1, 3, 2)[::-1, ::-1]


@jax.custom_vjp
def conv_2x_hybrid(x: Array, kernel: Array) -> Array:
    """`conv_2x_xla`, whose input gradient is computed as the fast transposed convolution.

    That gradient is PyTorch's ConvTranspose2d of the output gradient with the same weights;
    XLA would compute it as an input-dilated convolution, slow on CPU. The forward pass and the
    kernel gradient stay XLA's. Inputs with an odd side keep XLA's input gradient (a transposed
    convolution gives even sides only). Reverse mode to any order works (R1, WGAN-GP); forward
    mode (`jax.jvp`, `jax.jacfwd`) does not go through a custom VJP: use impl 'xla' for that.
    """
    return conv_2x_xla(x, kernel)


def _conv_2x_hybrid_fwd(x: Array, kernel: Array):
    return conv_2x_xla(x, kernel), (x, kernel)


def _conv_2x_hybrid_bwd(residuals, g: Array):
    x, kernel = residuals
    dkernel = jax.vjp(lambda k: conv_2x_xla(x, k), kernel)[1](g)[0]
    if x.shape[1] % 2 or x.shape[2] % 2:
        dx = jax.vjp(lambda x: conv_2x_xla(x, kernel), x)[1](g)[0]
    else:
        dx = conv_transpose_2x_auto(g, _swap_in_out(kernel))
    return dx, dkernel


conv_2x_hybrid.defvjp(_conv_2x_hybrid_fwd, _conv_2x_hybrid_bwd)


UP_IMPLS: dict[str, Callable[[Array, Array], Array]] = {
    "auto": conv_transpose_2x_auto,
    "gemm": conv_transpose_2x_gemm,
    "phase": conv_transpose_2x_phase,
    "xla": conv_transpose_2x_xla,
}
DOWN_IMPLS: dict[str, Callable[[Array, Array], Array]] = {
    "auto": conv_2x_hybrid,
    "hybrid": conv_2x_hybrid,
    "phase": conv_2x_phase,
    "xla": conv_2x_xla,
}
IMPLS = ("auto", "phase", "xla")  # the names a config may choose: both layers have them


# ---- modules --------------------------------------------------------------------------------


def _lookup(table: dict, impl: str) -> Callable:
    if impl not in table:
        raise ValueError(f"unknown conv impl {impl!r}; choose one of {sorted(table)}")
    return table[impl]


class ConvTranspose2x(nn.Module):
    """PyTorch ConvTranspose2d(kernel_size, stride=2, padding=kernel_size/2-1): H x W -> 2H x 2W.

    Parameters and their initialisation are those of flax `nn.ConvTranspose` (kernel
    (k, k, in, features), lecun_normal; bias zeros), whatever `impl` computes it.
    """

    features: int
    kernel_size: int = 4
    use_bias: bool = True
    impl: str = "auto"
    dtype: jnp.dtype | None = None
    param_dtype: jnp.dtype = jnp.float32
    kernel_init: Callable = nn.initializers.lecun_normal()
    bias_init: Callable = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x: Array) -> Array:
        k = _check_kernel_size(self.kernel_size)
        fn = _lookup(UP_IMPLS, self.impl)
        shape = (k, k, x.shape[-1], self.features)
        kernel = self.param("kernel", self.kernel_init, shape, self.param_dtype)
        bias = None
        if self.use_bias:
            bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype)
        x, kernel, bias = promote_dtype(x, kernel, bias, dtype=self.dtype)
        y = fn(x, kernel)
        return y if bias is None else y + bias


class Conv2x(nn.Module):
    """PyTorch Conv2d(kernel_size, stride=2, padding=kernel_size/2-1): 2H x 2W -> H x W.

    Parameters and their initialisation are those of flax `nn.Conv` (kernel (k, k, in, features),
    lecun_normal; bias zeros), whatever `impl` computes it.

    `planes` [N, P] appends P constant input channels (plane p of example n holds planes[n, p]):
    the conditional GAN's one-hot label planes. The result equals convolving the concatenated
    input with the whole kernel, but the planes' share is computed once per batch (each plane
    kernel over one all-ones image, then mixed by the plane values) instead of per example, so
    label channels cost almost nothing however many classes there are.
    """

    features: int
    kernel_size: int = 4
    use_bias: bool = True
    impl: str = "auto"
    dtype: jnp.dtype | None = None
    param_dtype: jnp.dtype = jnp.float32
    kernel_init: Callable = nn.initializers.lecun_normal()
    bias_init: Callable = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x: Array, planes: Array | None = None) -> Array:
        k = _check_kernel_size(self.kernel_size)
        fn = _lookup(DOWN_IMPLS, self.impl)
        channels = x.shape[-1]
        extra = 0 if planes is None else planes.shape[-1]
        shape = (k, k, channels + extra, self.features)
        kernel = self.param("kernel", self.kernel_init, shape, self.param_dtype)
        bias = None
        if self.use_bias:
            bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype)
        x, kernel, bias, planes = promote_dtype(x, kernel, bias, planes, dtype=self.dtype)
        y = fn(x, kernel[:, :, :channels])
        if extra:
            y = y + _constant_planes(fn, kernel[:, :, channels:], planes, x.shape[1:3])
        return y if bias is None else y + bias


def _constant_planes(fn, kernel: Array, planes: Array, size: tuple) -> Array:
    """fn over [N, H, W, P] inputs whose channel p is the constant planes[n, p], by linearity:
    each plane's kernel over one all-ones image ([H', W', P, F]), weighted by the values."""
    k, _, count, features = kernel.shape
    ones = jnp.ones((1, *size, 1), kernel.dtype)
    per_plane = fn(ones, kernel.reshape(k, k, 1, count * features))[0]
    per_plane = per_plane.reshape(*per_plane.shape[:2], count, features)
    return jnp.einsum("np,hwpf->nhwf", planes, per_plane)


def class_weights(label, num_classes: int, dtype=jnp.float32):
    """[N, num_classes] class weights of a label: the one-hot vector of an integer label, or a
    float [N, num_classes] label as given (a mix of classes, for interpolating between them)."""
    if jnp.issubdtype(label.dtype, jnp.floating) and label.ndim == 2:
        return label.astype(dtype)
    return jax.nn.one_hot(label, num_classes, dtype=dtype)


# ---- spectral normalisation ------------------------------------------------------------------

SPECTRAL = "spectral"  # The variable collection of the spectral-norm power-iteration state.


def spectral_norm(layer: nn.Module, enabled: bool, train: bool) -> Callable:
    """`layer`, or with `enabled` the layer with spectrally normalised weights (Miyato et al.
    2018): every weight of two or more dims (a kernel flattened to [fan_in, out], an embedding
    table) is divided by an estimate of its largest singular value; biases are left alone.

    flax's `nn.SpectralNorm` does it: each call runs one power-iteration step from the vector u
    kept in collection SPECTRAL (with the estimate `sigma` beside it), so the estimate sharpens
    as training goes on. u and sigma are written back in train-mode calls only: an inference
    call normalises by the same one-step estimate and leaves them as they were. They live in
    the player's non-param variables, so checkpoints carry them and a resumed run is exact.
    The layer's params keep their names and shapes with or without the normalisation.
    """
    if not enabled:
        return layer
    return functools.partial(nn.SpectralNorm(layer, collection_name=SPECTRAL), update_stats=train)


def minibatch_std(h: Array, group: int) -> Array:
    """h [N, ..., C] with one more feature: the standard deviation of every feature over a group
    of `group` consecutive samples, averaged over features (and positions), the same value for
    the whole group (ProGAN's minibatch standard deviation, Karras et al. 2018). D then sees how
    varied a batch is, which a collapsed G cannot fake. Groups are consecutive rows, so that a
    call on [real; fake] never mixes the halves; 0 leaves h as it is."""
    if not group:
        return h
    n = h.shape[0]
    group = min(group, n)  # Init traces with one sample.
    if n % group:
        raise ValueError(f"minibatch_std: a batch of {n} does not split into groups of {group}")
    x = h.astype(jnp.float32).reshape((n // group, group) + h.shape[1:])
    std = jnp.sqrt(jnp.var(x, axis=1) + 1e-8)
    per_group = jnp.mean(std, axis=tuple(range(1, std.ndim)))
    feature = jnp.repeat(per_group, group).reshape((n,) + (1,) * (h.ndim - 1))
    feature = jnp.broadcast_to(feature, h.shape[:-1] + (1,)).astype(h.dtype)
    return jnp.concatenate([h, feature], axis=-1)
