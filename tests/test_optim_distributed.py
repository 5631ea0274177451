"""descend optimizers under torch's distributed engine and torch.compile (one process, gloo, on CPU)."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from torch.distributed.optim import ZeroRedundancyOptimizer
from torch.nn.parallel import DistributedDataParallel

from descend import optim


@pytest.fixture(scope="module")
def process_group(tmp_path_factory):
    store = dist.FileStore(str(tmp_path_factory.mktemp("dist") / "store"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))


def train(m: torch.nn.Module, opt: torch.optim.Optimizer, steps: int = 5) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(64, 8, generator=gen), torch.randn(64, 1, generator=gen)

    def one_step():
        opt.zero_grad()
        torch.nn.functional.mse_loss(m(x), y).backward()
        opt.step()

    for _ in range(steps):
        one_step()
    return torch.cat([getattr(p, "full_tensor", lambda p=p: p)().detach().flatten() for p in m.parameters()])


def reference(cls=optim.Adam, **kwargs) -> torch.Tensor:
    """The same training without the distributed engine."""
    m = model()
    return train(m, cls(m.parameters(), **kwargs))


def test_zero_redundancy_optimizer_with_ddp(process_group):
    m = DistributedDataParallel(model())
    opt = ZeroRedundancyOptimizer(m.parameters(), optimizer_class=optim.Adam, lr=0.01)
    assert torch.equal(train(m, opt), reference(lr=0.01))  # the same path (the default), the same bits


@pytest.mark.parametrize("path", [{}, {"fused": True}, {"fused": False}, {"foreach": True}], ids=str)
def test_fsdp2_dtensor_parameters(process_group, path):
    mesh = init_device_mesh("cpu", (1,))
    m = model()
    fully_shard(m, mesh=mesh)
    assert type(next(m.parameters())).__name__ == "DTensor"
    opt = optim.Yogi(m.parameters(), lr=0.01, **path)
    torch.testing.assert_close(
        train(m, opt), reference(optim.Yogi, lr=0.01, foreach=False), rtol=1e-6, atol=1e-7
    )


@pytest.mark.parametrize("fused", [None, True])
def test_compiled_training_step_calls_step(fused):
    m = model()
    opt = optim.Adam(m.parameters(), lr=0.01, fused=fused)
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(64, 8, generator=gen), torch.randn(64, 1, generator=gen)

    @torch.compile
    def step():
        opt.zero_grad()
        torch.nn.functional.mse_loss(m(x), y).backward()
        opt.step()

    for _ in range(5):
        step()
    got = torch.cat([p.detach().flatten() for p in m.parameters()])
    torch.testing.assert_close(got, reference(lr=0.01), rtol=1e-5, atol=1e-6)
