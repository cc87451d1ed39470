"""Read-only maps of capture files that a shrinking file cannot crash.

:class:`FileMap` maps part of a file (``MAP_SHARED``, ``PROT_READ``) and
exports it as a read-only buffer, so numpy arrays can view the file's bytes
without a copy; the map lives as long as anything views it.  Each map is
registered with the SIGBUS guard of ``filemap.h``: where another process
truncated the file, a touched page reads as zeros instead of killing the
process, and ``faults``/``first_fault`` say that it happened and where.
Every other SIGBUS still reaches the handler installed before the guard
(faulthandler) and then the default action.
"""
from cpython.buffer cimport PyBUF_WRITABLE, PyBuffer_FillInfo
from libc.errno cimport errno
from libc.stdint cimport int64_t, uint8_t, uintptr_t
from libc.string cimport strerror
from posix.unistd cimport _SC_PAGESIZE, sysconf
from posix.mman cimport (MADV_DONTNEED, MADV_HUGEPAGE, MADV_SEQUENTIAL, madvise, mmap, munmap,
                         MAP_SHARED, PROT_READ)

from includes.filemap_defs cimport *


def install_guard():
    """Make the guard SIGBUS's handler again if another (faulthandler) replaced
    it; the replaced handler gets every fault outside ringcap's maps."""
    if rc_install_guard() < 0:
        raise OSError(errno, f"sigaction(SIGBUS): {strerror(errno).decode()}")


def guard_installed():
    """True if the guard is SIGBUS's handler now."""
    return rc_guard_installed() == 1


def live_maps():
    """The number of file maps alive in this process (for leak tests)."""
    return rc_live_maps()


cdef class FileMap:
    """Bytes ``offset:offset+size`` of the open file ``fd``, mapped read-only.

    ``offset`` must be a multiple of the page size.  The map is unmapped when
    the object, and every buffer exported from it, is gone.  Raises OSError
    if the map cannot be made (out of address space, or all the guard's
    registry slots are taken).
    """
    cdef uint8_t *addr
    cdef size_t length
    cdef int slot
    cdef readonly int64_t offset
    cdef readonly Py_ssize_t size

    def __cinit__(self, int fd, int64_t offset, Py_ssize_t size):
        self.slot = -1
        self.addr = NULL
        if size <= 0 or offset < 0:
            raise ValueError(f"cannot map {size} bytes at offset {offset}")
        if rc_install_guard() < 0:
            raise OSError(errno, f"sigaction(SIGBUS): {strerror(errno).decode()}")
        cdef void *addr = mmap(NULL, <size_t>size, PROT_READ, MAP_SHARED, fd, offset)
        if addr == MAP_FAILED:
            err = errno
            raise OSError(err, f"mmap of {size} bytes of a capture file at offset {offset}: "
                               f"{strerror(err).decode()}")
        self.slot = rc_register_map(<uintptr_t>addr, <uintptr_t>addr + <size_t>size)
        if self.slot < 0:
            munmap(addr, <size_t>size)
            raise OSError(0, f"more than {RC_MAP_SLOTS} capture-file maps alive at once")
        madvise(addr, <size_t>size, MADV_SEQUENTIAL)
        # Pages of the file the page cache evicted are read back by the faults
        # of the walk: without this, in 4 KiB folios, which every later run pays
        # to map a page table entry a page (the cache read them in large folios
        # first, and read() brings them back so); with it, in folios of up to
        # 2 MiB, mapped a folio or a PMD entry at a time.  1.37 GB recorded file,
        # 512 MiB of it evicted: the later `ringcap fields` runs 199 -> 122 ms
        # of CPU (docs/decode.md).  Only a hint: THP "never" or none compiled
        # in leaves the reading as it was.
        madvise(addr, <size_t>size, MADV_HUGEPAGE)
        self.addr = <uint8_t *>addr
        self.length = <size_t>size
        self.offset = offset
        self.size = size

    def __dealloc__(self):
        if self.addr != NULL:
            rc_unregister_map(self.slot)     # before the range can be reused
            munmap(self.addr, self.length)
            self.addr = NULL

    def __getbuffer__(self, Py_buffer *buffer, int flags):
        if flags & PyBUF_WRITABLE:
            raise BufferError("a capture-file map is read-only")
        PyBuffer_FillInfo(buffer, self, self.addr, self.size, 1, flags)

    def __releasebuffer__(self, Py_buffer *buffer):
        pass

    def drop(self, Py_ssize_t start, Py_ssize_t end):
        """Unmap the whole pages of bytes ``start:end`` of the map (the file
        keeps them in the page cache): a walk drops what lies behind it, so a
        map of a whole file holds no more pages than a window would.  A
        dropped page that is read again is mapped again, as at first."""
        cdef size_t page = <size_t>sysconf(_SC_PAGESIZE)
        cdef size_t first, last
        if self.addr == NULL:
            return
        start = max(0, min(start, self.size))
        end = max(start, min(end, self.size))
        first = (<size_t>start + page - 1) // page * page
        last = <size_t>end if end == self.size else <size_t>end // page * page
        if last > first and madvise(self.addr + first, last - first, MADV_DONTNEED) != 0:
            err = errno
            raise OSError(err, f"madvise(MADV_DONTNEED) of {last - first} bytes of a "
                               f"capture-file map: {strerror(err).decode()}")

    @property
    def faults(self):
        """Pages of this map that read as zeros because the file shrank under them."""
        return rc_map_faults(self.slot)

    @property
    def first_fault(self):
        """File offset of the first page that read as zeros, or None."""
        if rc_map_faults(self.slot) == 0:
            return None
        return self.offset + <int64_t>rc_map_first_fault(self.slot)
