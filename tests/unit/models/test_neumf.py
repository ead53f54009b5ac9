"""NeuMF: the pretraining fusion of He et al. (2017) and the split first layer of the MLP tower."""

from __future__ import annotations

from typing import TypeVar

import pytest
import torch
from torch import nn

from ncf.errors import ConfigError
from ncf.models import GMF, MLP, NeuMF
from ncf.nn import FeedForward, PairFeedForward

NU, NI = 9, 13
M = TypeVar("M", bound=nn.Module)


def _trained_like(model: M, seed: int) -> M:
    """Perturb every parameter so no weight is at its (often zero) initial value."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen))
    return model.eval()


@pytest.mark.parametrize("alpha", [0.5, 0.2, 0.0, 1.0])
@torch.no_grad()
def test_from_pretrained_is_the_alpha_mixture_of_logits(alpha: float) -> None:
    # Eq. 13: h = [alpha h_gmf; (1 - alpha) h_mlp]; with b = alpha b_gmf + (1 - alpha) b_mlp
    # (the authors' code), the NeuMF logit is exactly the mixture of the two branch logits.
    torch.manual_seed(0)
    gmf = _trained_like(GMF(NU, NI, embedding_dim=4), 1)
    mlp = _trained_like(MLP(NU, NI, embedding_dim=5, layers=(12, 6, 3), dropout=0.3), 2)
    neumf = NeuMF.from_pretrained(gmf, mlp, alpha=alpha).eval()
    assert neumf.get_config() == {
        "num_users": NU, "num_items": NI, "gmf_dim": 4, "mlp_dim": 5, "layers": [12, 6, 3], "dropout": 0.3,
    }
    u, i = torch.arange(NU)[:, None], torch.arange(NI)[None, :]
    expected = alpha * gmf.score(u, i) + (1 - alpha) * mlp.score(u, i)
    torch.testing.assert_close(neumf.score(u, i), expected, rtol=1e-5, atol=1e-5)
    # the branches are copies, each equal to its source
    torch.testing.assert_close(neumf.gmf_user_embedding.weight, gmf.user_embedding.weight)
    torch.testing.assert_close(neumf.mlp_item_embedding.weight, mlp.item_embedding.weight)
    torch.testing.assert_close(
        neumf.tower(neumf.mlp_user_embedding(u), neumf.mlp_item_embedding(i)), mlp.hidden(u, i)
    )


@torch.no_grad()
def test_from_pretrained_copies_not_shares() -> None:
    gmf, mlp = GMF(NU, NI), MLP(NU, NI)
    neumf = NeuMF.from_pretrained(gmf, mlp)
    before = neumf.score(torch.arange(NU), torch.arange(NU)).clone()
    gmf.user_embedding.weight.add_(1.0)
    mlp.tower.user_proj.weight.add_(1.0)
    assert torch.equal(neumf.score(torch.arange(NU), torch.arange(NU)), before)
    ids = {id(p) for p in neumf.parameters()}
    assert not ids & {id(p) for p in [*gmf.parameters(), *mlp.parameters()]}


def test_from_pretrained_validates() -> None:
    with pytest.raises(ConfigError, match="alpha"):
        NeuMF.from_pretrained(GMF(NU, NI), MLP(NU, NI), alpha=1.5)
    with pytest.raises(ConfigError, match="universe"):
        NeuMF.from_pretrained(GMF(NU, NI), MLP(NU, NI + 1))


@torch.no_grad()
def test_pair_tower_equals_mlp_over_concatenation() -> None:
    """The split first layer is exactly ``Linear([x_u; x_i])`` of He et al.'s MLP."""
    torch.manual_seed(0)
    tower = PairFeedForward(3, 4, (8, 5, 2)).eval()
    weight, bias = tower.first_layer()
    assert weight.shape == (8, 7) and bias.shape == (8,)
    xu, xi = torch.randn(6, 1, 3), torch.randn(1, 10, 4)
    xu_b, xi_b = torch.broadcast_tensors(xu, torch.zeros(6, 10, 3))[0], torch.broadcast_tensors(xi, torch.zeros(6, 10, 4))[0]
    h = torch.relu(torch.cat([xu_b, xi_b], dim=-1) @ weight.T + bias)
    expected = tower.rest(h)
    torch.testing.assert_close(tower(xu, xi), expected)
    assert tower(xu, xi).shape == (6, 10, 2)
    # set_first_layer is the inverse of first_layer
    other = PairFeedForward(3, 4, (8, 5, 2))
    other.set_first_layer(weight, bias)
    other.rest.load_state_dict(tower.rest.state_dict())
    torch.testing.assert_close(other(xu, xi), tower(xu, xi))


def test_feedforward_structure() -> None:
    ff = FeedForward(6, (5, 4, 3), dropout=0.1, layer_norm=True, final_activation=False)
    kinds = [type(m).__name__ for m in ff.net]
    assert kinds == ["Linear", "LayerNorm", "ReLU", "FastDropout", "Linear", "LayerNorm", "ReLU", "FastDropout",
                     "Linear"]
    assert ff.out_dim == 3 and len(ff.linears) == 3
    assert ff(torch.randn(2, 7, 6)).shape == (2, 7, 3)
    assert FeedForward(4, ()).out_dim == 4
    with pytest.raises(ConfigError):
        FeedForward(4, (3,), activation="nope")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        FeedForward(4, (0,))
