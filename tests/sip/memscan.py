#!/usr/bin/env python3
"""Look for secrets in a running process's memory (tests/sip/signer.sh).

    memscan.py PID HEX...
        Reads every readable mapping of process PID (/proc/PID/maps and
        /proc/PID/mem: the caller must be allowed to ptrace it) and prints, for
        each needle given in hex, "HEX found" or "HEX absent".  Exits 2 when the
        memory cannot be read at all.
"""
import re
import sys


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
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except (OSError, ValueError, OverflowError):
                continue
            read_any = True
            for i, n in enumerate(needles):
                if not found[i] and n in data:
                    found[i] = True
    if not read_any:
        sys.exit("memscan: cannot read the memory of process %s" % pid)
    for h, f in zip(sys.argv[2:], found):
        print(h, "found" if f else "absent")


if __name__ == "__main__":
    main()
