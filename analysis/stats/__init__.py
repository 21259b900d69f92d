"""Pure statistics on small arrays and tables (the engine's results): intervals, drift tests,
control charts, change points. Nothing here reads raw event rows."""
