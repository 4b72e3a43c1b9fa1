"""One module per command family. Each function opens the command's transaction (one write
transaction per command; a backfill commits per turbine), calls the pure pipelines, and returns
typed results; nothing here prints."""
