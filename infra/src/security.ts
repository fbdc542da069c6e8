import type * as kplus from 'cdk8s-plus-28';
import { k8s } from 'cdk8s-plus-28';

/**
 * The one non-root identity every container of the platform runs as. Images that default to
 * another user (mongo, kafka, redis, grafana, prometheus) run fine under an arbitrary uid as long
 * as their data directories are volumes, which `fsGroup` makes writable.
 */
export const RUN_AS_USER = 10001;

/** Pod-level settings of the Pod Security "restricted" profile, for raw (L1) pod specs. */
export const restrictedPodSecurityContext: k8s.PodSecurityContext = {
  runAsNonRoot: true,
  runAsUser: RUN_AS_USER,
  runAsGroup: RUN_AS_USER,
  fsGroup: RUN_AS_USER,
  fsGroupChangePolicy: 'OnRootMismatch',
  seccompProfile: { type: 'RuntimeDefault' },
};

/** Container-level settings of the "restricted" profile plus a read-only root filesystem. */
export const restrictedContainerSecurityContext: k8s.SecurityContext = {
  runAsNonRoot: true,
  runAsUser: RUN_AS_USER,
  runAsGroup: RUN_AS_USER,
  allowPrivilegeEscalation: false,
  privileged: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

/** The same two contexts in cdk8s-plus terms. */
export const restrictedPodSecurityProps: kplus.PodSecurityContextProps = {
  ensureNonRoot: true,
  user: RUN_AS_USER,
  group: RUN_AS_USER,
  fsGroup: RUN_AS_USER,
};

export const restrictedContainerSecurityProps: kplus.ContainerSecurityContextProps = {
  ensureNonRoot: true,
  user: RUN_AS_USER,
  group: RUN_AS_USER,
  privileged: false,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL' as kplus.Capability] },
  seccompProfile: { type: 'RuntimeDefault' as kplus.SeccompProfileType },
};
