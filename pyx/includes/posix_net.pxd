# Declarations of the POSIX calls ringcap makes on its packet sockets:
# <sys/socket.h>, <poll.h>, <sys/mman.h>, <arpa/inet.h>, <unistd.h>.
from libc.stdint cimport uint16_t, uint32_t


cdef extern from "<sys/uio.h>" nogil:
    struct iovec:
        void *iov_base
        size_t iov_len


cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned int socklen_t
    struct sockaddr:
        pass
    int AF_PACKET
    int AF_INET
    int SOCK_RAW
    int SOCK_DGRAM
    int SOCK_CLOEXEC
    int SOL_PACKET
    int SOL_SOCKET
    int SO_ATTACH_FILTER
    int SO_DETACH_FILTER
    int SO_ERROR
    int SO_RCVBUF
    int SO_SNDBUF
    int SO_SNDBUFFORCE
    int MSG_DONTWAIT
    int socket(int domain, int type, int protocol)
    int bind(int fd, const sockaddr *addr, socklen_t addrlen)
    int setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen)
    int getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen)
    ssize_t sendto(int fd, const void *buf, size_t n, int flags,
                   const sockaddr *addr, socklen_t addrlen)
    struct msghdr:
        void *msg_name
        socklen_t msg_namelen
        iovec *msg_iov
        size_t msg_iovlen
        void *msg_control
        size_t msg_controllen
        int msg_flags
    struct mmsghdr:                  # _GNU_SOURCE (Python.h defines it)
        msghdr msg_hdr
        unsigned int msg_len
    int sendmmsg(int fd, mmsghdr *vmessages, unsigned int vlen, int flags)


cdef extern from "<poll.h>" nogil:
    struct pollfd:
        int fd
        short events
        short revents
    ctypedef unsigned long nfds_t
    short POLLIN
    short POLLOUT
    short POLLERR
    short POLLHUP
    short POLLNVAL
    int poll(pollfd *fds, nfds_t nfds, int timeout)


cdef extern from "<sys/mman.h>" nogil:
    int PROT_READ
    int PROT_WRITE
    int MAP_SHARED
    int MAP_LOCKED
    int MAP_POPULATE
    void *MAP_FAILED        # Cython's posix.mman does not declare it
    void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset)
    int munmap(void *addr, size_t length)


cdef extern from "<arpa/inet.h>" nogil:
    uint16_t htons(uint16_t)
    uint16_t ntohs(uint16_t)
    uint32_t htonl(uint32_t)


cdef extern from "<unistd.h>" nogil:
    int close(int fd)
    long sysconf(int name)
    int _SC_PAGESIZE
