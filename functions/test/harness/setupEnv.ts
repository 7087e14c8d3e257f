// Deployed entry points log at INFO; in tests only errors are worth printing.
process.env.LOG_LEVEL ??= "ERROR";
// Off Google Cloud there is no metadata server; without this, google-auth probes for one and warns.
process.env.METADATA_SERVER_DETECTION ??= "none";
// The AWS SDK warns once per process that its 2027 releases need Node 22; these machines run Node 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
