/**
 * functions/.env: the value of every deploy param, which `firebase deploy` and the emulator read
 * (firebase-tools prompts for any param missing from the .env files, and a non-interactive deploy
 * stops). Rendered from core/config.ts, the one place for defaults: `npm run env` rewrites the file,
 * and a test fails when it differs from what this renders.
 */
import { writeFileSync } from "node:fs";
import { functionParamSettings } from "../src/core/config";

export function renderDotenv(): string {
  const header = [
    "# The deploy params' values, read by `firebase deploy` and the emulator for every project.",
    "# Written by `npm run env` from src/core/config.ts, where each default and its meaning live: change them there.",
    "# Per-project values (ZATA_ENDPOINT and ZATA_BUCKET, which have no default, and any override) go in",
    "# .env.<projectId> beside this file; firebase-tools reads it after this one. Secrets never go in these files.",
  ];
  const lines = Object.entries(functionParamSettings).flatMap(([name, s]) => [`# ${s.description}`, `${name}=${s.default}`]);
  return [...header, "", ...lines, ""].join("\n");
}

if (require.main === module) {
  // npm runs scripts in functions/, where firebase-tools looks for .env.
  writeFileSync(".env", renderDotenv());
  process.stdout.write("wrote functions/.env\n");
}
