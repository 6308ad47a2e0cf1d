"""The synthetic upstream world that rebuilds the bundled demo recording (monitor/demo/data):
``python -m tools.demo_world.build_data``. Development only: it is not in the wheel."""
