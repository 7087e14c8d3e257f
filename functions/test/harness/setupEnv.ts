// Deployed entry points log at INFO; in tests only errors are worth printing.
process.env.LOG_LEVEL ??= "ERROR";
// Off Google Cloud there is no metadata server; without this, google-auth probes for one and warns.
process.env.METADATA_SERVER_DETECTION ??= "none";
