"""One module per command group. Each exposes configure functions that add a command's flags and set
its handler; runners.cli names them in its table and imports a module only when its command runs."""
