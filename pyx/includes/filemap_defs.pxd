# Declarations of pyx/filemap.h, the SIGBUS guard of the capture-file maps,
# and the <sys/mman.h> name Cython's posix.mman lacks.
from libc.stdint cimport uint64_t, uintptr_t


cdef extern from "<sys/mman.h>" nogil:
    void *MAP_FAILED        # Cython's posix.mman does not declare it


cdef extern from "filemap.h" nogil:
    int RC_MAP_SLOTS
    int rc_install_guard()                  # 0, or -1 with errno set
    int rc_guard_installed()                # 1, 0, or -1 with errno set
    int rc_register_map(uintptr_t start, uintptr_t end)   # slot, or -1 when all are taken
    void rc_unregister_map(int slot)
    uint64_t rc_map_faults(int slot)
    uint64_t rc_map_first_fault(int slot)
    int rc_live_maps()
