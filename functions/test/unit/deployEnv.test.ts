import { readFileSync } from "node:fs";
import { join } from "node:path";
import { renderDotenv } from "../../dev/deployEnv";

/** functions/.env holds every deploy param's value; its defaults come from core/config.ts alone. */
it("functions/.env is what `npm run env` renders from core/config.ts", () => {
  expect(readFileSync(join(__dirname, "../../.env"), "utf8")).toBe(renderDotenv());
});
