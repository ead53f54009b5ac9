"""Pure torch building blocks shared by the models: feed-forward towers and initialisers.

Nothing here knows about users, items or files; every block works on batches with any number
of leading dimensions, so models can broadcast ``(B, 1)`` users against ``(1, N)`` items.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from ncf.errors import ConfigError
from ncf.nn.dropout import FastDropout

Activation = Literal["relu", "gelu", "silu", "tanh", "sigmoid", "identity"]
LinearInit = Literal["xavier", "kaiming", "lecun", "default"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "identity": nn.Identity,
}

#: Standard deviation of the embedding initialiser of He et al. (2017), NeuMF.
NEUMF_INIT_STD = 0.01


def make_activation(name: str) -> nn.Module:
    """A fresh activation module from its name (``"relu"``, ``"gelu"``, ...).

    Raises
    ------
    ConfigError
        For an unknown name.
    """
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ConfigError(
            f"unknown activation {name!r}; choose one of {sorted(_ACTIVATIONS)}"
        ) from None


def init_embedding_(embedding: nn.Embedding, std: float = NEUMF_INIT_STD) -> nn.Embedding:
    """Fill an embedding table in place with ``N(0, std^2)``.

    The default ``std=0.01`` is the initialiser of He et al. (2017), "Neural Collaborative
    Filtering", WWW.

    Returns
    -------
    nn.Embedding
        The same module, for chaining.
    """
    with torch.no_grad():
        embedding.weight.normal_(0.0, float(std))
    return embedding


def init_linear_(linear: nn.Linear, scheme: LinearInit = "xavier") -> nn.Linear:
    """Initialise a linear layer in place; the bias (if any) becomes zero.

    Parameters
    ----------
    linear : nn.Linear
    scheme : {"xavier", "kaiming", "lecun", "default"}
        ``"xavier"``: Glorot & Bengio (2010) uniform, the Keras default used by NeuMF's towers;
        ``"kaiming"``: He et al. (2015) uniform for ReLU; ``"lecun"``: ``U(±sqrt(3 / fan_in))``,
        NeuMF's prediction layer; ``"default"``: leave torch's initialisation untouched.

    Returns
    -------
    nn.Linear
        The same module, for chaining.
    """
    if scheme == "default":
        return linear
    with torch.no_grad():
        if scheme == "xavier":
            nn.init.xavier_uniform_(linear.weight)
        elif scheme == "kaiming":
            nn.init.kaiming_uniform_(linear.weight, nonlinearity="relu")
        elif scheme == "lecun":
            bound = math.sqrt(3.0 / max(linear.in_features, 1))
            nn.init.uniform_(linear.weight, -bound, bound)
        else:
            raise ConfigError(f"unknown init scheme {scheme!r}")
        if linear.bias is not None:
            linear.bias.zero_()
    return linear


def _check_widths(widths: Sequence[int], what: str) -> tuple[int, ...]:
    out = tuple(int(w) for w in widths)
    if any(w <= 0 for w in out):
        raise ConfigError(f"{what} must be positive integers, got {list(widths)}")
    return out


class FeedForward(nn.Module):
    """A stack of ``Linear -> [LayerNorm] -> activation -> [Dropout]`` layers.

    Parameters
    ----------
    in_dim : int
        Width of the input's last dimension.
    widths : sequence of int
        Output width of each linear layer; empty gives the identity.
    dropout : float
        Dropout probability after each activation (0 disables it).
    layer_norm : bool
        LayerNorm (Ba et al., 2016) after each linear layer, before the activation.
    activation : str
        See :func:`make_activation`.
    final_activation : bool
        When False the last layer is a bare ``Linear`` (no norm, activation or dropout),
        as wanted for an output or embedding layer.
    init : {"xavier", "kaiming", "lecun", "default"}
        Initialiser of every linear layer, see :func:`init_linear_`.

    Notes
    -----
    Works on inputs of shape ``(..., in_dim)`` and returns ``(..., out_dim)``.
    """

    def __init__(
        self,
        in_dim: int,
        widths: Sequence[int],
        *,
        dropout: float = 0.0,
        layer_norm: bool = False,
        activation: Activation = "relu",
        final_activation: bool = True,
        init: LinearInit = "xavier",
    ) -> None:
        super().__init__()
        if in_dim < 0:
            raise ConfigError(f"in_dim must be >= 0, got {in_dim}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {dropout}")
        widths = _check_widths(widths, "layer widths")
        make_activation(activation)  # validate early
        self.in_dim = int(in_dim)
        self.widths = widths
        self.out_dim = widths[-1] if widths else self.in_dim
        layers: list[nn.Module] = []
        prev = self.in_dim
        for k, width in enumerate(widths):
            linear = init_linear_(nn.Linear(prev, width), init)
            layers.append(linear)
            if k == len(widths) - 1 and not final_activation:
                break
            if layer_norm:
                layers.append(nn.LayerNorm(width))
            layers.append(make_activation(activation))
            if dropout > 0:
                layers.append(FastDropout(dropout))
            prev = width
        self.net = nn.Sequential(*layers)

    @property
    def linears(self) -> list[nn.Linear]:
        """The linear layers, in order."""
        return [m for m in self.net if isinstance(m, nn.Linear)]

    def forward(self, x: Tensor) -> Tensor:
        """Apply the stack to ``x`` of shape ``(..., in_dim)``."""
        out: Tensor = self.net(x)
        return out


class PairFeedForward(nn.Module):
    """A feed-forward tower over the concatenation ``[x_u, x_i]`` that broadcasts cheaply.

    The first layer ``W [x_u; x_i] + b`` is computed as ``W_u x_u + W_i x_i + b`` so each
    side is projected once (per user, per item) and only the projected sums are broadcast:
    scoring ``(B, 1)`` users against ``(1, N)`` items never materialises ``B * N``
    concatenated inputs. Mathematically it equals the MLP tower of He et al. (2017).

    Parameters
    ----------
    user_dim, item_dim : int
        Widths of the two inputs.
    widths : sequence of int
        Hidden widths, at least one; every layer is followed by the activation.
    dropout : float
        Dropout after each activation.
    activation : str
        See :func:`make_activation`.
    init : str
        Initialiser of the linear layers, see :func:`init_linear_`.
    """

    def __init__(
        self,
        user_dim: int,
        item_dim: int,
        widths: Sequence[int],
        *,
        dropout: float = 0.0,
        activation: Activation = "relu",
        init: LinearInit = "xavier",
    ) -> None:
        super().__init__()
        widths = _check_widths(widths, "layer widths")
        if not widths:
            raise ConfigError("a pair tower needs at least one hidden layer")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {dropout}")
        first = init_linear_(nn.Linear(user_dim + item_dim, widths[0]), init)
        self.user_proj = nn.Linear(user_dim, widths[0], bias=True)
        self.item_proj = nn.Linear(item_dim, widths[0], bias=False)
        with torch.no_grad():
            self.user_proj.weight.copy_(first.weight[:, :user_dim])
            self.item_proj.weight.copy_(first.weight[:, user_dim:])
            self.user_proj.bias.copy_(first.bias)
        self.first_activation = make_activation(activation)
        self.first_dropout: nn.Module = FastDropout(dropout) if dropout > 0 else nn.Identity()
        self.rest = FeedForward(
            widths[0], widths[1:], dropout=dropout, activation=activation, init=init
        )
        self.user_dim = int(user_dim)
        self.item_dim = int(item_dim)
        self.widths = widths
        self.out_dim = widths[-1]

    def first_layer(self) -> tuple[Tensor, Tensor]:
        """The first layer as one ``(weight (h, user_dim + item_dim), bias (h,))`` pair."""
        weight = torch.cat([self.user_proj.weight, self.item_proj.weight], dim=1)
        return weight, self.user_proj.bias

    def set_first_layer(self, weight: Tensor, bias: Tensor) -> None:
        """Copy a concatenated first layer ``(h, user_dim + item_dim)`` into the split form."""
        with torch.no_grad():
            self.user_proj.weight.copy_(weight[:, : self.user_dim])
            self.item_proj.weight.copy_(weight[:, self.user_dim :])
            self.user_proj.bias.copy_(bias)

    def forward(self, x_user: Tensor, x_item: Tensor) -> Tensor:
        """Tower output for ``x_user (..., user_dim)`` and ``x_item (..., item_dim)``.

        Leading dimensions broadcast; the result has shape ``(*broadcast, out_dim)``.
        """
        h = self.first_activation(self.user_proj(x_user) + self.item_proj(x_item))
        out: Tensor = self.rest(self.first_dropout(h))
        return out


def sparse_parameters(module: nn.Module) -> dict[str, nn.Parameter]:
    """The weights of ``module``'s ``sparse=True`` embeddings (their gradients are sparse), by
    qualified name, each once."""
    ids = {id(m.weight) for m in module.modules() if isinstance(m, nn.Embedding) and m.sparse}
    return {name: p for name, p in module.named_parameters() if id(p) in ids}


def split_sparse_parameters(
    module: nn.Module,
) -> tuple[list[Tensor], list[Tensor]]:
    """Parameters of ``sparse=True`` embeddings, and all the others.

    Lets a trainer pair ``torch.optim.SparseAdam`` (sparse gradients) with a dense optimiser.

    Returns
    -------
    sparse, dense : list of Tensor
    """
    sparse: list[Tensor] = list(sparse_parameters(module).values())
    ids = {id(p) for p in sparse}
    dense: list[Tensor] = [p for p in module.parameters() if id(p) not in ids]
    return sparse, dense


def count_parameters(module: nn.Module, *, trainable_only: bool = True) -> int:
    """Number of scalar parameters in ``module``."""
    params: Iterable[nn.Parameter] = module.parameters()
    return sum(p.numel() for p in params if p.requires_grad or not trainable_only)


def embedding_lookup(table: nn.Embedding, index: Tensor) -> Tensor:
    """Rows of ``table`` at ``index`` (any shape). Dense tables use ``index_select``, whose
    backward is a plain ``index_add`` (measured ~20% faster on CPU than the sort-based
    embedding backward); sparse tables keep ``nn.Embedding`` for their sparse gradients."""
    if table.sparse:
        out: Tensor = table(index)
        return out
    return table.weight.index_select(0, index.reshape(-1)).view(*index.shape, table.embedding_dim)
