import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

/**
 * The layers of src/: entry points import core; core imports nothing outside itself; the modules at
 * core's root (errors, logger, config, clock, pace, the polling loop...) are shared helpers that
 * import no feature folder (mirror/, snapshots/, mediaGC/, ...), so a feature can use them without
 * a cycle; feature folders import each other without cycles; and core/index.ts is the app's API,
 * which nothing inside imports.
 */
const SRC = resolve(__dirname, "../../src");
const CORE = join(SRC, "core");
const INDEX = join(CORE, "index.ts");

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

/** The files a module imports or re-exports from, by relative path. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+"(\.[^"]+)"/gms)].map((m) => {
    const target = resolve(dirname(file), m[1]);
    if (existsSync(`${target}.ts`)) return `${target}.ts`;
    if (existsSync(join(target, "index.ts"))) return join(target, "index.ts");
    throw new Error(`${relative(SRC, file)} imports ${m[1]}, which is no source file`);
  });
}

const files = sources(SRC);
const edges = files.flatMap((from) => importsOf(from).map((to) => ({ from, to })));
const inCore = (f: string) => f.startsWith(CORE + "/");
/** "." for core's root, else the feature folder's name. */
const layerOf = (f: string) => dirname(relative(CORE, f)).split("/")[0];
const show = (e: { from: string; to: string }) => `${relative(SRC, e.from)} -> ${relative(SRC, e.to)}`;

it("reads the import graph (a check that finds no imports would pass anything)", () => {
  expect(files.length).toBeGreaterThan(50);
  expect(edges.filter((e) => inCore(e.from) && inCore(e.to) && layerOf(e.from) !== layerOf(e.to)).length).toBeGreaterThan(50);
});

it("core imports nothing outside core", () => {
  expect(edges.filter((e) => inCore(e.from) && !inCore(e.to)).map(show)).toEqual([]);
});

it("nothing imports core/index.ts, the app's API", () => {
  expect(edges.filter((e) => e.to === INDEX).map(show)).toEqual([]);
});

it("core's root modules import no feature folder", () => {
  const upward = edges.filter((e) => inCore(e.from) && e.from !== INDEX && layerOf(e.from) === "." && layerOf(e.to) !== ".");
  expect(upward.map(show)).toEqual([]);
});

it("feature folders import each other without cycles", () => {
  const folderEdges = new Map<string, Set<string>>();
  for (const e of edges) {
    if (!inCore(e.from) || !inCore(e.to) || e.from === INDEX) continue;
    const [a, b] = [layerOf(e.from), layerOf(e.to)];
    if (a === b || a === "." || b === ".") continue;
    if (!folderEdges.has(a)) folderEdges.set(a, new Set());
    folderEdges.get(a)!.add(b);
  }
  const cycles: string[] = [];
  const visit = (folder: string, path: string[]) => {
    if (path.includes(folder)) return void cycles.push([...path.slice(path.indexOf(folder)), folder].join(" -> "));
    for (const next of folderEdges.get(folder) ?? []) visit(next, [...path, folder]);
  };
  for (const folder of folderEdges.keys()) visit(folder, []);
  expect(cycles).toEqual([]);
});
