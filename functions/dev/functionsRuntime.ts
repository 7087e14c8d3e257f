/**
 * The environment the Cloud Functions runtime gives a deployed function, as far as the code reads
 * it: the project (GCLOUD_PROJECT) and FIREBASE_CONFIG, from which firebase-admin's default app and
 * firebase-functions' event decoding take the project. Tests and the bench that call the deployed
 * entry points in-process or as processes set it; without FIREBASE_CONFIG, firebase-functions warns
 * that it is estimating the config from GCLOUD_PROJECT.
 */
export function functionsRuntimeEnv(projectId: string): { GCLOUD_PROJECT: string; FIREBASE_CONFIG: string } {
  return { GCLOUD_PROJECT: projectId, FIREBASE_CONFIG: JSON.stringify({ projectId }) };
}
