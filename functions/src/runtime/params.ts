import { defineBoolean, defineInt, defineSecret, defineString } from "firebase-functions/params";
import { ConfigError, functionParamSettings, parseDeployConfig, parseDeployOption, secretSettings } from "../core/config";
import { severities } from "../core/logger";

/**
 * The firebase-functions params of the deployed functions, declared from core/config.ts (one
 * place for names, defaults and descriptions). `firebase deploy` and the emulator resolve each from
 * functions/.env (and functions/.env.<projectId>), which holds a value for every one, so nothing
 * prompts; the resolved values reach the functions as environment variables, which the same zod
 * schemas as a standalone process's validate (runtime/deployed.ts).
 *
 * Params are read from the environment, never with `.value()` at load time: firebase-functions
 * warns on every deploy when a param is read during discovery.
 */
function declare(name: string): unknown {
  const { kind, default: fallback, description } = functionParamSettings[name];
  switch (kind) {
    case "int":
      return defineInt(name, { default: Number(fallback), description });
    case "boolean":
      return defineBoolean(name, { default: fallback === "true", description });
    case "select":
      return defineString(name, { default: fallback, description, input: { select: { options: severities.map((value) => ({ value })) } } });
    case "string":
      // No default for a required value: a prompt, if one ever runs, starts empty.
      return defineString(name, fallback ? { default: fallback, description } : { description });
  }
}

/**
 * firebase-functions' discovery prints an error it catches with its stack; for a ConfigError the
 * message is the whole story (every bad setting and what it may be), so the stack is left out.
 */
function withoutStack(check: () => unknown): void {
  try {
    check();
  } catch (error) {
    if (error instanceof ConfigError) error.stack = `${error.name}: ${error.message}`;
    throw error;
  }
}

// Discovery (`firebase deploy`, the emulator) runs this module with the values it resolved from the
// .env files in the environment: refusing a bad value here stops the deploy before any function runs
// with it, with one line naming every bad setting. It runs first, so no other error can hide these.
if (process.env.FUNCTIONS_CONTROL_API === "true") withoutStack(() => parseDeployConfig(process.env));

export const functionParams = Object.fromEntries(Object.keys(functionParamSettings).map((name) => [name, declare(name)]));

/** The region of every function: one setting, resolved at deploy. */
export const functionsRegion = functionParams.FUNCTIONS_REGION as ReturnType<typeof defineString>;

/**
 * Read from the environment when the module loads (the value deploy set from the param); an SDK
 * option takes a plain boolean without the discovery-time warning `.value()` would print. A bad value
 * that reaches a running function anyway stops the module from loading with a ConfigError naming it.
 */
export const runWorkerEnforcesAppCheck = parseDeployOption("RUNWORKER_ENFORCE_APP_CHECK", process.env);

export const zataAccessKeyId = defineSecret("ZATA_ACCESS_KEY_ID", { description: secretSettings.ZATA_ACCESS_KEY_ID.description });
export const zataSecretAccessKey = defineSecret("ZATA_SECRET_ACCESS_KEY", {
  description: secretSettings.ZATA_SECRET_ACCESS_KEY.description,
});
/** Attach to every function that touches media storage: `secrets: zataSecrets`. */
export const zataSecrets = [zataAccessKeyId, zataSecretAccessKey];
