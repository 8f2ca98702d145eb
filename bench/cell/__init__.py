"""What runs inside one cell's process: the runner, speed measurement, the kernel probe, energy and
memory meters, backend and thread setup, calibration, and the test hooks that plant faults."""
