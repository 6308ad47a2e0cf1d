"""Jobs: poll, evaluate, report and digest. They join sources, store, signals, report and notify;
the CLI and the scheduler call them with an App."""
