"""gdb alongside: a GDB Remote Serial Protocol stub over a Session (issue 17)."""
