"""Output-against-target metrics of paired translation: L1, PSNR and SSIM.

Images are NHWC in [-1, 1]. L1 is the mean absolute difference on that scale (the scale of the
training loss). PSNR and SSIM follow the image-restoration convention: images mapped to [0, 1]
(data range 1), RGB reduced to its luma Y (ITU-R BT.601, as the SR literature measures), SSIM
with an 11x11 Gaussian window of std 1.5 and K1 = 0.01, K2 = 0.03 (Wang et al. 2004), both
averaged over images. dm-pix computes them in JAX; `crop` pixels of border are dropped first
(super-resolution reports crop by the scale factor).
"""

import dm_pix
import jax
import jax.numpy as jnp
import numpy as np

# BT.601 luma of [0, 1] RGB on the [16, 235] / 255 scale, as MATLAB's rgb2ycbcr.
_Y_WEIGHTS = np.array([65.481, 128.553, 24.966], np.float32) / 255.0


def to_luma(images: jax.Array) -> jax.Array:
    """[0, 1] NHWC with 1 or 3 channels -> [0, 1] NHW1 (gray as is; RGB -> BT.601 Y)."""
    if images.shape[-1] == 1:
        return images
    return (images @ _Y_WEIGHTS + 16.0 / 255.0)[..., None]


@jax.jit
def _per_image(output, target):
    l1 = jnp.mean(jnp.abs(output - target), axis=(1, 2, 3))
    a, b = to_luma((output + 1) / 2), to_luma((target + 1) / 2)
    return l1, dm_pix.psnr(a, b), dm_pix.ssim(a, b)


def paired_metrics(outputs, targets, *, crop: int = 0, batch_size: int = 500) -> dict:
    """{'l1', 'psnr', 'ssim'}: means over images of outputs against their targets."""
    outputs, targets = np.asarray(outputs, np.float32), np.asarray(targets, np.float32)
    if outputs.shape != targets.shape:
        raise ValueError(f"outputs {outputs.shape} and targets {targets.shape} differ in shape")
    if crop:
        outputs, targets = outputs[:, crop:-crop, crop:-crop], targets[:, crop:-crop, crop:-crop]
    parts = [
        _per_image(outputs[i : i + batch_size], targets[i : i + batch_size])
        for i in range(0, len(outputs), batch_size)
    ]
    l1, psnr, ssim = (np.concatenate([np.asarray(p[k]) for p in parts]) for k in range(3))
    return {"l1": float(l1.mean()), "psnr": float(psnr.mean()), "ssim": float(ssim.mean())}
