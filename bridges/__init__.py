"""Editor-facing code: the command line, and (with their issues) Resolve scripts, watch folder, panel."""
