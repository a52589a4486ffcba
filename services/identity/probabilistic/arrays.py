"""Type aliases of the numpy arrays that the linker's modules pass around."""

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
LevelArray = npt.NDArray[np.int8]
