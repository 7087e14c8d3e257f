// Deployed entry points log at INFO; in tests only errors are worth printing.
process.env.LOG_LEVEL ??= "ERROR";
