import { readFileSync } from "node:fs";
import { DOTENV_PATH, renderDotenv } from "../../dev/deployEnv";

/** functions/.env holds every deploy param's value; its defaults come from core/config.ts alone. */
it("functions/.env is what `npm run env` renders from core/config.ts", () => {
  expect(readFileSync(DOTENV_PATH, "utf8")).toBe(renderDotenv());
});
