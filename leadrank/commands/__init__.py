"""The subcommands of `leadrank`, one module per group; leadrank/cli.py assembles them into the app.

Each command parses its options, reads the settings, calls library functions with small typed configurations
and prints. Heavy dependencies (mlflow, bentoml, lightgbm) are imported inside the command functions, so
`leadrank --help` stays fast.
"""
