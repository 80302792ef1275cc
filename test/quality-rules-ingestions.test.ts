/**
 * Quality rules on the three ingestions (issue 17): each declares rules next to its curated
 * tables (CdcIngestion's table specs, ApiPullIngestion's endpoints, StreamingDedupIngestion's one
 * dataset), validation names the user's prop, the merge job gets the rules keyed by the curated
 * table name it writes, the audit alarm joins the pipeline's alarms, and PipelineObservability
 * shows audits passed and failed and the published data age per table.
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { cdcProps, cdcScaffold } from './cdc-fixtures';
import {
  ApiPullIngestion, ApiPullIngestionProps, CdcIngestion, CdcIngestionProps, IDataPipeline, LakehouseTier, PipelineObservability,
  QualityRule, RuleSeverity, StreamingDedupIngestion, StreamingDedupIngestionProps,
} from '../src';

const jobArguments = (stack: Stack, jobName: string) => {
  const jobs = Template.fromStack(stack).findResources('AWS::Glue::Job');
  const job = Object.values(jobs).find((j) => j.Properties.Name === jobName)!;
  return job.Properties.DefaultArguments;
};

function cdc(overrides: Partial<CdcIngestionProps> = {}) {
  const s = cdcScaffold();
  const pipeline = new CdcIngestion(s.stack, 'Shop', cdcProps(s, overrides));
  return { stack: s.stack, lake: s.lake, pipeline };
}

function apiPull(endpoints: Partial<ApiPullIngestionProps['endpoints'][number]>[]) {
  const stack = new Stack(new App(), 'Api');
  const lake = new LakehouseTier(stack, 'Lake');
  const pipeline = new ApiPullIngestion(stack, 'Shop', {
    lake,
    pipelineName: 'shop',
    endpoints: endpoints.map((e, i) => ({
      name: `ep${i}`,
      url: 'https://api.example.com/v1/items',
      schedule: scheduler.ScheduleExpression.rate(Duration.hours(1)),
      recordIdField: 'id',
      ...e,
    })),
  });
  return { stack, lake, pipeline };
}

function streaming(props: Partial<StreamingDedupIngestionProps> = {}) {
  const stack = new Stack(new App(), 'Streaming');
  const lake = new LakehouseTier(stack, 'Lake');
  const pipeline = new StreamingDedupIngestion(stack, 'Events', { lake, ...props });
  return { stack, lake, pipeline };
}

/** The audit alarm is one of the pipeline's alarms; its quality signals are on its freshness. */
function expectAuditContract(pipeline: IDataPipeline & { merge?: any; transform?: any }, table: string) {
  const merge = pipeline.merge ?? pipeline.transform;
  expect(merge.auditFailureAlarm).toBeDefined();
  expect(pipeline.pipelineAlarms).toContain(merge.auditFailureAlarm);
  const signal = pipeline.freshness.find((f) => (f.arrivals as any).dimensions?.Table === table)!;
  expect((signal.auditsPassed as any).dimensions).toEqual({ Pipeline: pipeline.pipelineName, Table: table });
  expect((signal.auditsFailed as any).metricName).toBe('AuditsFailed');
  expect((signal.publishedDataAge as any).metricName).toBe('CommitAgeSeconds');
}

describe('CdcIngestion: tables[].qualityRules', () => {
  test('the rules reach the merge job under the curated table name; the pattern and unruled tables get none', () => {
    const { stack, pipeline } = cdc({
      tables: [
        { name: 'public.orders', primaryKey: ['id'], qualityRules: [QualityRule.isUnique(['id']), QualityRule.columnValues('amount', { min: 0 }, { severity: RuleSeverity.WARN })] },
        { name: 'sales.*', primaryKey: ['id'] },
        { name: 'public.customers', primaryKey: ['id'] },
      ],
    });
    const args = jobArguments(stack, pipeline.merge.jobName);
    expect(JSON.parse(args['--quality_rules'])).toEqual({
      version: 1,
      tables: { shop_public_orders: [{ rule: 'IsUnique', columns: ['id'], severity: 'block' }, { rule: 'ColumnValues', column: 'amount', min: 0, severity: 'warn' }] },
    });
    expect(pipeline.merge.auditedTables).toEqual(['shop_public_orders']);
    expectAuditContract(pipeline, 'shop_public_orders');
    const customers = pipeline.freshness.find((f) => f.dataset === 'shop_public_customers')!;
    expect(customers.auditsPassed).toBeUndefined();
    expect(customers.publishedDataAge).toBeDefined();
  });

  test('without rules (default): no --quality_rules, no audit alarm', () => {
    const { stack, pipeline } = cdc();
    expect(jobArguments(stack, pipeline.merge.jobName)['--quality_rules']).toBeUndefined();
    expect(pipeline.merge.auditFailureAlarm).toBeUndefined();
    expect(pipeline.pipelineAlarms).toHaveLength(2);
  });

  test('errors name the table spec', () => {
    expect(() => cdc({ tables: [{ name: 'sales.*', primaryKey: ['id'], qualityRules: [QualityRule.isComplete('id')] }] }))
      .toThrow(/CdcIngestion: invalid prop "tables\[0\]\.qualityRules": "sales\.\*" is a pattern.*Fix: declare the tables that need rules by their full name/);
    expect(() => cdc({ tables: [{ name: 'public.orders', primaryKey: ['id'] }, { name: 'public.items', primaryKey: ['id'], qualityRules: [QualityRule.isComplete('')] }] }))
      .toThrow(/CdcIngestion: invalid prop "tables\[1\]\.qualityRules\[0\]\.column"/);
  });
});

describe('ApiPullIngestion: endpoints[].qualityRules', () => {
  test('the rules reach the transform job under the endpoint\'s table name', () => {
    const { stack, pipeline } = apiPull([
      { tableName: 'items', qualityRules: [QualityRule.isComplete('id'), QualityRule.rowCountChange({ maxDecreasePercent: 5 })] },
      { tableName: 'prices' },
    ]);
    expect(JSON.parse(jobArguments(stack, pipeline.transform.jobName)['--quality_rules']).tables).toEqual({
      items: [{ rule: 'IsComplete', column: 'id', severity: 'block' }, { rule: 'RowCountChange', maxDecreasePercent: 5, severity: 'block' }],
    });
    expectAuditContract(pipeline, 'items');
  });

  test('endpoints sharing a table declare its rules once', () => {
    expect(() => apiPull([
      { tableName: 'items', qualityRules: [QualityRule.isComplete('id')] },
      { tableName: 'items', qualityRules: [QualityRule.isComplete('id')] },
    ])).toThrow(/ApiPullIngestion: invalid prop "endpoints\[1\]\.qualityRules": curated table "items" already has rules from endpoints\[0\]\.qualityRules/);
    expect(() => apiPull([{ qualityRules: [QualityRule.customSql('x', 'SELECT 1')] }])).toThrow(/"endpoints\[0\]\.qualityRules\[0\]\.sql"/);
  });
});

describe('StreamingDedupIngestion: qualityRules', () => {
  test('the rules reach the merge job under the dataset name', () => {
    const { stack, pipeline } = streaming({ datasetName: 'app_events', qualityRules: [QualityRule.isUnique(['event_id']), QualityRule.freshness('event_time', Duration.hours(2))] });
    expect(JSON.parse(jobArguments(stack, pipeline.merge.jobName)['--quality_rules']).tables).toEqual({
      app_events: [{ rule: 'IsUnique', columns: ['event_id'], severity: 'block' }, { rule: 'Freshness', column: 'event_time', maxAgeSeconds: 7200, severity: 'block' }],
    });
    expectAuditContract(pipeline, 'app_events');
  });

  test('errors name the prop', () => {
    expect(() => streaming({ qualityRules: [QualityRule.columnValues('n', { min: 2, max: 1 })] })).toThrow(/StreamingDedupIngestion: invalid prop "qualityRules\[0\]\.min"/);
  });
});

test('PipelineObservability: audits passed and failed and the published data age per table; the audit alarm notifies the alert topic', () => {
  const { stack, lake, pipeline } = streaming({ datasetName: 'app_events', qualityRules: [QualityRule.isUnique(['event_id'])] });
  const observability = new PipelineObservability(stack, 'Ops', { lake, pipelines: [pipeline] });
  const template = Template.fromStack(stack);
  const body = JSON.stringify(Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0].Properties.DashboardBody);
  expect(body).toContain('Audits per table: passed (published) and failed (main unchanged)');
  expect(body).toMatch(/\\"CdkLakehouse\/Merge\\",\\"AuditsPassed\\",\\"Pipeline\\",\\"[^"\\]+\\",\\"Table\\",\\"app_events\\"/);
  expect(body).toMatch(/\\"CdkLakehouse\/Merge\\",\\"AuditsFailed\\",\\"Pipeline\\",\\"[^"\\]+\\",\\"Table\\",\\"app_events\\"/);
  expect(body).toContain('Freshness: age of the newest data when published (s)');
  expect(body).toMatch(/\\"CommitAgeSeconds\\",\\"Pipeline\\",\\"[^"\\]+\\",\\"Table\\",\\"app_events\\"/);
  const alarm = template.findResources('AWS::CloudWatch::Alarm');
  const audit = Object.entries(alarm).find(([id]) => id.includes('AuditFailureAlarm'))![1];
  expect(JSON.stringify(audit.Properties.AlarmActions)).toContain(stack.getLogicalId(observability.topic.node.defaultChild as any));
});
