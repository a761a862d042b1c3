#!/usr/bin/env python3
"""Shares of a profile's samples, by thread and by frames named on the command line.

    perf record -F 999 -g --call-graph dwarf,16384 -p <server pid> -o perf.data -- sleep 6
    perf script -i perf.data > perf.txt
    bench/perf-shares.py perf.txt sqlite3_prepare vdbeCommit fsync            # every thread
    bench/perf-shares.py perf.txt --thread tanis-group write_batch acquire    # one thread's samples

A sample counts for a name when any frame of its stack contains it (inclusive), so shares of nested names
overlap; every share is of all the samples, whichever thread is chosen.
"""
import collections
import sys


def samples(path):
    """(thread, [frames, leaf first]) for each sample of `perf script`'s output."""
    current = None
    for line in open(path, errors="replace"):
        if not line.strip():
            if current:
                yield current
            current = None
        elif not line[0].isspace():
            current = (line.split()[0], [])
        elif current:
            parts = line.split(None, 1)
            if len(parts) == 2:
                current[1].append(parts[1].rsplit(" (", 1)[0])
    if current:
        yield current


def main(args):
    path, names, thread = args[0], args[1:], None
    if names[:1] == ["--thread"]:
        thread, names = names[1], names[2:]
    every = list(samples(path))
    total = len(every)
    print(f"{total} samples")
    for name, count in collections.Counter(t for t, _ in every).most_common(8):
        print(f"{100 * count / total:6.1f}%  thread {name}")
    chosen = [stack for t, stack in every if thread is None or t.startswith(thread)]
    if thread:
        print(f"{100 * len(chosen) / total:6.1f}%  thread {thread}*, in all")
    for name in names:
        count = sum(1 for stack in chosen if any(name in frame for frame in stack))
        print(f"{100 * count / total:6.1f}%  {name}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
