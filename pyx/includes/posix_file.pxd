# Declarations of the file calls the capture-file writer makes: <fcntl.h>.
from posix.types cimport off_t


cdef extern from "<fcntl.h>" nogil:
    # fallocate(2) and its flag come from <linux/falloc.h> through <fcntl.h>
    # with _GNU_SOURCE, which Python.h defines.
    int FALLOC_FL_KEEP_SIZE
    int FALLOC_FL_PUNCH_HOLE
    int fallocate(int fd, int mode, off_t offset, off_t length)


cdef extern from "<unistd.h>" nogil:
    ssize_t write(int fd, const void *buf, size_t count)


cdef extern from "<sys/uio.h>" nogil:
    struct iovec:
        void *iov_base
        size_t iov_len
    ssize_t writev(int fd, const iovec *iov, int iovcnt)
