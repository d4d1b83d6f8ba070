"""Multi-process training (gloo on CPU): the same gradients as one process, the data order, torchrun runs."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from torch_geometric.data import Batch

import gvin
from gvin.train import TrainConfig, Trainer, distributed, epoch_loader, load_checkpoint

TORCHRUN = Path(sys.executable).with_name("torchrun")
KWARGS = dict(num_edge_types=9, hidden_channels=8, num_iterations=12)
TINY = ["--size", "7", "--counts", "24", "8", "8", "--depth", "8", "--hidden", "8", "--batch-size", "8"]


def labelled_maze(side: int, seed: int):
    rng = np.random.default_rng(seed)
    maze = (rng.random((side, side)) > 0.25).astype(np.float32)
    maze[0, 0] = 1
    data = gvin.from_grid(maze, goal=(0, 0), kernel_size=3, connectivity=8)
    data.dist = gvin.shortest_path_distances(data).float()
    data.optimal = gvin.optimal_edges(data)
    return data


def mazes():
    """Graphs of different sizes: the ranks' shards hold different numbers of labelled nodes."""
    return [labelled_maze(side, seed) for seed, side in enumerate((4, 9, 6, 5, 8))]


def config(highway: int) -> TrainConfig:
    return TrainConfig(model="dtvin", model_kwargs=dict(KWARGS), batch_size=5, lr=1e-2, seed=1, highway_every=highway)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def one_step(trainer: Trainer, graphs) -> dict:
    loss = trainer.step(Batch.from_data_list(graphs))
    return {"loss": loss, "grads": [p.grad.clone() for p in trainer.model.parameters()]}


def as_torchrun_rank(rank: int, world_size: int, port: int) -> None:
    """Give a forked process the environment torchrun gives rank ``rank``."""
    os.environ.update(WORLD_SIZE=str(world_size), RANK=str(rank), LOCAL_RANK=str(rank),
                      LOCAL_WORLD_SIZE=str(world_size), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)


def fork_ranks(function, *args, world_size: int = 2) -> None:
    """Run ``function(rank, world_size, port, *args)`` in ``world_size`` processes forked from a fresh,
    single-threaded interpreter (a child of this one, given 300 s).

    Forking the test process itself deadlocked now and then: it forks after the suite's threads (torch's
    intra-op pool, other tests' leftovers) took locks. The fresh interpreter holds no such thread, and
    its ranks still share its imports (a spawned or torchrun-started rank spends seconds importing)."""
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import test_distributed as t; "
            f"t._fork_here(t.{function.__name__}, {world_size!r}, *{args!r})")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    sys.stdout.write(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr


def _fork_here(function, world_size: int, *args) -> None:
    mp.start_processes(function, args=(world_size, free_port(), *args), nprocs=world_size, join=True,
                       start_method="fork")


def _rank_step(rank: int, world_size: int, port: int, out: str) -> None:
    """A rank: one step on its shard of the batch per config."""
    as_torchrun_rank(rank, world_size, port)
    graphs = mazes()
    shard = distributed.shard_batches([range(len(graphs))], rank, world_size)[0]
    try:
        results = {}
        for highway in (0, 4):
            trainer = Trainer(config(highway))
            assert trainer.world_size == world_size and trainer.ddp is not None
            results[highway] = one_step(trainer, [graphs[i] for i in shard])
        torch.save(results, Path(out) / f"rank{rank}.pt")
    finally:
        distributed.cleanup()


def test_a_step_over_two_ranks_has_the_gradients_of_one_process(tmp_path):
    fork_ranks(_rank_step, str(tmp_path))
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    for highway in (0, 4):
        whole = one_step(Trainer(config(highway)), mazes())
        for result in ranks:
            assert result[highway]["loss"] == pytest.approx(whole["loss"], rel=1e-5)
            for got, expected in zip(result[highway]["grads"], whole["grads"]):
                torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("count, batch_size, world_size", [(21, 8, 2), (17, 8, 3), (2, 4, 3)])
def test_the_ranks_shards_make_up_the_single_process_batches(count, batch_size, world_size):
    graphs = []
    for index in range(count):
        data = labelled_maze(3, 0)
        data.idx = torch.tensor([index])
        graphs.append(data)
    for epoch in (0, 1):
        single = [b.idx.tolist() for b in epoch_loader(graphs, batch_size, seed=5, epoch=epoch)]
        shards = [[b.idx.tolist() for b in epoch_loader(graphs, batch_size, 5, epoch, rank, world_size)]
                  for rank in range(world_size)]
        assert sorted(sum(single, [])) == list(range(count))
        assert all(len(rank) == len(single) for rank in shards)
        order = sum(single, [])
        for step, batch in enumerate(single):
            union = sum((rank[step] for rank in shards), [])
            assert all(rank[step] for rank in shards)
            padding = (order * world_size)[: max(0, world_size - len(batch))]  # DistributedSampler-style
            assert sorted(union) == sorted(batch + padding)
    if count > batch_size:  # reshuffled every epoch
        assert single != [b.idx.tolist() for b in epoch_loader(graphs, batch_size, seed=5, epoch=0)]


def test_launch_environment_errors_name_the_problem(monkeypatch):
    env = dict(WORLD_SIZE="2", RANK="1", LOCAL_RANK="1", LOCAL_WORLD_SIZE="2", MASTER_ADDR="h", MASTER_PORT="1")
    assert distributed.launch_from_env({}) is None and distributed.launch_from_env({"WORLD_SIZE": "1"}) is None
    assert distributed.launch_from_env(env) == distributed.Launch(1, 2, 1, 2)
    with pytest.raises(ValueError, match="RANK is not set"):
        distributed.launch_from_env({k: v for k, v in env.items() if k != "RANK"})
    with pytest.raises(ValueError, match="inconsistent"):
        distributed.launch_from_env({**env, "RANK": "2"})
    launch = distributed.launch_from_env(env)
    assert distributed.rank_device("cpu", launch) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(ValueError, match="2 processes on this machine with --device cuda, but it has 1 CUDA"):
        distributed.rank_device("cuda", launch)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert distributed.rank_device("cuda", launch) == torch.device("cuda", 1)
    with pytest.raises(ValueError, match="runs on cuda:1"):
        distributed.rank_device("cuda:0", launch)


def torchrun(*args: str, nproc: int = 2) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    command = [str(TORCHRUN), "--standalone", f"--nproc-per-node={nproc}", "-m", "gvin.cli", "train", *args,
               "--threads", "1"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def _rank_cli(rank: int, world_size: int, port: int, argv: list[str]) -> None:
    as_torchrun_rank(rank, world_size, port)
    from gvin.cli import main

    assert main(argv) == 0


@pytest.mark.slow  # two torchrun-style runs of the command (about 30 s)
@pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is not installed next to this Python")
def test_torchrun_trains_writes_one_checkpoint_and_resumes(tmp_path, capfd):
    out = tmp_path / "run"
    args = [*TINY, "--root", str(tmp_path / "data"), "--out", str(out)]
    first = torchrun(*args, "--epochs", "1")
    assert first.stdout.count("epoch 1/1") == 1 and "2 processes" in first.stdout  # rank 0 alone prints
    assert first.stdout.count("test (") == 1
    written = ["checkpoint.pt", "learning_curve.png", "metrics.jsonl", "plan.png", "run.json", "test.json"]
    assert sorted(p.name for p in out.iterdir() if p.name != ".lock") == written  # no temporary or per-rank files
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1  # one line per epoch: rank 0 alone wrote
    one = load_checkpoint(out / "checkpoint.pt")
    assert one["epoch"] == 1 and one["config"]["batch_size"] == 8

    # The resume runs in forked ranks with torchrun's environment (a second torchrun costs ~15 s of imports).
    capfd.readouterr()
    fork_ranks(_rank_cli, ["train", *args, "--epochs", "2", "--threads", "1"])
    printed = capfd.readouterr().out
    assert printed.count("resuming") == 1 and printed.count("epoch 2/2") == 1, printed
    two = load_checkpoint(out / "checkpoint.pt")
    assert two["epoch"] == 2 and len(two["history"]) == 2 and two["history"][0] == one["history"][0]
    assert any(not torch.equal(two["model"][k], one["model"][k]) for k in one["model"])
    # Weights are not compared with a one-process run: Adam turns the rounding noise of gradients
    # that are 0 in exact arithmetic into whole steps of lr. The step test above compares gradients.


@pytest.mark.cuda
@pytest.mark.skipif(torch.cuda.device_count() < 2 or shutil.which(str(TORCHRUN)) is None, reason="needs 2 GPUs")
def test_torchrun_on_two_gpus(tmp_path):
    out = tmp_path / "run"
    result = torchrun(*TINY, "--root", str(tmp_path / "data"), "--out", str(out), "--epochs", "1", "--device", "cuda")
    assert result.stdout.count("epoch 1/1") == 1 and load_checkpoint(out / "checkpoint.pt")["epoch"] == 1
