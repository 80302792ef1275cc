import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  DataPipeline, FreshnessSignal, IDataPipeline, LakeLayout, PipelineKind, PipelineMetrics, QuarantineLocation,
} from '../src';

/** A user's own tiny pipeline: a queue-fed job, implementing the contract by hand. */
class NightlyExport extends Construct implements IDataPipeline {
  public readonly pipelineName = 'nightly-export';
  public readonly pipelineKind = PipelineKind.of('batch-export');
  public readonly pipelineMetrics: PipelineMetrics;
  public readonly freshness: FreshnessSignal[];
  public readonly deadLetterQueues: sqs.IQueue[];
  public readonly quarantines: QuarantineLocation[];
  public readonly pipelineAlarms: cloudwatch.IAlarm[];
  public readonly failureEvents: events.EventPattern[] = [{ source: ['aws.glue'], detail: { jobName: ['nightly-export'], state: ['FAILED'] } }];
  public readonly logGroups: logs.ILogGroup[];

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const dlq = new sqs.Queue(this, 'Dlq');
    const bucket = new s3.Bucket(this, 'Out');
    const rows = new cloudwatch.Metric({ namespace: 'MyTeam', metricName: 'RowsExported', statistic: 'Sum' });
    this.pipelineMetrics = {
      throughput: rows,
      errors: new cloudwatch.Metric({ namespace: 'MyTeam', metricName: 'ExportErrors', statistic: 'Sum' }),
    };
    this.freshness = [{ dataset: 'exports', arrivals: rows, expectedInterval: Duration.hours(25) }];
    this.deadLetterQueues = [dlq];
    this.quarantines = [{
      bucket,
      prefix: LakeLayout.quarantinePrefix('exports'),
      count: new cloudwatch.Metric({ namespace: 'MyTeam', metricName: 'Quarantined', statistic: 'Sum' }),
    }];
    this.pipelineAlarms = [dlq.metricApproximateNumberOfMessagesVisible().createAlarm(this, 'DlqAlarm', { threshold: 1, evaluationPeriods: 1 })];
    this.logGroups = [new logs.LogGroup(this, 'Logs')];
  }
}

/** What an observer (PipelineObservability) reads: anything implementing the contract works. */
function describePipeline(p: IDataPipeline) {
  return {
    name: p.pipelineName,
    kind: p.pipelineKind.name,
    hasLag: p.pipelineMetrics.lagMillis !== undefined,
    extra: (p.pipelineMetrics.additional ?? []).map((m) => m.label),
    freshness: p.freshness.map((f) => `${f.dataset}<=${f.expectedInterval.toHours()}h`),
    dlqs: p.deadLetterQueues.length,
    quarantines: p.quarantines.map((q) => q.prefix),
    alarms: p.pipelineAlarms.length,
    failureSources: p.failureEvents.flatMap((e) => e.source ?? []),
    logGroups: p.logGroups.length,
  };
}

describe('the pipeline contract', () => {
  test('a user-written class implements it and an observer can read everything it declares', () => {
    const stack = new Stack();
    expect(describePipeline(new NightlyExport(stack, 'Export'))).toEqual({
      name: 'nightly-export',
      kind: 'batch-export',
      hasLag: false,
      extra: [],
      freshness: ['exports<=25h'],
      dlqs: 1,
      quarantines: ['_quarantine/exports/'],
      alarms: 1,
      failureSources: ['aws.glue'],
      logGroups: 1,
    });
  });

  test('DataPipeline describes an existing pipeline from plain values, with empty defaults and no resources', () => {
    const stack = new Stack();
    const pipeline = new DataPipeline(stack, 'Legacy', {
      pipelineName: 'legacy-feed',
      metrics: {
        throughput: new cloudwatch.Metric({ namespace: 'Legacy', metricName: 'In' }),
        errors: new cloudwatch.Metric({ namespace: 'Legacy', metricName: 'Errors' }),
        lagMillis: new cloudwatch.Metric({ namespace: 'Legacy', metricName: 'LagMs' }),
        additional: [{ label: 'Batches', metric: new cloudwatch.Metric({ namespace: 'Legacy', metricName: 'Batches' }) }],
      },
    });
    expect(describePipeline(pipeline)).toEqual({
      name: 'legacy-feed', kind: 'custom', hasLag: true, extra: ['Batches'], freshness: [], dlqs: 0, quarantines: [], alarms: 0, failureSources: [], logGroups: 0,
    });
    expect(Object.keys(stack.resolve((stack as any)._toCloudFormation()).Resources ?? {})).toEqual([]);
  });

  test('DataPipeline requires a name', () => {
    const metrics = { throughput: new cloudwatch.Metric({ namespace: 'N', metricName: 'M' }), errors: new cloudwatch.Metric({ namespace: 'N', metricName: 'E' }) };
    expect(() => new DataPipeline(new Stack(), 'P', { pipelineName: ' ', metrics }))
      .toThrow(/DataPipeline: invalid prop "pipelineName": it is empty/);
  });

  test('the shared layout puts data, quarantine and ops data under fixed prefixes', () => {
    expect(LakeLayout.dataPrefix('/events/')).toBe('events/');
    expect(LakeLayout.quarantinePrefix('events')).toBe('_quarantine/events/');
    expect(LakeLayout.opsPrefix('logs')).toBe('_ops/logs/');
    expect(PipelineKind.STREAMING.name).toBe('streaming');
    expect(PipelineKind.CDC.name).toBe('cdc');
    expect(PipelineKind.API_PULL.name).toBe('api-pull');
    expect(PipelineKind.SERVING.name).toBe('serving');
  });
});
