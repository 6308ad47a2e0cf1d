"""A light target for bench.harness.call_isolated (importing the test module would load pandas)."""


def allocate(mb: int) -> int:
    """Touch `mb` MiB and report it."""
    block = b"x" * (mb << 20)
    return len(block) >> 20
