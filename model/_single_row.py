"""One row through a LightGBM booster without the Python wrapper's per-call set-up.

`Booster.predict` builds a predictor, its parameter string, and checks and converts its input on every call:
for one lead that costs about as much as the trees. LightGBM's C API has a path for exactly this case,
`LGBM_BoosterPredictForMatSingleRowFastInit` (done once, when the model loads) and
`LGBM_BoosterPredictForMatSingleRowFast` (one call per row). LightGBM guards each such handle with its own
lock, so it is safe to share between threads.

This reaches into `lightgbm.basic` for the loaded library and the booster's handle, which are not public:
`single_row` returns None when they are not there (another LightGBM version), and `LeadModel.predict` then uses
`Booster.predict`. The tests check it against `Booster.predict` on edge-case rows.
"""

from __future__ import annotations

import ctypes
import logging
import weakref
from typing import Any, Final, Literal

import numpy as np

log = logging.getLogger(__name__)

Kind = Literal["normal", "contrib"]
_PREDICT_TYPE: Final = {"normal": 0, "contrib": 3}  # C_API_PREDICT_NORMAL, C_API_PREDICT_CONTRIB
_FLOAT64: Final = 1  # C_API_DTYPE_FLOAT64


class SingleRow:
    """`booster.predict(row[None, :], num_threads=1)` (or `pred_contrib=True`) for one float64 row."""

    def __init__(self, lib: Any, booster: Any, kind: Kind) -> None:
        self._lib = lib
        self._booster = booster  # the handle below points into it: keep it alive as long as this
        self.width = int(booster.num_feature())
        handle = ctypes.c_void_p()
        # As `Booster.predict` with num_iteration=None: the best iteration when early stopping recorded one.
        iterations = int(booster.best_iteration or 0)
        status = lib.LGBM_BoosterPredictForMatSingleRowFastInit(
            booster._handle,
            ctypes.c_int(_PREDICT_TYPE[kind]),
            ctypes.c_int(0),
            ctypes.c_int(iterations if iterations > 0 else -1),
            ctypes.c_int(_FLOAT64),
            ctypes.c_int32(self.width),
            ctypes.c_char_p(b"num_threads=1"),
            ctypes.byref(handle),
        )
        if status != 0:
            raise RuntimeError(lib.LGBM_GetLastError().decode("utf-8", "replace"))
        self._handle = handle
        weakref.finalize(self, lib.LGBM_FastConfigFree, handle)
        self.outputs = self.width + 1 if kind == "contrib" else 1  # contributions end with the expected value

    def __call__(self, row: np.ndarray) -> np.ndarray:
        """The booster's output for one row (float64, C-contiguous, `width` values), as a 1 x outputs array."""
        if row.shape != (self.width,) or row.dtype != np.float64 or not row.flags.c_contiguous:
            raise ValueError(f"expected {self.width} contiguous float64 values, got {row.dtype} {row.shape}")
        out = np.empty((1, self.outputs), dtype=np.float64)
        length = ctypes.c_int64(0)
        status = self._lib.LGBM_BoosterPredictForMatSingleRowFast(
            self._handle, ctypes.c_void_p(row.ctypes.data), ctypes.byref(length), ctypes.c_void_p(out.ctypes.data)
        )
        if status != 0:
            raise RuntimeError(self._lib.LGBM_GetLastError().decode("utf-8", "replace"))
        if length.value != self.outputs:
            raise RuntimeError(f"LightGBM returned {length.value} values for one row, expected {self.outputs}")
        return out


def single_row(booster: Any, kind: Kind) -> SingleRow | None:
    """The fast single-row predictor for `booster`, or None when this LightGBM does not offer one."""
    try:
        from lightgbm.basic import _LIB  # private: the dependency stays in this one place

        return SingleRow(_LIB, booster, kind)
    except (ImportError, AttributeError, RuntimeError, TypeError) as exc:
        log.info("LightGBM single-row prediction unavailable (%s: %s); using Booster.predict", type(exc).__name__, exc)
        return None
