/**
 * How a pipeline kind reads on the dashboard: the names its key metrics go by for that kind,
 * and the title of the section of its own metrics (`pipelineMetrics.additional`). Keyed by
 * `PipelineKind.name`, so ingestion constructs only publish labelled metrics and their widgets
 * appear here with no change to observability.
 */
export interface KindProfile {
  readonly title: string;
  readonly throughput: string;
  readonly errors: string;
  readonly lag: string;
  readonly particular: string;
}

const PROFILES: { [kind: string]: KindProfile } = {
  'streaming': {
    title: 'streaming',
    throughput: 'Records ingested',
    errors: 'Processing errors',
    lag: 'Iterator age (ms)',
    particular: 'Stream: iterator age, duplicate ratio',
  },
  'cdc': {
    title: 'change data capture',
    throughput: 'Changes captured',
    errors: 'Task and merge errors',
    lag: 'CDC latency (ms)',
    particular: 'CDC: replication latency, merge duration',
  },
  'api-pull': {
    title: 'API pull',
    throughput: 'Records pulled',
    errors: 'Failed runs',
    lag: 'Watermark lag (ms)',
    particular: 'Runs: outcomes, pages pulled',
  },
  'serving': {
    title: 'serving',
    throughput: 'Queries',
    errors: 'Failed queries',
    lag: 'Query latency (ms)',
    particular: 'Serving: bytes scanned, failed queries',
  },
};

/** The profile of a kind; an unknown kind (a user's own) reads generically. */
export function kindProfile(kind: string): KindProfile {
  return PROFILES[kind] ?? {
    title: kind,
    throughput: 'Throughput',
    errors: 'Errors',
    lag: 'Lag (ms)',
    particular: `More metrics (${kind})`,
  };
}
