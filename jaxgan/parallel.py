"""Data parallelism: one mesh axis `data` over every device of every host.

The batch is sharded on `data` and the TrainState replicated; `jax.jit` with these shardings
inserts the gradient all-reduces. `config.train.batch_size` is the global batch: each of the
D devices (of all P processes) holds batch_size / D rows, and process p supplies rows
[p * L, (p + 1) * L), L = batch_size / P, so results do not depend on D or P.

Multi-host runs start with `initialize_distributed` before any other JAX call. On CPU, JAX 0.10
runs cross-process collectives with gloo by default (`jax_cpu_collectives_implementation`, env
JAX_CPU_COLLECTIVES_IMPLEMENTATION); GPUs use NCCL and TPUs their own interconnect.
"""

import glob
import importlib.util
import os

import jax
import numpy as np
from absl import logging
from jax.sharding import AxisType, NamedSharding, PartitionSpec

from jaxgan.config import ConfigError


def _count(environ, *keys) -> int:
    """The first of `keys` set in environ, as an int (SLURM writes '4(x2)' for some counts)."""
    for key in keys:
        if key in environ:
            digits = environ[key].split("(")[0]
            return int(digits) if digits.isdigit() else 0
    return 0


def _on_tpu_vm() -> bool:
    """A Cloud TPU VM: libtpu installed and TPU chips attached (/dev/accel* or /dev/vfio/N)."""
    if importlib.util.find_spec("libtpu") is None:
        return False
    return bool(glob.glob("/dev/accel*") or glob.glob("/dev/vfio/[0-9]*"))


def detect_cluster(environ=None) -> str | None:
    """The launcher that started this process as one of several: 'slurm', 'openmpi', 'tpu'.

    None means a single-process run: no launcher, a one-task SLURM job, or a batch script that
    runs python directly instead of through `srun` (only srun's task environment names the step).
    """
    env = os.environ if environ is None else environ
    slurm_step = all(k in env for k in ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_PROCID"))
    if slurm_step and _count(env, "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS") > 1:
        return "slurm"
    if _count(env, "OMPI_COMM_WORLD_SIZE") > 1:
        return "openmpi"
    hosts = env.get("TPU_PROCESS_ADDRESSES") or env.get("TPU_WORKER_HOSTNAMES") or ""
    if "," in hosts or "MEGASCALE_COORDINATOR_ADDRESS" in env:
        return "tpu"
    if environ is None and _on_tpu_vm():
        return "tpu"  # GCE TPU VMs: JAX reads the workers from the metadata server.
    return None


def initialize_distributed(
    coordinator_address: str = "", num_processes: int = 0, process_id: int = -1
) -> bool:
    """Starts JAX's multi-controller runtime when flags or the environment ask for it.

    Explicit flags (all three) win; otherwise SLURM (srun with more than one task), Open MPI
    (mpirun) and TPU VM / GKE environments are detected and JAX reads its parameters from them.
    Must run before anything touches a JAX device. Returns whether the runtime was initialised.
    """
    if jax.distributed.is_initialized():
        return True
    explicit = bool(coordinator_address) or num_processes > 0 or process_id >= 0
    if explicit:
        if not (coordinator_address and num_processes >= 1 and 0 <= process_id < num_processes):
            raise ConfigError(
                "multi-process runs need all of --coordinator_address=host:port, "
                "--num_processes=N >= 1 and --process_id in [0, N); got "
                f"{coordinator_address!r}, {num_processes}, {process_id}"
            )
        jax.distributed.initialize(coordinator_address, num_processes, process_id)
    else:
        cluster = detect_cluster()
        if cluster is None:
            return False
        if cluster == "openmpi" and "OMPI_MCA_orte_hnp_uri" not in os.environ:
            raise ConfigError(
                "Open MPI without OMPI_MCA_orte_hnp_uri (Open MPI 5 / PMIx) is not detected by "
                "JAX: pass --coordinator_address=<rank 0 host>:<port> "
                "--num_processes=$OMPI_COMM_WORLD_SIZE --process_id=$OMPI_COMM_WORLD_RANK"
            )
        logging.info("%s environment: initialising jax.distributed", cluster)
        jax.distributed.initialize()
    logging.info(
        "process %d of %d, %d local devices of %d",
        jax.process_index(),
        jax.process_count(),
        jax.local_device_count(),
        jax.device_count(),
    )
    return True


def make_mesh() -> jax.sharding.Mesh:
    return jax.make_mesh((jax.device_count(),), ("data",), axis_types=(AxisType.Auto,))


def batch_sharding(mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec("data"))


def replicated(mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def check_batch_size(global_batch: int, mesh=None) -> int:
    """Per-device batch size; a ConfigError when the global batch does not split evenly."""
    devices = mesh.size if mesh is not None else jax.device_count()
    processes = jax.process_count()
    if global_batch % devices:
        raise ConfigError(
            f"train.batch_size={global_batch} (the global batch) does not divide over "
            f"{devices} devices: choose a multiple of {devices}"
        )
    if global_batch % processes:
        raise ConfigError(
            f"train.batch_size={global_batch} does not divide over {processes} processes: "
            f"choose a multiple of {processes}"
        )
    return global_batch // devices


def to_global(local_batch: dict, mesh) -> dict:
    """This host's numpy batch -> global jax.Arrays sharded on `data` (one host or many)."""
    sharding = batch_sharding(mesh)
    return {
        k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
        for k, v in local_batch.items()
    }
