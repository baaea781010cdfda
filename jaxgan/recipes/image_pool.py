"""The history of generated images a CycleGAN discriminator learns from (Shrivastava et al. 2017;
ImagePool of junyanz/pytorch-CycleGAN-and-pix2pix), as a pure function of a pool pytree.

D sees, for each new fake, either that fake or one from the pool: while the pool is not full,
every new image is stored and passed through; once full, with probability 1/2 a random stored
image is returned and the new one takes its slot, otherwise the new image passes through.
Images are taken one at a time in batch order, as the reference does. The pool lives in the
training state (`TrainState.extras`), so a resumed run continues with the same history.
"""

import jax
import jax.numpy as jnp


def empty(size: int, shape: tuple) -> dict:
    """A pool of `size` images of `shape`, none stored yet."""
    return {
        "images": jnp.zeros((size,) + tuple(shape), jnp.float32),
        "count": jnp.zeros((), jnp.int32),
    }


def query(pool: dict, images, rng) -> tuple:
    """(the pool after taking `images` [N, ...], the N images D sees); see the module doc."""
    size = pool["images"].shape[0]
    if size == 0:
        return pool, images

    def one(carry, row):
        stored, count = carry
        image, key = row
        swap_key, slot_key = jax.random.split(key)
        filling = count < size
        swap = jax.random.uniform(swap_key) < 0.5
        slot = jnp.where(filling, count, jax.random.randint(slot_key, (), 0, size))
        old = stored[slot]
        stored = stored.at[slot].set(jnp.where(filling | swap, image, old))
        shown = jnp.where(filling | ~swap, image, old)
        return (stored, jnp.minimum(count + 1, size)), shown

    keys = jax.random.split(rng, images.shape[0])
    carry = (pool["images"], pool["count"])
    (stored, count), shown = jax.lax.scan(one, carry, (images.astype(jnp.float32), keys))
    return {"images": stored, "count": count}, shown.astype(images.dtype)
