# A classic-BPF interpreter over whole batches.
#
# run_filter runs one program over every packet of a batch without the GIL
# and writes one byte per packet: 1 when the program returned non-zero
# (accept), 0 otherwise.  Semantics are libpcap's bpf_filter() and the
# kernel's: loads use network byte order, a load past caplen rejects the
# packet, BPF_LEN is the length on the wire, division or modulo by zero
# rejects, shifts by 32 or more give 0.  check_program refuses what the
# kernel's checker refuses, so the interpreter never meets an unknown opcode,
# a jump out of the program, a scratch slot out of range or one never written.
# One difference from the kernel, taken from libpcap's bpf_validate: `ja`
# may jump backwards (its k is a signed offset from the next instruction),
# because libpcap compiles `protochain` into a loop over the header chain.
# A packet may take at most caplen + 16 backward jumps (protochain takes
# one per header of 8 bytes or more); past that it is rejected, so a program
# that loops forever cannot hang the interpreter as it would hang libpcap.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, int32_t, int64_t
from cpython.mem cimport PyMem_Malloc, PyMem_Free

from includes.bpf_defs cimport *

cdef extern from *:
    """
    #define RINGCAP_PREFETCH(p) __builtin_prefetch((const void *)(p))
    """
    void RINGCAP_PREFETCH(const uint8_t *p) nogil

cdef enum:
    PREFETCH_AHEAD = 8     # packets: hides the memory latency of packet headers in big batches


cdef enum:
    # whole opcodes, named so that bpf_run's chain of tests compiles to a switch
    OP_JEQ_K = BPF_JMP | BPF_JEQ | BPF_K
    OP_JEQ_X = BPF_JMP | BPF_JEQ | BPF_X
    OP_JGT_K = BPF_JMP | BPF_JGT | BPF_K
    OP_JGT_X = BPF_JMP | BPF_JGT | BPF_X
    OP_JGE_K = BPF_JMP | BPF_JGE | BPF_K
    OP_JGE_X = BPF_JMP | BPF_JGE | BPF_X
    OP_JSET_K = BPF_JMP | BPF_JSET | BPF_K
    OP_JSET_X = BPF_JMP | BPF_JSET | BPF_X
    OP_JA = BPF_JMP | BPF_JA
    OP_RET_K = BPF_RET | BPF_K
    OP_RET_A = BPF_RET | BPF_A
    OP_LD_W_ABS = BPF_LD | BPF_W | BPF_ABS
    OP_LD_H_ABS = BPF_LD | BPF_H | BPF_ABS
    OP_LD_B_ABS = BPF_LD | BPF_B | BPF_ABS
    OP_LD_W_IND = BPF_LD | BPF_W | BPF_IND
    OP_LD_H_IND = BPF_LD | BPF_H | BPF_IND
    OP_LD_B_IND = BPF_LD | BPF_B | BPF_IND
    OP_LD_W_LEN = BPF_LD | BPF_W | BPF_LEN
    OP_LDX_W_LEN = BPF_LDX | BPF_W | BPF_LEN
    OP_LD_IMM = BPF_LD | BPF_IMM
    OP_LDX_IMM = BPF_LDX | BPF_IMM
    OP_LD_MEM = BPF_LD | BPF_MEM
    OP_LDX_MEM = BPF_LDX | BPF_MEM
    OP_LDX_B_MSH = BPF_LDX | BPF_B | BPF_MSH
    OP_ST = BPF_ST
    OP_STX = BPF_STX
    OP_TAX = BPF_MISC | BPF_TAX
    OP_TXA = BPF_MISC | BPF_TXA


cdef inline uint32_t _ld32(const uint8_t *p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef inline uint32_t _ld16(const uint8_t *p) noexcept nogil:
    return (<uint32_t>p[0] << 8) | p[1]


def check_program(const uint8_t[::1] program):
    """Raise ValueError unless ``program`` (packed ``struct sock_filter[]``) is one
    the interpreter (and the kernel) accepts; returns the instruction count."""
    cdef Py_ssize_t n = program.shape[0] // sizeof(sock_filter), i
    cdef int64_t target
    cdef const sock_filter *f
    cdef uint16_t code, cls, op
    if program.shape[0] % sizeof(sock_filter):
        raise ValueError(f"a packed BPF program is a multiple of {sizeof(sock_filter)} bytes, "
                         f"got {program.shape[0]}")
    if not 1 <= n <= BPF_MAXINSNS:
        raise ValueError(f"a BPF program needs 1 to {BPF_MAXINSNS} instructions, got {n}")
    f = <const sock_filter *>&program[0]
    for i in range(n):
        code = f[i].code
        cls = code & 0x07
        if cls == BPF_LD or cls == BPF_LDX:
            if code not in (BPF_LD | BPF_W | BPF_ABS, BPF_LD | BPF_H | BPF_ABS,
                            BPF_LD | BPF_B | BPF_ABS, BPF_LD | BPF_W | BPF_IND,
                            BPF_LD | BPF_H | BPF_IND, BPF_LD | BPF_B | BPF_IND,
                            BPF_LD | BPF_IMM, BPF_LD | BPF_MEM, BPF_LD | BPF_W | BPF_LEN,
                            BPF_LDX | BPF_IMM, BPF_LDX | BPF_MEM, BPF_LDX | BPF_W | BPF_LEN,
                            BPF_LDX | BPF_B | BPF_MSH):
                raise ValueError(f"BPF instruction {i}: unknown load opcode {code:#06x}")
            if (code & 0xE0) == BPF_MEM and f[i].k >= BPF_MEMWORDS:
                raise ValueError(f"BPF instruction {i}: scratch slot {f[i].k} out of range "
                                 f"(0..{BPF_MEMWORDS - 1})")
        elif cls == BPF_ST or cls == BPF_STX:
            if code != cls:
                raise ValueError(f"BPF instruction {i}: unknown store opcode {code:#06x}")
            if f[i].k >= BPF_MEMWORDS:
                raise ValueError(f"BPF instruction {i}: scratch slot {f[i].k} out of range "
                                 f"(0..{BPF_MEMWORDS - 1})")
        elif cls == BPF_ALU:
            op = code & 0xF0
            if op > BPF_XOR or (code & ~(0xF0 | 0x08 | 0x07)):
                raise ValueError(f"BPF instruction {i}: unknown ALU opcode {code:#06x}")
            if (op == BPF_DIV or op == BPF_MOD) and (code & BPF_X) == 0 and f[i].k == 0:
                raise ValueError(f"BPF instruction {i}: division by the constant 0")
            if (op == BPF_LSH or op == BPF_RSH) and (code & BPF_X) == 0 and f[i].k >= 32:
                raise ValueError(f"BPF instruction {i}: shift by {f[i].k} (at most 31)")
        elif cls == BPF_JMP:
            op = code & 0xF0
            if op > BPF_JSET or (code & ~(0xF0 | 0x08 | 0x07)) or (op == BPF_JA and code & BPF_X):
                raise ValueError(f"BPF instruction {i}: unknown jump opcode {code:#06x}")
            if op == BPF_JA:
                # libpcap's bpf_validate: (i + 1 + k) mod 2**32 < n, i.e. k is a
                # signed offset from the next instruction and may point backwards
                target = i + 1 + <int32_t>f[i].k
                if target >= n:
                    raise ValueError(f"BPF instruction {i}: jump past the end of the program")
                if target < 0:
                    raise ValueError(f"BPF instruction {i}: jump before the start of the program")
            elif i + 1 + f[i].jt >= n or i + 1 + f[i].jf >= n:
                raise ValueError(f"BPF instruction {i}: jump past the end of the program")
        elif cls == BPF_RET:
            # ret #k and ret A only: the kernel refuses ret X and libpcap aborts on it
            if code != (BPF_RET | BPF_K) and code != (BPF_RET | BPF_A):
                raise ValueError(f"BPF instruction {i}: unknown return opcode {code:#06x} "
                                 f"(ret #k and ret a are the return instructions)")
        else:
            if code != (BPF_MISC | BPF_TAX) and code != (BPF_MISC | BPF_TXA):
                raise ValueError(f"BPF instruction {i}: unknown opcode {code:#06x}")
    if (f[n - 1].code & 0x07) != BPF_RET:
        raise ValueError("a BPF program must end with a return instruction")
    _check_scratch_reads(f, n)
    return n


cdef _check_scratch_reads(const sock_filter *f, Py_ssize_t n):
    # The kernel's check_load_and_stores: a scratch slot may be read only
    # where every path to the read has stored to it.  masks[i] holds what is
    # stored on every jump into i; a backward `ja` feeds an instruction already
    # passed, so passes repeat until no backward jump narrows a mask (masks
    # only lose bits, so this ends).
    cdef uint32_t *masks = <uint32_t *>PyMem_Malloc(n * sizeof(uint32_t))
    cdef uint32_t valid, narrowed
    cdef Py_ssize_t i, target
    cdef uint16_t code
    cdef bint again = True
    if masks == NULL:
        raise MemoryError()
    try:
        for i in range(n):
            masks[i] = 0xFFFFFFFF
        while again:
            again = False
            valid = 0
            for i in range(n):
                valid &= masks[i]
                code = f[i].code
                if code == BPF_ST or code == BPF_STX:
                    valid |= 1u << f[i].k
                elif code == (BPF_LD | BPF_MEM) or code == (BPF_LDX | BPF_MEM):
                    if not (valid & (1u << f[i].k)):
                        raise ValueError(f"BPF instruction {i} reads scratch slot {f[i].k} before "
                                         f"every path to it has stored there")
                elif code == (BPF_JMP | BPF_JA):
                    target = i + 1 + <int32_t>f[i].k
                    narrowed = masks[target] & valid
                    if target <= i and narrowed != masks[target]:
                        again = True
                    masks[target] = narrowed
                    valid = 0xFFFFFFFF
                elif (code & 0x07) == BPF_JMP:
                    masks[i + 1 + f[i].jt] &= valid
                    masks[i + 1 + f[i].jf] &= valid
                    valid = 0xFFFFFFFF
    finally:
        PyMem_Free(masks)


cdef uint32_t bpf_run(const sock_filter *f, const uint8_t *p, uint32_t buflen,
                      uint32_t wirelen) noexcept nogil:
    # IN f: a program check_program accepted; p/buflen: the captured bytes;
    # wirelen: the length on the wire.  Returns the program's return value.
    cdef uint32_t A = 0, X = 0, k
    cdef uint32_t mem[BPF_MEMWORDS]
    cdef Py_ssize_t pc = 0
    cdef int64_t backward_left = <int64_t>buflen + 16
    cdef uint16_t code
    # Every branch but the last tests `code` against one opcode, so Cython
    # makes the chain a C switch (one indirect jump per instruction, where a
    # chain of comparisons took twenty before reaching a jump); the ALU
    # operations share the default branch.
    while True:
        code = f[pc].code
        k = f[pc].k
        if code == OP_JEQ_K:
            pc += f[pc].jt if A == k else f[pc].jf
        elif code == OP_JEQ_X:
            pc += f[pc].jt if A == X else f[pc].jf
        elif code == OP_JGT_K:
            pc += f[pc].jt if A > k else f[pc].jf
        elif code == OP_JGT_X:
            pc += f[pc].jt if A > X else f[pc].jf
        elif code == OP_JGE_K:
            pc += f[pc].jt if A >= k else f[pc].jf
        elif code == OP_JGE_X:
            pc += f[pc].jt if A >= X else f[pc].jf
        elif code == OP_JSET_K:
            pc += f[pc].jt if (A & k) else f[pc].jf
        elif code == OP_JSET_X:
            pc += f[pc].jt if (A & X) else f[pc].jf
        elif code == OP_JA:
            if <int32_t>k < 0:
                backward_left -= 1
                if backward_left < 0:
                    return 0
            pc += <int32_t>k
        elif code == OP_RET_K:
            return k
        elif code == OP_RET_A:
            return A
        elif code == OP_LD_W_ABS:
            if k > buflen or 4 > buflen - k:
                return 0
            A = _ld32(p + k)
        elif code == OP_LD_H_ABS:
            if k > buflen or 2 > buflen - k:
                return 0
            A = _ld16(p + k)
        elif code == OP_LD_B_ABS:
            if k >= buflen:
                return 0
            A = p[k]
        elif code == OP_LD_W_IND:
            if X > buflen or k > buflen - X or 4 > buflen - X - k:
                return 0
            A = _ld32(p + X + k)
        elif code == OP_LD_H_IND:
            if X > buflen or k > buflen - X or 2 > buflen - X - k:
                return 0
            A = _ld16(p + X + k)
        elif code == OP_LD_B_IND:
            if X > buflen or k >= buflen - X:
                return 0
            A = p[X + k]
        elif code == OP_LD_W_LEN:
            A = wirelen
        elif code == OP_LDX_W_LEN:
            X = wirelen
        elif code == OP_LD_IMM:
            A = k
        elif code == OP_LDX_IMM:
            X = k
        elif code == OP_LD_MEM:
            A = mem[k]
        elif code == OP_LDX_MEM:
            X = mem[k]
        elif code == OP_LDX_B_MSH:
            if k >= buflen:
                return 0
            X = (p[k] & 0x0F) << 2
        elif code == OP_ST:
            mem[k] = A
        elif code == OP_STX:
            mem[k] = X
        elif code == OP_TAX:
            X = A
        elif code == OP_TXA:
            A = X
        else:   # BPF_ALU (check_program let no other opcode through)
            if code & BPF_X:
                k = X
            code &= 0xF0
            if code == BPF_ADD:
                A += k
            elif code == BPF_SUB:
                A -= k
            elif code == BPF_MUL:
                A *= k
            elif code == BPF_DIV:
                if k == 0:
                    return 0
                A //= k
            elif code == BPF_MOD:
                if k == 0:
                    return 0
                A %= k
            elif code == BPF_OR:
                A |= k
            elif code == BPF_AND:
                A &= k
            elif code == BPF_LSH:
                A = A << k if k < 32 else 0
            elif code == BPF_RSH:
                A = A >> k if k < 32 else 0
            elif code == BPF_NEG:
                A = <uint32_t>(-(<int64_t>A))
            else:   # BPF_XOR
                A ^= k
        pc += 1


cdef struct Packets:
    # a program and a batch's columns as run_filter and filter_indices read them
    # (checked by _packets)
    const sock_filter *program
    const uint8_t *base         # data, or any valid pointer when data is empty
    Py_ssize_t data_len
    const int64_t *offset
    const uint32_t *caplen
    const uint32_t *wirelen
    Py_ssize_t n


cdef Py_ssize_t _packets(const uint8_t[::1] program, const uint8_t[::1] data,
                         const int64_t[::1] offset, const uint32_t[::1] caplen,
                         const uint32_t[::1] wirelen, bint one_entry_each, str columns,
                         Packets *pk) except -1:
    # The checks both entry points make (the program; ``columns``, named in the
    # error, have one entry per packet; every packet lies inside data), then pk.
    # Returns the packet count.
    cdef Py_ssize_t i, n = offset.shape[0], data_len = data.shape[0]
    check_program(program)
    if not one_entry_each:
        raise ValueError(f"{columns} must have one entry per packet")
    for i in range(n):
        if offset[i] < 0 or caplen[i] > data_len or offset[i] > data_len - caplen[i]:
            raise ValueError(f"packet {i} lies outside data")
    pk.n = n
    pk.data_len = data_len
    if n:
        pk.program = <const sock_filter *>&program[0]
        pk.base = &data[0] if data_len else &program[0]
        pk.offset = &offset[0]
        pk.caplen = &caplen[0]
        pk.wirelen = &wirelen[0]
    return n


cdef inline void _prefetch_ahead(const Packets *pk, Py_ssize_t i) noexcept nogil:
    # the first two cache lines of the packet PREFETCH_AHEAD after packet i
    if pk.data_len and i + PREFETCH_AHEAD < pk.n:
        RINGCAP_PREFETCH(pk.base + pk.offset[i + PREFETCH_AHEAD])
        RINGCAP_PREFETCH(pk.base + pk.offset[i + PREFETCH_AHEAD] + 63)


cdef inline bint _accepts(const Packets *pk, Py_ssize_t i) noexcept nogil:
    # whether the program accepts packet i (with no data, every packet is empty)
    if pk.data_len:
        return bpf_run(pk.program, pk.base + pk.offset[i], pk.caplen[i], pk.wirelen[i]) != 0
    return bpf_run(pk.program, pk.base, 0, pk.wirelen[i]) != 0


def run_filter(const uint8_t[::1] program, const uint8_t[::1] data, const int64_t[::1] offset,
               const uint32_t[::1] caplen, const uint32_t[::1] wirelen, uint8_t[::1] out):
    """Run ``program`` (checked by :func:`check_program`) over every packet;
    ``out[i]`` becomes 1 where packet ``i`` is accepted.  Returns the count accepted."""
    cdef Py_ssize_t n = offset.shape[0], i, accepted = 0
    cdef Packets pk
    if _packets(program, data, offset, caplen, wirelen,
             caplen.shape[0] == n and wirelen.shape[0] == n and out.shape[0] >= n,
             "offset, caplen, wirelen and out", &pk) == 0:
        return 0
    with nogil:
        for i in range(n):
            _prefetch_ahead(&pk, i)
            out[i] = _accepts(&pk, i)
            accepted += out[i]
    return accepted


def filter_indices(const uint8_t[::1] program, const uint8_t[::1] data,
                   const int64_t[::1] offset, const uint32_t[::1] caplen,
                   const uint32_t[::1] wirelen, const uint16_t[::1] linktype, int kind,
                   int64_t[::1] chosen):
    """Run ``program`` over the packets whose ``linktype`` is ``kind`` (every
    packet when ``kind`` is -1) and write the indexes of those it accepts, in
    order, to ``chosen`` (room for one per packet): no mask and no gather
    when few match.  Returns the count written."""
    cdef Py_ssize_t n = offset.shape[0], i, accepted = 0
    cdef Packets pk
    if _packets(program, data, offset, caplen, wirelen,
             caplen.shape[0] == n and wirelen.shape[0] == n and linktype.shape[0] == n
             and chosen.shape[0] >= n,
             "offset, caplen, wirelen, linktype and chosen", &pk) == 0:
        return 0
    with nogil:
        for i in range(n):
            _prefetch_ahead(&pk, i)
            if kind >= 0 and linktype[i] != kind:
                continue
            chosen[accepted] = i
            accepted += _accepts(&pk, i)
    return accepted


def merge_indices(int64_t[::1] chosen, Py_ssize_t a, Py_ssize_t b, int64_t[::1] scratch):
    """Merge the two ascending runs ``chosen[:a]`` and ``chosen[a:a + b]`` in
    place (``scratch`` holds at least ``a``); returns ``a + b``."""
    cdef Py_ssize_t i = 0, j = a, k = 0, end = a + b
    if a < 0 or b < 0 or end > chosen.shape[0] or scratch.shape[0] < a:
        raise ValueError("runs out of range for merge_indices")
    with nogil:
        for i in range(a):
            scratch[i] = chosen[i]
        i = 0
        while i < a and j < end:
            if scratch[i] <= chosen[j]:
                chosen[k] = scratch[i]
                i += 1
            else:
                chosen[k] = chosen[j]
                j += 1
            k += 1
        while i < a:
            chosen[k] = scratch[i]
            i += 1
            k += 1
    return end


def distinct_kinds(const uint16_t[::1] linktype):
    """The distinct values of ``linktype`` in the order met (a list; link types
    in one batch are few), without sorting or a mask per value."""
    cdef Py_ssize_t n = linktype.shape[0], i, j, found = 0
    cdef uint16_t seen[64]
    with nogil:
        for i in range(n):
            for j in range(found):
                if seen[j] == linktype[i]:
                    break
            else:
                if found == 64:
                    break
                seen[found] = linktype[i]
                found += 1
    if found == 64:
        raise ValueError("more than 64 link types in one batch")
    return [seen[j] for j in range(found)]


def _test_run_one(const uint8_t[::1] program, const uint8_t[::1] packet, uint32_t wirelen):
    """Tests only: the return value of ``program`` on one packet."""
    cdef uint8_t empty[1]
    check_program(program)
    return bpf_run(<const sock_filter *>&program[0],
                   &packet[0] if packet.shape[0] else empty, packet.shape[0], wirelen)
