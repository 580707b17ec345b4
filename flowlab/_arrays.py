"""The NumPy array types the vectorised decoders annotate with, named once.

>>> import numpy as np
>>> from flowlab._arrays import I64
>>> x: I64 = np.zeros(3, dtype=np.int64)
>>> x.dtype
dtype('int64')
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["I64", "U8", "U32", "B"]

#: booleans (masks)
B = npt.NDArray[np.bool_]
#: int64: offsets, lengths, times, counts
I64 = npt.NDArray[np.int64]
#: uint8: datagram and capture bytes
U8 = npt.NDArray[np.uint8]
#: uint32: big-endian words read from a datagram
U32 = npt.NDArray[np.uint32]
