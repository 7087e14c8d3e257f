import { deleteApp, getApps } from "firebase-admin/app";

/**
 * After each test file: the default firebase-admin app, which the deployed entry points and the
 * standalone deps create for themselves (runtime/deployed.ts, runtime/standalone.ts) and which no
 * test owns, is deleted, so its Firestore client's connections do not outlive the file and keep
 * the jest worker from exiting. Apps a test created (createTestFirestore) are its own to close.
 */
afterAll(async () => {
  await Promise.all(
    getApps()
      .filter((app) => app.name === "[DEFAULT]")
      .map((app) => deleteApp(app)),
  );
});
