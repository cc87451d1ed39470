# Declarations for hardware and software receive timestamps:
# <linux/net_tstamp.h>, <linux/ethtool.h>, <linux/sockios.h>, <sys/ioctl.h>
# and struct ifreq from <net/if.h>.  Structs declare only the fields used.
from libc.stdint cimport uint32_t, int32_t


cdef extern from "<linux/net_tstamp.h>" nogil:
    int SOF_TIMESTAMPING_RX_HARDWARE
    int SOF_TIMESTAMPING_RX_SOFTWARE
    int SOF_TIMESTAMPING_SOFTWARE
    int SOF_TIMESTAMPING_RAW_HARDWARE
    int HWTSTAMP_TX_OFF
    int HWTSTAMP_FILTER_ALL

    struct hwtstamp_config:
        int flags
        int tx_type
        int rx_filter


cdef extern from "<linux/ethtool.h>" nogil:
    uint32_t ETHTOOL_GET_TS_INFO

    struct ethtool_ts_info:
        uint32_t cmd
        uint32_t so_timestamping
        int32_t phc_index
        uint32_t tx_types
        uint32_t rx_filters


cdef extern from "<linux/sockios.h>" nogil:
    unsigned long SIOCETHTOOL
    unsigned long SIOCSHWTSTAMP
    unsigned long SIOCGIFHWADDR


cdef extern from "<sys/socket.h>" nogil:
    int SO_TIMESTAMPING


cdef extern from "<linux/if_packet.h>" nogil:
    int PACKET_TIMESTAMP


cdef extern from "<net/if.h>" nogil:
    struct ifr_hwaddr_t "struct sockaddr":
        unsigned short sa_family
    struct ifreq:
        char ifr_name[16]
        char *ifr_data          # a macro for ifr_ifru.ifru_data
        ifr_hwaddr_t ifr_hwaddr  # a macro for ifr_ifru.ifru_hwaddr: sa_family is the ARPHRD_*


cdef extern from "<sys/ioctl.h>" nogil:
    int ioctl(int fd, unsigned long request, ...)
