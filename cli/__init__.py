"""The `mallcast` command line."""
