"""How cells run: the sweep loop, the local and Ray executors, the spawned and forked cell processes,
device slots and the progress display."""
