import type { Firestore } from "firebase-admin/firestore";
import { systemClock, type Clock } from "../../src/core/clock";
import { parseWorkerConfig, type WorkerConfig } from "../../src/core/config";
import type { WorkerDeps } from "../../src/core/deps";
import { createLogger, type Logger } from "../../src/core/logger";

/** A clock the test moves by hand; starts at the real time so Firestore timestamps look normal. */
export class ManualClock implements Clock {
  constructor(private ms = Date.now()) {}
  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

/** A logger that keeps its entries for assertions instead of printing them. */
export function memoryLogger(): Logger & { entries: Record<string, unknown>[] } {
  const entries: Record<string, unknown>[] = [];
  const logger = createLogger({ minSeverity: "DEBUG", sink: (e) => entries.push(JSON.parse(JSON.stringify(e))) });
  return Object.assign(logger, { entries });
}

export function testDeps(db: Firestore, overrides: { clock?: Clock; config?: Partial<WorkerConfig>; logger?: Logger } = {}): WorkerDeps {
  return {
    db,
    clock: overrides.clock ?? systemClock,
    logger: overrides.logger ?? memoryLogger(),
    config: { ...parseWorkerConfig({}), ...overrides.config },
  };
}
