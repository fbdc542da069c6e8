import { PROMETHEUS_UID, TRACES_UID } from './panels.js';

/** One entry of Grafana's data-source provisioning file. */
export interface GrafanaDataSource {
  readonly name: string;
  readonly type: string;
  readonly uid: string;
  readonly access: 'proxy' | 'direct';
  readonly url: string;
  readonly editable: boolean;
  readonly isDefault?: boolean;
  readonly jsonData?: Readonly<Record<string, unknown>>;
}

export interface DataSourceUrls {
  /** e.g. `http://prometheus:9090` */
  readonly prometheusUrl: string;
  /** Jaeger's query service, e.g. `http://jaeger:16686` */
  readonly jaegerUrl: string;
}

/**
 * Grafana's data-source provisioning file (`/etc/grafana/provisioning/datasources/*.yaml`; JSON
 * is valid YAML). The uids are the ones the dashboards refer to.
 */
export function grafanaDataSources(urls: DataSourceUrls): object {
  return {
    apiVersion: 1,
    datasources: [
      {
        name: 'Prometheus',
        type: 'prometheus',
        uid: PROMETHEUS_UID,
        access: 'proxy',
        url: urls.prometheusUrl,
        isDefault: true,
        editable: false,
        jsonData: { timeInterval: '15s' },
      },
      jaegerDataSource(urls.jaegerUrl),
    ],
  };
}

/**
 * The Jaeger entry of Grafana's data sources alone (uid `jaeger`, which the dashboards use), for a
 * Grafana that provisions its Prometheus source itself. `url` is Jaeger's query service, e.g.
 * `http://jaeger:16686`.
 */
export function jaegerDataSource(url: string): GrafanaDataSource {
  return { name: 'Jaeger', type: 'jaeger', uid: TRACES_UID, access: 'proxy', url, editable: false };
}

/** Grafana's dashboard-provider file: load every JSON file in `path` (the mounted ConfigMap). */
export function grafanaDashboardProvider(path: string): object {
  return {
    apiVersion: 1,
    providers: [
      {
        name: 'taskmesh',
        folder: 'Taskmesh',
        type: 'file',
        disableDeletion: true,
        allowUiUpdates: false,
        updateIntervalSeconds: 30,
        options: { path, foldersFromFilesStructure: false },
      },
    ],
  };
}

export interface CollectorOptions {
  /** Where traces go, OTLP over gRPC, e.g. `jaeger:4317`. */
  readonly tracesEndpoint: string;
  /** Memory the collector may use before it refuses data. @default 200 */
  readonly memoryLimitMiB?: number;
}

/**
 * An OpenTelemetry Collector configuration: OTLP in (gRPC 4317, HTTP 4318), batched, out to the
 * trace back end; health check on 13133 for the probes. Services point
 * OTEL_EXPORTER_OTLP_ENDPOINT at `http://<collector>:4318`.
 */
export function otelCollectorConfig(opts: CollectorOptions): object {
  return {
    receivers: {
      otlp: { protocols: { grpc: { endpoint: '0.0.0.0:4317' }, http: { endpoint: '0.0.0.0:4318' } } },
    },
    processors: {
      memory_limiter: {
        check_interval: '1s',
        limit_mib: opts.memoryLimitMiB ?? 200,
        spike_limit_mib: Math.round((opts.memoryLimitMiB ?? 200) / 4),
      },
      batch: { timeout: '5s', send_batch_size: 512 },
    },
    exporters: {
      'otlp/traces': { endpoint: opts.tracesEndpoint, tls: { insecure: true } },
    },
    extensions: { health_check: { endpoint: '0.0.0.0:13133' } },
    service: {
      extensions: ['health_check'],
      pipelines: {
        traces: { receivers: ['otlp'], processors: ['memory_limiter', 'batch'], exporters: ['otlp/traces'] },
      },
    },
  };
}
