"""Type stubs for ringcap._bpf (compiled from pyx/_bpf.pyx)."""
import numpy as np
import numpy.typing as npt

def check_program(program: npt.NDArray[np.uint8]) -> int: ...
def run_filter(program: npt.NDArray[np.uint8], data: npt.NDArray[np.uint8],
               offset: npt.NDArray[np.int64], caplen: npt.NDArray[np.uint32],
               wirelen: npt.NDArray[np.uint32], out: npt.NDArray[np.uint8]) -> int: ...
def _test_run_one(program: npt.NDArray[np.uint8], packet: npt.NDArray[np.uint8],
                  wirelen: int) -> int: ...
