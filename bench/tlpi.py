"""tlpi: Michael Kerrisk, The Linux Programming Interface (No Starch Press,
2010), Table 63-9, "Times taken by poll(), select(), and epoll for 100,000
monitoring operations": seconds per 100,000 calls with N descriptors
monitored, copied from the book. Read by bench/gbench/kerrisk_table.sh (beside
the micro-benchmark) and bench/idle.py (beside the servers' own growth)."""

TABLE_63_9 = {
    10:    {"poll": 0.61, "select": 0.73, "epoll": 0.41},
    100:   {"poll": 2.9,  "select": 3.0,  "epoll": 0.42},
    1000:  {"poll": 35,   "select": 35,   "epoll": 0.53},
    10000: {"poll": 990,  "select": 930,  "epoll": 0.66},
}


def growth(call, n):
    """The call's time at N descriptors over its time at 10, or None."""
    row, base = TABLE_63_9.get(n), TABLE_63_9[10]
    return row[call] / base[call] if row and call in row else None
