import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/**
 * CPU time (user + system, ms) of the benchmark's processes, so that the report can say whether a
 * path was bound by round trips or by this machine's CPU. CPU time, unlike tasks/s, hardly depends
 * on what else the machine runs. Linux only (/proc); elsewhere undefined.
 */

/** This process's CPU time, ms. */
export const ownCpuMs = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

let ticksPerSecond: number | undefined;

/** The CPU time of the Firestore emulator listening on `port` (found by its command line, only read), ms. */
export function emulatorCpuMs(port: number): number | undefined {
  try {
    ticksPerSecond ??= Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      // The JVM itself, not the process that holds it (dev/emulator.ts' tether, whose command line carries the JVM's).
      const jvm = /(^|\/)java$/.test(cmdline[0]);
      if (!jvm || !cmdline.some((a) => a.includes("cloud-firestore-emulator")) || !cmdline.includes(`--port=${port}`)) continue;
      // Fields after the command name (which is in parentheses): utime and stime are the 12th and 13th.
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
    }
  } catch {
    // no /proc, or the process went away while read
  }
  return undefined;
}
