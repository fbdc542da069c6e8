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

  /** Freezes the server (SIGSTOP): connections are accepted, nothing is answered. */
  hang(): void {
    process.kill(this.pid, 'SIGSTOP');
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
