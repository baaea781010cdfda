"""Data parallelism: one mesh axis `data` over every device of every host.

The batch is sharded on `data` and the TrainState replicated; `jax.jit` with these shardings
inserts the gradient all-reduces. Multi-host runs start with `initialize_distributed`.
"""

import os

import jax
import numpy as np
from jax.sharding import AxisType, NamedSharding, PartitionSpec

# Environments in which jax.distributed.initialize() finds the coordinator by itself.
_CLUSTER_ENV = (
    "SLURM_JOB_ID",
    "OMPI_COMM_WORLD_SIZE",
    "TPU_WORKER_HOSTNAMES",
    "MEGASCALE_COORDINATOR_ADDRESS",
)


def initialize_distributed(
    coordinator_address: str = "", num_processes: int = 0, process_id: int = -1
) -> bool:
    """Starts JAX's multi-controller runtime when flags or the environment ask for it.

    Explicit flags win; otherwise SLURM (with more than one task), Open MPI and TPU pod
    environments are detected by JAX. Returns whether the runtime was initialised.
    """
    if coordinator_address or num_processes > 1:
        if not (coordinator_address and num_processes > 0 and process_id >= 0):
            raise ValueError(
                "multi-process runs need all of --coordinator_address, --num_processes and "
                f"--process_id; got {coordinator_address!r}, {num_processes}, {process_id}"
            )
        jax.distributed.initialize(coordinator_address, num_processes, process_id)
        return True
    slurm_tasks = int(os.environ.get("SLURM_NTASKS", "1"))
    detected = [k for k in _CLUSTER_ENV if k in os.environ]
    if detected == ["SLURM_JOB_ID"] and slurm_tasks <= 1:
        return False  # A single-task SLURM job is an ordinary single-process run.
    if detected:
        jax.distributed.initialize()
        return True
    return False


def make_mesh() -> jax.sharding.Mesh:
    return jax.make_mesh((jax.device_count(),), ("data",), axis_types=(AxisType.Auto,))


def batch_sharding(mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec("data"))


def replicated(mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def check_batch_size(global_batch: int, mesh=None) -> int:
    """Per-device batch size; a clear error when the global batch does not split evenly."""
    devices = mesh.size if mesh is not None else jax.device_count()
    processes = jax.process_count()
    if global_batch % devices:
        raise ValueError(
            f"train.batch_size={global_batch} does not divide over {devices} devices: "
            f"choose a multiple of {devices}"
        )
    if global_batch % processes:
        raise ValueError(
            f"train.batch_size={global_batch} does not divide over {processes} processes"
        )
    return global_batch // devices


def to_global(local_batch: dict, mesh) -> dict:
    """This host's numpy batch -> global jax.Arrays sharded on `data` (one host or many)."""
    sharding = batch_sharding(mesh)
    return {
        k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
        for k, v in local_batch.items()
    }
