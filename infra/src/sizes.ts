/** The two stack sizes synthesized into `k8s/<name>/`. */
export type SizeName = 'laptop' | 'ha';

/** Autoscaling bounds of one HTTP workload. */
export interface ReplicaRange {
  readonly min: number;
  readonly max: number;
}

/** Everything that differs between a laptop-sized stack and a highly available one. */
export interface Size {
  readonly name: SizeName;
  /** Members of every MongoDB replica set (the config servers and each shard). */
  readonly mongoReplicaSetMembers: number;
  /** mongos routers. */
  readonly mongosReplicas: number;
  /** Kafka nodes, each both broker and KRaft controller. */
  readonly kafkaNodes: number;
  /** Gateway replicas, HPA bounds. */
  readonly gateway: ReplicaRange;
  /** Replicas of auth, task and analytics, HPA bounds. */
  readonly services: ReplicaRange;
  /** Size of each MongoDB and Kafka volume. */
  readonly volumeSize: string;
}

export const SIZES: Readonly<Record<SizeName, Size>> = {
  laptop: {
    name: 'laptop',
    mongoReplicaSetMembers: 1,
    mongosReplicas: 1,
    kafkaNodes: 1,
    gateway: { min: 1, max: 4 },
    services: { min: 1, max: 4 },
    volumeSize: '1Gi',
  },
  ha: {
    name: 'ha',
    mongoReplicaSetMembers: 3,
    mongosReplicas: 2,
    kafkaNodes: 3,
    gateway: { min: 3, max: 10 },
    services: { min: 2, max: 8 },
    volumeSize: '5Gi',
  },
};
