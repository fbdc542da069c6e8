import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, startMongo, stopInstance, type Started } from '../scripts/infra-lib.mjs';

/**
 * A MongoDB of one test file's own, on a free port: it can be stopped, restarted, hung and resumed
 * without disturbing the shared server or another test.
 */
export class PrivateMongo {
  private constructor(
    private instance: Started & { uri: string },
    private readonly port: number,
  ) {}

  static async start(): Promise<PrivateMongo> {
    const port = await freePort();
    return new PrivateMongo(await startMongo({ port }), port);
  }

  get uri(): string {
    return this.instance.uri;
  }

  /** Stops the server (connections are refused), keeping its data for `restart`. */
  async stop(): Promise<void> {
    await stopInstance(this.instance, { keepData: true });
  }

  async restart(): Promise<void> {
    this.instance = await startMongo({ port: this.port });
  }

  /**
   * Freezes the server (SIGSTOP): connections are accepted, nothing is answered. Resolves once
   * every thread of the server has stopped: kill() only queues the signal, and until a thread of
   * the server is scheduled to take it, the others go on answering, for up to tens of milliseconds
   * on a loaded machine; a request sent meanwhile gets its answer.
   */
  async hang(): Promise<void> {
    const pid = this.pid;
    process.kill(pid, 'SIGSTOP');
    const deadline = Date.now() + 5000;
    while (!allThreadsStopped(pid)) {
      if (Date.now() > deadline) throw new Error(`${this.instance.address} (pid ${pid}) has not stopped 5 s after SIGSTOP`);
      await sleep(1);
    }
  }

  resume(): void {
    process.kill(this.pid, 'SIGCONT');
  }

  /** Stops it for good and deletes its data. */
  async close(): Promise<void> {
    if (this.instance.pid) this.resume();
    await stopInstance(this.instance);
  }

  private get pid(): number {
    if (!this.instance.pid) throw new Error(`no process of ours serves ${this.instance.address}`);
    return this.instance.pid;
  }
}

/** No thread of `pid` can run: each is stopped or gone (Linux: the threads' states in /proc). */
function allThreadsStopped(pid: number): boolean {
  return fs.readdirSync(`/proc/${pid}/task`).every((tid) => {
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      return true; // the thread exited meanwhile
    }
    // The state follows the thread's name, which is in parentheses and may hold any character.
    const state = stat.charAt(stat.lastIndexOf(')') + 2);
    return state === 'T' || state === 'Z' || state === 'X';
  });
}
