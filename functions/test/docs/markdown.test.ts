/**
 * The README and docs/ render as written: every code fence is balanced. An unclosed fence swallows
 * the page after it: to the end (CommonMark runs it there), or, when a later fence closes it, every
 * block after it turns inside out, and a fence with a language (```bash) ends up inside a code
 * block. No renderer reports either. Parsed with marked's CommonMark lexer.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { marked, type Tokens } from "marked";

const REPO = join(__dirname, "../../..");
const pages = [
  "README.md",
  ...readdirSync(join(REPO, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => join("docs", f)),
];

/** The fenced code blocks of a page that are not closed, or hold a fence opening another block, by their first line. */
export function unbalancedFences(markdown: string): string[] {
  const unclosed: string[] = [];
  marked.walkTokens(marked.lexer(markdown), (token) => {
    if (token.type !== "code") return;
    const raw = (token as Tokens.Code).raw.replace(/\n+$/, "");
    const open = raw.match(/^ {0,3}(`{3,}|~{3,})/);
    if (!open) return; // an indented code block has no fence
    const lines = raw.split("\n");
    const close = lines.length > 1 ? lines[lines.length - 1].match(/^ {0,3}(`{3,}|~{3,})\s*$/) : null;
    const closed = close !== null && close[1][0] === open[1][0] && close[1].length >= open[1].length;
    const holdsAnOpeningFence = lines.slice(1, -1).some((line) => /^ {0,3}(`{3,}|~{3,})[^`~\s]/.test(line));
    if (!closed || holdsAnOpeningFence) unclosed.push(lines[0]);
  });
  return unclosed;
}

it("finds an unclosed fence, at the end of a page or closed by a later block's fence", () => {
  expect(unbalancedFences("# a\n\n```\ncode\n\n## b\n")).toEqual(["```"]);
  expect(unbalancedFences("```bash\nx\n```\n\n~~~~\ny\n~~~\n")).toEqual(["~~~~"]);
  expect(unbalancedFences("```\nx\n\n## b\n\n```\ny\n```\n\n```bash\nz\n```\n")).toEqual(["```"]);
  expect(unbalancedFences("```\nx\n```\n\n```bash\ny\n```\n\n    indented\n")).toEqual([]);
});

it.each(pages)("%s balances every code fence", (page) => {
  expect(unbalancedFences(readFileSync(join(REPO, page), "utf8"))).toEqual([]);
});
