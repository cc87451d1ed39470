# Declarations for the packet-line formatter (pyx/_text.pyx): the options a
# printer is made with and the state it carries from one batch to the next.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, int64_t, uint64_t


cdef enum TimestampMode:
    TS_NONE = 0          # -t
    TS_TIME = 1          # default: HH:MM:SS.frac, local time
    TS_EPOCH = 2         # -tt: seconds.frac since the epoch
    TS_DELTA = 3         # -ttt: since the previous packet
    TS_DATE = 4          # -tttt: YYYY-MM-DD HH:MM:SS.frac, local time
    TS_SINCE_FIRST = 5   # -ttttt: since the first packet


cdef enum PayloadMode:
    PAYLOAD_NONE = 0
    PAYLOAD_HEX = 1      # -x
    PAYLOAD_HEXASCII = 2 # -X
    PAYLOAD_ASCII = 3    # -A


cdef struct SeqEntry:
    # One TCP conversation's initial sequence numbers (tcpdump's tcp_seq_hash).
    uint8_t key[40]      # src[16] dst[16] ports[4] ip version[1] padding[3]
    uint32_t seq
    uint32_t ack
    uint8_t used


cdef struct SeqTable:
    SeqEntry *entries
    Py_ssize_t capacity  # a power of two
    Py_ssize_t count
    uint64_t moved       # times the entries moved or were cleared: a SeqEntry
                         # pointer kept elsewhere holds while this stays the same


cdef enum:
    PAIR_SLOT_BITS = 5   # 32 "a.p > b.q: " texts of TCP/UDP lines kept (direct-mapped)
    PAIR_SLOTS = 1 << PAIR_SLOT_BITS
    PAIR_TEXT = 96       # bytes copied: the longest text is 95 (two IPv6
                         # addresses of 39 characters, two 5-digit ports, " > ", ": ")
    PAIR_MISSES = 32     # this many lines in a row not in the table (a new conversation
    PAIR_REST = 1024     # a packet, as in a scan) and the next this many lines go without it


cdef enum:
    KEPT_TEXT = 56       # ", options [nop,nop,TS val 4294967295 ecr 4294967295]" is 52


cdef struct KeptText:
    # a part of a TCP line kept for the next segment of its direction, which
    # mostly has the same number(s) there (", ack N", ", win N", the time stamps)
    uint64_t key         # the number(s) printed
    uint32_t valid
    uint32_t length
    uint8_t text[KEPT_TEXT]


cdef struct PairText:
    # the text between "IP " and the transport's part of a TCP/UDP line
    uint64_t key[5]      # src[16] dst[16] (IPv4: the first 4 bytes of each), the
                         # ports as on the wire and the address length (0: unused)
    SeqEntry *seq        # TCP: the conversation's initial numbers (NULL: not looked up)
    uint64_t seq_moved   # SeqTable.moved when seq was looked up
    int seq_reversed     # the key's direction is the conversation entry's reversed
    KeptText ack         # TCP: the last segment's ", ack N", ", win N" and Linux's
    KeptText win         # ", options [nop,nop,TS val N ecr N]"
    KeptText stamps
    KeptText lengths     # TCP's ", length N" (key 2N) or UDP's "UDP, length N" (2N + 1)
    uint32_t length
    uint8_t text[PAIR_TEXT + 16]   # (+ the room put_octet's 4-byte writes may pass the text by)


cdef struct PrintState:
    int link_header      # -e
    int quiet            # -q
    int verbose          # -v count
    int payload          # PayloadMode
    int payload_link     # -xx/-XX/-AA: dump from the first byte of the frame
    int ts_mode          # TimestampMode
    int nano             # nanosecond fractions
    int absolute_seq     # -S
    int no_checksums     # -K: IP, TCP and UDP checksums not checked (ICMP's still are)
    int number           # -# / --number: each line starts with the packet's number
    int tunnel_depth     # printing the packet inside a tunnel (one level is printed)
    uint64_t numbered    # packets numbered so far
    int have_previous    # a packet was printed (for TS_DELTA / TS_SINCE_FIRST)
    int64_t previous_ts
    int64_t first_ts
    int hms_valid        # hms_text holds "HH:MM:SS" of the second that starts at
    int64_t hms_start    # hms_start ns (UTC) and is hms_gmtoff s off UTC
    int64_t hms_gmtoff
    uint8_t hms_text[8]
    SeqTable seqs
    PairText pairs[PAIR_SLOTS]
    uint32_t last_pair   # the slot of the last TCP/UDP line's text
    uint32_t pair_misses # lines in a row whose text was not in the table
    uint32_t pair_rest   # lines left to print without the table
