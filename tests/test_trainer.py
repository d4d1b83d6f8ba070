"""Trainer, evaluation and checkpoints: atomic saves, weights-only loads, bitwise resume, errors."""
import numpy as np
import pytest
import torch
from torch_geometric.data import Batch
from torch_geometric.loader import DataLoader

from gvin import from_grid
from gvin.models import build_model
from gvin.train import TrainConfig, Trainer, evaluate, load_checkpoint, save_checkpoint
from gvin.train.checkpoint import load_model

KWARGS = dict(num_edge_types=9, hidden_channels=8, num_iterations=10)


@pytest.fixture(scope="module")
def mazes(maze_data):
    options = dict(kind="gppn", size=7, counts=(24, 0, 8), kernel_size=3, connectivity=4)
    return maze_data("train", **options), maze_data("test", **options)


def config(**changes) -> TrainConfig:
    base = dict(model="dtvin", model_kwargs=dict(KWARGS), epochs=2, batch_size=8, lr=1e-2, seed=3, highway_every=3)
    base.update(changes)
    return TrainConfig(**base)


def assert_same_state(a: Trainer, b: Trainer) -> None:
    for (name, x), (_, y) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert torch.equal(x, y), name
    sa, sb = a.optimizer.state_dict()["state"], b.optimizer.state_dict()["state"]
    assert sa.keys() == sb.keys()
    for key in sa:
        for field in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(sa[key][field], sb[key][field]), (key, field)


def weights_differ(a: Trainer, b: Trainer) -> bool:
    return any(not torch.equal(x, y) for x, y in zip(a.model.parameters(), b.model.parameters()))


# ----------------------------------------------------------------------------- resume


def test_resume_is_bitwise_equal_to_an_uninterrupted_run(mazes, tmp_path):
    train, valid = mazes
    full = Trainer(config(epochs=2))
    full.fit(train, valid, progress=False)

    path = tmp_path / "run" / "ck.pt"
    first = Trainer(config(epochs=1), checkpoint=path)
    records = []
    first.fit(train, valid, progress=False, on_epoch=records.append)
    assert path.is_file() and len(records) == 1 and first.epoch == 1
    resumed = Trainer(config(epochs=2), checkpoint=path, resume=True)
    assert resumed.epoch == 1 and resumed.history == first.history
    resumed.fit(train, valid, progress=False)

    assert resumed.epoch == full.epoch == 2
    assert_same_state(full, resumed)
    assert resumed.history == full.history  # losses and validation rates, exactly
    assert {"loss", "valid_optimal", "valid_success", "valid_random_success"} <= set(full.history[-1])
    assert torch.equal(load_checkpoint(path)["model"]["reward.weight"], full.model.reward.weight)

    # The test can fail: a resume that forgets the optimizer state, or the epoch
    # (and so reuses epoch 0's data order and seeds), ends elsewhere.
    no_optimizer = Trainer(config(epochs=1))
    no_optimizer.model.load_state_dict(first.model.state_dict())
    no_optimizer.epoch = 1
    no_optimizer.fit(train, progress=False, epochs=2)
    assert weights_differ(no_optimizer, full)
    wrong_epoch = Trainer(config(epochs=2), checkpoint=path, resume=True)
    wrong_epoch.load(tmp_path / "run" / "ck.pt")
    wrong_epoch.epoch = 0
    wrong_epoch.fit(train, progress=False, epochs=1)
    assert weights_differ(wrong_epoch, full)


def test_each_epoch_reshuffles_from_seed_and_epoch(mazes, tmp_path, monkeypatch):
    train, _ = mazes
    seen = []
    original = Trainer.step

    def recording_step(self, batch):
        seen.append((self.epoch, batch.x[:, 1].nonzero().flatten().tolist(), batch.dist.sum().item()))
        return original(self, batch)

    monkeypatch.setattr(Trainer, "step", recording_step)
    Trainer(config(epochs=2)).fit(train, progress=False)
    full = list(seen)
    orders = [[item for e, *item in full if e == epoch] for epoch in (0, 1)]
    assert orders[0] != orders[1]
    seen.clear()
    Trainer(config(epochs=1), checkpoint=tmp_path / "ck.pt").fit(train, progress=False)
    Trainer(config(epochs=2), checkpoint=tmp_path / "ck.pt").fit(train, progress=False)
    assert seen == full


def test_training_ignores_and_preserves_the_global_rng(mazes):
    train, _ = mazes
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = Trainer(config(epochs=1))
    a.fit(train, progress=False)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(456)
    b = Trainer(config(epochs=1))
    b.fit(train, progress=False)
    assert_same_state(a, b)
    c = Trainer(config(epochs=1, seed=4))
    c.fit(train, progress=False)
    assert weights_differ(a, c)


def test_fit_accepts_lists_and_ready_loaders(mazes):
    train, valid = mazes
    as_list = [train[i] for i in range(len(train))]
    a = Trainer(config(epochs=1))
    a.fit(as_list, progress=False)
    b = Trainer(config(epochs=1))
    b.fit(train, progress=False)
    assert_same_state(a, b)  # a dataset and the list of its items train alike
    c = Trainer(config(epochs=1))
    history = c.fit(DataLoader(train, batch_size=8), [valid[i] for i in range(len(valid))], progress=False)
    assert c.epoch == 1 and len(history) == 1 and np.isfinite(history[0]["loss"])


@pytest.mark.parametrize("model", ["vin", "dtvin", "gppn"])
@pytest.mark.parametrize("highway", [0, 4])
def test_every_model_trains(mazes, model, highway):
    train, _ = mazes
    kwargs = dict(KWARGS)
    if model != "dtvin":
        kwargs["num_iterations"] = 5
    trainer = Trainer(config(model=model, model_kwargs=kwargs, epochs=1, highway_every=highway))
    before = [p.detach().clone() for p in trainer.model.parameters()]
    history = trainer.fit(train, progress=False)
    assert np.isfinite(history[0]["loss"]) and history[0]["loss"] > 0
    assert any(not torch.equal(p, q) for p, q in zip(before, trainer.model.parameters()))


# ----------------------------------------------------------------------------- checkpoints


def test_checkpoint_loads_with_weights_only(mazes, tmp_path):
    train, _ = mazes
    path = tmp_path / "ck.pt"
    trainer = Trainer(config(epochs=1), checkpoint=path)
    trainer.fit(train, progress=False)
    payload = torch.load(path, weights_only=True)
    assert payload["epoch"] == 1 and payload["config"]["model_kwargs"] == KWARGS
    model = build_model("dtvin", **KWARGS)
    model.load_state_dict(payload["model"])
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), trainer.model.parameters()))
    restored = Trainer.from_checkpoint(path)
    assert restored.epoch == 1 and restored.config == trainer.config
    assert_same_state(restored, trainer)


def test_checkpoint_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"model": {"w": torch.ones(3)}, "epoch": 1})
    before = path.read_bytes()

    def broken_save(obj, file, *args, **kwargs):
        file.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"model": {"w": torch.zeros(3)}, "epoch": 2})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt"]  # no temporary file left
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(3))


class NotAllowed:
    """Pickled code: a weights-only load must refuse it."""


@pytest.mark.parametrize("damage", ["truncated", "garbage", "no model", "pickled code", "not a dict"])
def test_damaged_checkpoint_raises_value_error_naming_the_file(tmp_path, damage):
    path = tmp_path / f"{damage.replace(' ', '_')}.pt"
    save_checkpoint(path, {"model": {"w": torch.arange(1000.0)}})
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:300])
    elif damage == "garbage":
        path.write_bytes(b"this is not a checkpoint")
    elif damage == "no model":
        torch.save({"weights": torch.ones(2)}, path)
    elif damage == "pickled code":
        torch.save({"model": {}, "extra": NotAllowed()}, path)
    else:
        torch.save([torch.ones(2)], path)
    with pytest.raises(ValueError, match=path.name):
        load_checkpoint(path)
    with pytest.raises(ValueError, match=path.name):
        Trainer(config(), checkpoint=path, resume=True)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(tmp_path / "nope.pt")
    trainer = Trainer(config(), checkpoint=tmp_path / "nope.pt", resume=True)  # a fresh run
    assert trainer.epoch == 0
    with pytest.raises(ValueError, match="no checkpoint path"):
        Trainer(config()).save()


@pytest.mark.parametrize(
    "change, field",
    [
        (dict(model_kwargs=dict(KWARGS, hidden_channels=12)), "model_kwargs"),
        (dict(model="vin"), "model"),
        (dict(lr=3e-3), "lr"),
        (dict(batch_size=4), "batch_size"),
        (dict(seed=9), "seed"),
        (dict(highway_every=0), "highway_every"),
    ],
)
def test_resume_with_a_different_config_raises(mazes, tmp_path, change, field):
    path = tmp_path / "ck.pt"
    Trainer(config(epochs=1), checkpoint=path).fit(mazes[0], progress=False)
    with pytest.raises(ValueError, match=field):
        Trainer(config(**change), checkpoint=path, resume=True)
    fresh = Trainer(config(**change), checkpoint=path, resume=False)  # explicit restart is fine
    assert fresh.epoch == 0
    longer = Trainer(config(epochs=5), checkpoint=path, resume=True)  # more epochs is fine
    assert longer.epoch == 1


# ----------------------------------------------------------------------------- errors


def test_unlabelled_graphs_raise_a_clear_error(mazes):
    maze = np.ones((5, 5))
    data = from_grid(maze, goal=(2, 2), connectivity=4, kernel_size=3)
    trainer = Trainer(config(epochs=1))
    with pytest.raises(ValueError, match="expert labels"):
        trainer.fit([data], progress=False)
    with pytest.raises(ValueError, match="expert labels"):
        trainer.fit(mazes[0], [data], progress=False)
    with pytest.raises(ValueError, match="expert labels"):
        evaluate(trainer.model, [data])
    assert trainer.epoch == 0


def test_nan_loss_raises_floating_point_error(mazes, tmp_path):
    path = tmp_path / "ck.pt"
    trainer = Trainer(config(epochs=2), checkpoint=path)
    trainer.fit(mazes[0], progress=False, epochs=1)
    before = path.read_bytes()
    with torch.no_grad():
        trainer.model.reward.weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="epoch 2"):
        trainer.fit(mazes[0], progress=False)
    assert trainer.epoch == 1 and path.read_bytes() == before


def test_bad_inputs(mazes):
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=-1.0)
    with pytest.raises(TypeError, match="TrainConfig"):
        Trainer({"model": "vin"})
    with pytest.raises(ValueError, match="unknown model"):
        Trainer(TrainConfig(model="nope"))
    trainer = Trainer(config())
    with pytest.raises(ValueError, match="empty"):
        trainer.fit([], progress=False)
    with pytest.raises(TypeError, match="Data"):
        trainer.fit([1, 2, 3], progress=False)
    with pytest.raises(TypeError, match="string"):
        evaluate(trainer.model, "mazes.npz")


# ----------------------------------------------------------------------------- evaluate


def test_evaluate_accepts_datasets_lists_and_loaders(mazes):
    _, valid = mazes
    model = Trainer(config()).model
    model.train()
    a = evaluate(model, valid, "cpu")
    b = evaluate(model, [valid[i] for i in range(len(valid))], batch_size=3)
    c = evaluate(model, DataLoader(valid, batch_size=5), torch.device("cpu"))
    assert model.training  # the mode is restored
    assert a.num_graphs == b.num_graphs == c.num_graphs == len(valid)
    for m in (b, c):
        assert m.optimal == pytest.approx(a.optimal, abs=1e-12)
        assert m.success == pytest.approx(a.success, abs=1e-12)
    assert a.random_success is not None and 0 <= a.random_success <= 1
    assert b.random_success is not None  # a different batching draws other starts
    assert evaluate(model, valid, num_starts=0).random_success is None
    d = evaluate(model, valid[0], num_iterations=2)
    assert d.num_graphs == 1
    assert set(a.as_percent()) == {"%Optimal", "%Success", "%Success(random starts)"}


# ----------------------------------------------------------------------------- issue 7


def test_labels_that_mark_no_optimal_edge_are_refused(mazes):
    train, _ = mazes
    unlabelled = [train[i] for i in range(8)]
    for data in unlabelled:
        data.optimal = torch.zeros_like(data.optimal)
    trainer = Trainer(config(epochs=1))
    with pytest.raises(ValueError, match="mark no optimal edge"):
        trainer.fit(unlabelled, progress=False)  # the first graph is checked before training
    with pytest.raises(ValueError, match="mark no optimal edge"):
        trainer.fit(DataLoader(unlabelled, batch_size=4), progress=False)  # a loader: every batch
    for data in unlabelled:  # nothing reaches the goal: no batch is wrong, the data set is
        data.dist = torch.where(data.goal, 0.0, float("inf"))
    with pytest.raises(ValueError, match="no optimal edge in any graph"):
        trainer.fit(unlabelled, progress=False)
    assert trainer.epoch == 0
    mixed = [unlabelled[0]] + [train[i] for i in range(8, 16)]  # one goal walled in among real mazes
    history = Trainer(config(epochs=1)).fit(mixed, progress=False)
    assert history[0]["loss"] > 0


def test_learning_rates_must_be_finite():
    for lr in (float("inf"), float("nan"), 0.0):
        with pytest.raises(ValueError, match="lr"):
            TrainConfig(lr=lr)
    with pytest.raises(TypeError, match="data"):
        TrainConfig(data=["train.npz"])


def test_the_checkpoint_records_the_data_and_resume_compares_it(mazes, tmp_path):
    path = tmp_path / "ck.pt"
    Trainer(config(epochs=1, data={"maze": "a"}), checkpoint=path).fit(mazes[0], progress=False)
    assert load_checkpoint(path)["config"]["data"] == {"maze": "a"}
    with pytest.raises(ValueError, match="data"):
        Trainer(config(epochs=2, data={"maze": "b"}), checkpoint=path)
    assert Trainer(config(epochs=2, data={"maze": "a"}), checkpoint=path).epoch == 1
    assert Trainer.from_checkpoint(path).config.data == {"maze": "a"}
    payload = load_checkpoint(path)
    del payload["config"]["data"]  # written before data records: not compared, still resumes
    save_checkpoint(path, payload)
    assert Trainer(config(epochs=2, data={"maze": "b"}), checkpoint=path).epoch == 1


@pytest.mark.parametrize("payload, message", [
    ({"model": {"w": torch.ones(2)}}, "no gvin training config"),
    ({"w": torch.ones(2)}, "bare state_dict"),
    ({"model": {}, "config": {"model": "dtvin", "model_kwargs": "big"}}, "no gvin training config"),
])
def test_hand_saved_checkpoints_are_named(tmp_path, payload, message):
    path = tmp_path / "hand.pt"
    torch.save(payload, path)
    with pytest.raises(ValueError, match=message):
        Trainer(config(), checkpoint=path, resume=True)
    with pytest.raises(ValueError, match="hand.pt"):
        Trainer.from_checkpoint(path)


def test_weights_that_do_not_fit_their_config_are_named(mazes, tmp_path):
    path = tmp_path / "ck.pt"
    Trainer(config(epochs=1), checkpoint=path).fit(mazes[0], progress=False)
    payload = load_checkpoint(path)
    payload["config"]["model_kwargs"]["hidden_channels"] = 16
    save_checkpoint(path, payload)
    with pytest.raises(ValueError, match=r"ck.pt: its weights do not fit its dtvin config: size mismatch"):
        load_model(path)
    with pytest.raises(ValueError, match="ck.pt does not fit the model"):
        Trainer.from_checkpoint(path)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_loading_onto_cuda_without_cuda_says_so(tmp_path):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"model": {"w": torch.ones(2)}})
    with pytest.raises(ValueError, match="CUDA is not available") as error:
        load_checkpoint(path, map_location="cuda")
    assert "damaged" not in str(error.value)
    with pytest.raises(ValueError, match="is a folder"):
        load_checkpoint(tmp_path)


# ----------------------------------------------------------------------------- recipe options


def test_rmsprop_and_unknown_recipe_names():
    trainer = Trainer(config(optimizer="rmsprop", lr=1e-3))
    assert isinstance(trainer.optimizer, torch.optim.RMSprop)
    assert trainer.optimizer.defaults["eps"] == 1e-6 and trainer.optimizer.defaults["lr"] == 1e-3
    assert isinstance(Trainer(config()).optimizer, torch.optim.Adam)
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        config(optimizer="sgd")
    with pytest.raises(ValueError, match="unknown loss 'mse'"):
        config(loss="mse")


def with_one_expert_move(data):
    """``data`` plus ``expert``: the lowest-numbered optimal move of every labelled node."""
    data = data.clone()
    src = data.edge_index[0]
    edge_ids = torch.arange(src.numel())
    first = torch.full((data.num_nodes,), src.numel()).scatter_reduce(
        0, src[data.optimal], edge_ids[data.optimal], "amin")
    data.expert = torch.zeros_like(data.optimal)
    data.expert[first[first < src.numel()]] = True
    return data


@pytest.mark.parametrize("highway", [0, 3])
def test_expert_loss_is_the_cross_entropy_of_the_expert_move(mazes, highway):
    train, _ = mazes
    graphs = [with_one_expert_move(train[i]) for i in range(4)]
    batch = Batch.from_data_list(graphs)
    trainer = Trainer(config(loss="expert", highway_every=highway))
    loss = trainer.loss(batch)
    if not highway:
        log_probs = trainer.model(batch).log_probs
        expected = -log_probs[batch.expert].mean()
        torch.testing.assert_close(loss, expected)
    # the optimal-set loss of the same batch differs where a node has tied optimal moves
    assert not torch.isclose(loss, Trainer(config(highway_every=highway)).loss(batch))
    trainer.fit(graphs, epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"loss='expert' imitates data.expert.*file_labels=True"):
        Trainer(config(loss="expert")).fit(train, epochs=1, progress=False)


def test_expert_loss_refuses_several_expert_moves_per_node(mazes):
    train, _ = mazes
    data = train[0].clone()
    data.expert = data.optimal.clone()  # every optimal move, ties included
    tied = torch.bincount(data.edge_index[0][data.expert], minlength=data.num_nodes) > 1
    assert tied.any()
    with pytest.raises(ValueError, match=r"one expert move per node, but data.expert marks \d+ out-edges of node"):
        Trainer(config(loss="expert")).loss(Batch.from_data_list([data]))


@pytest.mark.parametrize("highway", [0, 3])
def test_depth_factor_trains_at_drawn_depths_and_evaluates_at_k(mazes, highway, monkeypatch):
    """depth_factor F: every training batch plans at a depth in [K, F·K], drawn from the seeded RNG;
    evaluation plans at K. The same seed draws the same depths."""
    seen = {}
    for run in ("a", "b"):
        trainer = Trainer(config(depth_factor=2.5, highway_every=highway, epochs=2))
        depths = seen.setdefault(run, [])
        forward = type(trainer.model).forward

        def spy(self, data, num_iterations=None, *args, **kwargs):
            depths.append((self.training, num_iterations))
            return forward(self, data, num_iterations, *args, **kwargs)

        monkeypatch.setattr(type(trainer.model), "forward", spy)
        train, test = mazes
        trainer.fit(train, test, progress=False)
        monkeypatch.undo()
    k = Trainer(config()).model.num_iterations
    training = [depth for is_training, depth in seen["a"] if is_training]
    assert all(k <= depth <= int(2.5 * k) for depth in training) and len(set(training)) > 1
    assert all(depth is None for is_training, depth in seen["a"] if not is_training)  # evaluation: K
    assert seen["a"] == seen["b"]


def test_depth_factor_is_checked():
    with pytest.raises(ValueError, match="depth_factor"):
        config(depth_factor=0.5)
    with pytest.raises(ValueError, match="depth_factor"):
        config(depth_factor=float("inf"))
