"""``ModelSpec``: which registered model a run trains, with the hyper-parameters runs share.

The fields are the ``ncf train`` model options (``--model``, ``--dim``, ``--layers``, ...). The
builder table (:mod:`ncf.app.model_builders`) says, for each model name, which of them the model
reads and how they map onto its typed constructor, so the models know nothing of the options and
an option that a model would ignore is an error instead.

This module loads without torch (the command line lists and checks ``--model`` from it); the
table, which imports the model classes, is imported on first use.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ncf.config import check_choice, check_finite, check_whole, option
from ncf.errors import ConfigError

if TYPE_CHECKING:
    from ncf.app.model_builders import ModelBuilder
    from ncf.data.features import FeatureTable
    from ncf.models.base import Model


#: Registry names a :class:`ModelSpec` can build (every model but composites like ``blend``),
#: written out so the command line can list and check ``--model`` without importing the models
#: (and torch); a test holds it equal to the names of the builder table
#: (:data:`ncf.app.model_builders.MODEL_BUILDERS`).
BUILDABLE_MODELS: tuple[str, ...] = (
    "fpmc", "gmf", "graph-filter", "mf", "mlp", "neumf", "popularity", "spectral", "two-tower",
)

#: MF's factor starts and the graph filters, written out for the same reason; tests hold them
#: equal to :data:`ncf.models.mf.INITS` and :data:`ncf.models.graph_filter.FILTERS`.
MF_INITS: tuple[str, ...] = ("normal", "projection")
GRAPH_FILTERS: tuple[str, ...] = ("chebyshev", "linear")


def buildable_models() -> tuple[str, ...]:
    """Registry names a :class:`ModelSpec` can build (every model but composites like ``blend``)."""
    return BUILDABLE_MODELS


@dataclass(frozen=True)
class ModelSpec:
    """The model of a run: a registry name and the shared hyper-parameters.

    ``spectral_weight > 0`` blends the trained (factorized) model with a :class:`SpectralMF`
    of rank ``spectral_rank`` fitted on the same training data, saved as one :class:`Blend`.
    ``filter_weight > 0`` blends it (after any spectral blend) with a :class:`GraphFilter` fitted on the
    same data, saved as one :class:`RowBlend`, the filter's share ``filter_weight`` of the normalised
    scores. ``pretrain`` trains NeuMF's GMF and MLP parts first (He et al. 2017).
    """

    name: str = option("mf", "Model to train.", name="model", choices=buildable_models)
    dim: int = option(64, "Embedding size (GMF/NeuMF: predictive factors).")
    layers: tuple[int, ...] = option((64, 32, 16), "MLP / tower widths, e.g. 64,32,16.")
    dropout: float = option(0.0, "Dropout after each hidden layer (MLP, NeuMF, two-tower).")
    temperature: float | None = option(
        None, "Softmax temperature: the two-tower model's own; for other models it divides the softmax logits.")
    cosine: bool = option(False, "MF: L2-normalised vectors (cosine score, no biases).")
    init: str = option("normal", "MF: factor start, normal (N(0, std^2) noise) or projection (rows projected from "
                                 "the training graph before the first step).", choices=MF_INITS)
    features: bool = option(False, "Two-tower: use the dataset's side features.")
    spectral_rank: int | None = option(
        None, "Spectral model (or blend): singular components (default: chosen on a validation carve among "
              "powers of two from 16 to 1024).")
    spectral_weight: float | None = option(
        0.0, "Blend the trained model with w x a spectral model fitted on train (0 = off; auto = the share "
             "chosen on the validation carve, scores of both parts normalised).")
    filter_weight: float | None = option(
        0.0, "Blend the trained model with a graph filter fitted on train: the filter's share in [0, 1] of "
             "the two parts' normalised scores (0 = off; auto = chosen on the validation carve). The filter "
             "takes the graph-filter options, ChebyCF's published shape for those not set.")
    filter: str = option("chebyshev", "Graph filter: chebyshev (ChebyCF's plateau low-pass) or linear (GF-CF's).",
                         choices=GRAPH_FILTERS)
    filter_order: int = option(8, "Graph filter: order of the Chebyshev polynomial (sparse products per score).")
    filter_flatness: float | None = option(
        None, "Graph filter: plateau flatness of the Chebyshev response (default: chosen on a validation carve).")
    degree_power: float | None = option(
        None, "Graph filter: item-degree exponent of the pre/post normalisation (default: chosen on the carve).")
    degree_offset: float = option(
        3.0, "Graph filter: added to user and item degrees in its normalisation (0 = ChebyCF's, no offset).")
    ideal_rank: int | None = option(
        None, "Graph filter: singular vectors of its ideal low-pass part (default: chosen on the carve).")
    ideal_weight: float | None = option(
        None, "Graph filter: weight of the ideal low-pass part, 0 = off (default: chosen on the carve).")
    pretrain: bool = option(False, "NeuMF: pre-train GMF and MLP first.")
    pretrain_epochs: int | None = option(None, "NeuMF pre-training epochs (default: the run's epochs).")

    def __post_init__(self) -> None:
        check_choice(self.name, buildable_models(), "model")
        object.__setattr__(self, "layers", _layers(self.layers))
        check_finite({"dropout": self.dropout, "temperature": self.temperature, "spectral_weight": self.spectral_weight,
                      "filter_weight": self.filter_weight,
                      "filter_flatness": self.filter_flatness, "degree_power": self.degree_power,
                      "degree_offset": self.degree_offset,
                      "ideal_weight": self.ideal_weight})
        check_choice(self.filter, GRAPH_FILTERS, "filter")
        check_choice(self.init, MF_INITS, "init")
        for key in ("dim", "spectral_rank", "pretrain_epochs", "filter_order", "ideal_rank"):
            value = getattr(self, key)
            if value is None and key in ("pretrain_epochs", "spectral_rank", "ideal_rank"):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{key} must be a positive whole number, got {value!r}")
            check_whole(key, value, lo=1)
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.temperature is not None and self.temperature <= 0:
            raise ConfigError(f"temperature must be positive, got {self.temperature!r}")
        if self.spectral_weight is not None and self.spectral_weight < 0:
            raise ConfigError(f"spectral_weight must be >= 0, got {self.spectral_weight!r}")
        if self.filter_weight is not None and not 0.0 <= self.filter_weight <= 1.0:
            raise ConfigError(f"filter_weight is the graph filter's share, in [0, 1]; got {self.filter_weight!r}")
        for key in ("degree_power", "ideal_weight", "degree_offset"):
            if getattr(self, key) is not None and getattr(self, key) < 0:
                raise ConfigError(f"{key} must be >= 0, got {getattr(self, key)!r}")
        if self.filter_flatness is not None and self.filter_flatness <= 0:
            raise ConfigError(f"filter_flatness must be > 0, got {self.filter_flatness!r}")

    @property
    def builder(self) -> ModelBuilder:
        """This model's entry in the builder table: its class, the fields it reads, its builder."""
        from ncf.app.model_builders import model_builder

        return model_builder(self.name)

    @property
    def model_class(self) -> type[Model]:
        return self.builder.model_class

    @property
    def used_options(self) -> frozenset[str]:
        """The fields this model reads (besides ``name``); setting another one is an error."""
        return self.builder.options

    @property
    def blends_spectral(self) -> bool:
        """Whether the trained model is blended with a spectral model after training (a weight
        given, or ``auto``: the share is chosen on the carve and may come out 0)."""
        return self.spectral_weight is None or self.spectral_weight > 0

    @property
    def blends_filter(self) -> bool:
        """Whether the trained model is blended with a graph filter (a share given, or ``auto``)."""
        return self.filter_weight is None or self.filter_weight > 0

    @property
    def chooses_filter_weight(self) -> bool:
        return self.filter_weight is None

    @property
    def chooses_filter_shape(self) -> bool:
        """Whether a graph filter run picks its flatness, degree power or ideal part on the carve."""
        return self.name == "graph-filter" and None in (self.filter_flatness, self.degree_power, self.ideal_rank,
                                                        self.ideal_weight)

    @property
    def chooses_spectral_weight(self) -> bool:
        return self.spectral_weight is None

    @property
    def chooses_spectral_rank(self) -> bool:
        """Whether the run picks the spectral rank on a validation carve (no rank given)."""
        return self.spectral_rank is None and (self.name == "spectral" or self.blends_spectral)

    def owns_temperature(self) -> bool:
        """Whether the model applies the temperature itself (else the trainer scales the logits)."""
        return "temperature" in self.used_options

    def check_applies(self, explicit: set[str] | frozenset[str]) -> None:
        """ConfigError when an explicitly set field is one this model would ignore.

        ``explicit`` holds the field names the user set (by flag or config file).
        """
        from ncf.app.model_builders import FILTER_OPTIONS
        from ncf.models.base import ClosedForm, Factorized, SequenceAware

        cls = self.model_class
        options = self.used_options
        usable = set(options) | {"name"}
        trained_factorized = issubclass(cls, Factorized) and not issubclass(cls, (ClosedForm, SequenceAware))
        if trained_factorized:
            usable |= {"spectral_weight", "spectral_rank"} if self.blends_spectral else {"spectral_weight"}
            usable |= {"filter_weight", *FILTER_OPTIONS} if self.blends_filter else {"filter_weight"}
        if not issubclass(cls, ClosedForm):
            usable.add("temperature")  # scales the softmax logits of any trained model
        for key in sorted(explicit):
            if key not in usable:
                opt = key.replace("_", "-")
                if key in ("spectral_weight", "filter_weight"):
                    raise ConfigError(f"--{opt} needs a trained factorized model without sequence context, "
                                      f"not {self.name!r}")
                raise ConfigError(f"--{opt} does not apply to model {self.name!r} (it uses: "
                                  + ", ".join(sorted(f"--{k.replace('_', '-')}" for k in options)) + ")"
                                  if options else f"--{opt} does not apply to model {self.name!r}")

    def build(
        self,
        num_users: int,
        num_items: int,
        *,
        seed: int = 0,
        sparse: bool = False,
        user_features: FeatureTable | None = None,
        item_features: FeatureTable | None = None,
    ) -> Model:
        """The untrained model, through this model's builder (:mod:`ncf.app.model_builders`)."""
        from ncf.app.model_builders import BuildContext

        context = BuildContext(num_users, num_items, seed=seed, sparse=sparse, user_features=user_features,
                               item_features=item_features)
        return self.builder.build(self, context)

    def with_name(self, name: str) -> ModelSpec:
        return dataclasses.replace(self, name=name)


def _layers(value: Any) -> tuple[int, ...]:
    if isinstance(value, str):
        parts = [p for p in value.replace(" ", "").split(",") if p]
        try:
            value = [int(p) for p in parts]
        except ValueError:
            raise ConfigError(f"layers must be comma-separated positive integers, got {value!r}") from None
    try:
        widths = tuple(value)
    except TypeError:
        raise ConfigError(f"layers must be a list of positive integers, got {value!r}") from None
    for w in widths:
        if isinstance(w, bool) or not isinstance(w, int) or w <= 0:
            raise ConfigError(f"layers must be positive integers, got {value!r}")
        check_whole("a layer width", w, lo=1)
    if not widths:
        raise ConfigError("layers must name at least one width")
    return tuple(int(w) for w in widths)
