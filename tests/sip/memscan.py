#!/usr/bin/env python3
"""Look for secrets in a running process's memory (tests/sip/signer.sh).

    memscan.py PID HEX...
        Reads every readable mapping of process PID (/proc/PID/maps and
        /proc/PID/mem: the caller must be allowed to ptrace it), 1 MiB at a
        time, and prints, for each needle given in hex, "HEX found" or "HEX
        absent".  Mappings larger than 1 GiB are skipped: AddressSanitizer's
        shadow memory, reserved and never written.  Exits 1 when the memory
        cannot be read at all.
"""
import re
import sys

CHUNK = 1 << 20


def main():
    pid = sys.argv[1]
    needles = [bytes.fromhex(h) for h in sys.argv[2:]]
    found = [False] * len(needles)
    read_any = False
    with open("/proc/%s/maps" % pid) as maps, open("/proc/%s/mem" % pid, "rb", 0) as mem:
        for line in maps:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
            if not m or m.group(3)[0] != "r" or "[vvar]" in line or "[vsyscall]" in line:
                continue
            start, end = int(m.group(1), 16), int(m.group(2), 16)
            if end - start > (1 << 30):
                continue
            tail = b""  # the end of the previous chunk: a needle may straddle two
            for at in range(start, end, CHUNK):
                try:
                    mem.seek(at)
                    data = mem.read(min(CHUNK, end - at))
                except (OSError, ValueError, OverflowError):
                    break
                read_any = True
                data = tail + data
                for i, n in enumerate(needles):
                    if not found[i] and n in data:
                        found[i] = True
                tail = data[-64:]
    if not read_any:
        sys.exit("memscan: cannot read the memory of process %s" % pid)
    for h, f in zip(sys.argv[2:], found):
        print(h, "found" if f else "absent")


if __name__ == "__main__":
    main()
