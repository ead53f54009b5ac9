"""Type aliases shared across ncf."""

from __future__ import annotations

import os
from typing import Union

import numpy as np
import numpy.typing as npt

PathLike = Union[str, "os.PathLike[str]"]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]
