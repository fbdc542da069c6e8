// Types of scripts/kafka-cluster-lib.mjs for the TypeScript tests.

export interface KafkaCluster {
  /** Comma-separated bootstrap list. */
  readonly brokers: string;
  readonly nodes: readonly { readonly id: number; readonly address: string; readonly logFile: string }[];
  stopNode(id: number): Promise<void>;
  startNode(id: number): Promise<void>;
  stop(): Promise<void>;
}

export function startKafkaCluster(opts?: {
  nodes?: number;
  replicationFactor?: number;
  minInsyncReplicas?: number;
  heapMb?: number;
  timeoutMs?: number;
}): Promise<KafkaCluster>;
