/** Namespace of the puller's metrics unless configured otherwise. */
export const DEFAULT_NAMESPACE = 'CdkLakehouse/ApiPull';

/** Names of the metrics the puller emits (per pipeline, and per pipeline and endpoint). */
export const METRIC_NAMES = {
  pages: 'PagesPulled',
  bytes: 'BytesPulled',
  records: 'RecordsPulled',
  quarantined: 'PagesQuarantined',
  runsLanded: 'RunsLanded',
  watermarkAdvanced: 'WatermarkAdvanced',
  watermarkAge: 'WatermarkAgeMillis',
} as const;

const UNITS: Record<string, string> = {
  [METRIC_NAMES.bytes]: 'Bytes',
  [METRIC_NAMES.watermarkAge]: 'Milliseconds',
};

/**
 * Writes one CloudWatch Embedded Metric Format line: CloudWatch turns the log line into metrics
 * with two dimension sets (pipeline, and pipeline + endpoint). No API call, no extra permission.
 */
export function emfLine(namespace: string, pipeline: string, endpoint: string, values: Record<string, number>, now: Date): string {
  return JSON.stringify({
    _aws: {
      Timestamp: now.getTime(),
      CloudWatchMetrics: [{
        Namespace: namespace,
        Dimensions: [['Pipeline'], ['Pipeline', 'Endpoint']],
        Metrics: Object.keys(values).map((name) => ({ Name: name, Unit: UNITS[name] ?? 'Count' })),
      }],
    },
    Pipeline: pipeline,
    Endpoint: endpoint,
    ...values,
  });
}
