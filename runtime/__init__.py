"""mallcast as processes: the CLI, the lifecycle, embedded PostgreSQL, migrations, API
workers, the push runtime and the scheduled jobs."""
