"""The command line, a thin layer over the engine: `main` (entry point and exit statuses),
`parse` (argparse -> typed `options`), `launch` (options -> a Session), and the commands
without a prompt, `trace` and `replay` (the REPL's is `hcdbg.repl`)."""
