import type { TestProject } from 'vitest/node';
import { up } from '../scripts/infra-lib.mjs';

export interface InfraEndpoints {
  redisUrl: string;
  kafkaBrokers: string;
  mongodbUri: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    infra: InfraEndpoints;
  }
}

/**
 * Brings the local servers up (idempotent: a no-op when `npm test` already did, or when
 * REDIS_URL, KAFKA_BROKERS and MONGODB_URI point at servers that answer) and hands their
 * addresses to every test through `inject('infra')`.
 */
export default async function setup(project: TestProject): Promise<void> {
  const infra = (await up()) as InfraEndpoints;
  project.provide('infra', infra);
}
