import { Duration, Stack, TimeZone } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { IcebergMaintenanceOptions, QueryAccess, ReportFormat, ScheduledQueryOptions } from './athena-serving-props';
import { validateQueryName, validateScheduleText, validateSql } from './validation';
import { ILakehouse } from '../core/lake';
import { acknowledgeScheduleRole, suppressNag } from '../core/nag';
import { validateScheduleExpression } from '../core/schedule';
import { propError, validateGlueName } from '../core/validation';
import { RawTable } from '../lakehouse/raw-table';

/**
 * What a scheduled workflow uses of its serving layer: the workgroup, the results bucket and its
 * key, the topic, the log group, the schedules' dead-letter queue and the query grant.
 * `AthenaServing` implements it (declared here so that this file never imports athena-serving.ts).
 */
export interface IQueryServing {
  /** The lake the workgroup queries. */
  readonly lake: ILakehouse;
  /** Name of the Athena workgroup. */
  readonly workGroupName: string;
  /** Bucket of query results and reports. */
  readonly resultsBucket: s3.IBucket;
  /** Key of the results. */
  readonly resultsEncryptionKey: kms.IKey;
  /** Prefix of the reports in the results bucket. */
  readonly reportsPrefix: string;
  /** Database a query runs in by default. */
  readonly defaultDatabase: string;
  /** Topic told about runs. */
  readonly notificationTopic: sns.ITopic;
  /** Where schedules put the runs they could not start. */
  readonly scheduleDeadLetterQueue: sqs.Queue;
  /** Log group of the workflows. */
  readonly logGroup: logs.LogGroup;
  /** Lets a principal run queries in the workgroup over what `access` names. */
  grantQuery(grantee: iam.IGrantable, access?: QueryAccess): iam.Grant;
}

/** Props of a `ScheduledQuery`: its options and the serving layer whose workgroup it uses. */
export interface ScheduledQueryProps extends ScheduledQueryOptions {
  /** The workgroup, results bucket and topic the query uses (an `AthenaServing`). */
  readonly serving: IQueryServing;
}

/** Props of an `IcebergMaintenance`. */
export interface IcebergMaintenanceProps extends IcebergMaintenanceOptions {
  /** The workgroup and topic the maintenance uses (an `AthenaServing`). */
  readonly serving: IQueryServing;
}

/** One Athena statement of a workflow: literal SQL, or a JSONata expression building it. */
interface Statement {
  readonly id: string;
  readonly queryString: string;
  readonly database: string;
}

/** What `buildWorkflow` needs. */
interface WorkflowSpec {
  readonly serving: IQueryServing;
  readonly name: string;
  readonly kind: string;
  readonly schedule: scheduler.ScheduleExpression;
  readonly timeout: Duration;
  readonly enabled: boolean;
  readonly description?: string;
  /** Extra assignments of the first state (literal strings the statements combine). */
  readonly assign?: Record<string, string>;
  readonly statements: Statement[];
  /** A state that runs after the statements (e.g. copying the report). */
  readonly afterQueries?: (catchTo: sfn.IChainable) => sfn.TaskStateBase | undefined;
  /** JSONata expression of the report's S3 URL in the success message. */
  readonly reportUrl?: string;
}

/** What `buildWorkflow` makes. */
interface Workflow {
  readonly stateMachine: sfn.StateMachine;
  readonly schedule: scheduler.Schedule;
}

// The run key: the scheduled time the scheduler passes (stable when the scheduler retries the
// same run), or the execution's start time for a run started by hand, made safe for S3 keys and
// UNLOAD paths (no ':').
const RUN_KEY = "{% $replace($exists($states.input.runKey) ? $string($states.input.runKey) : $states.context.Execution.StartTime, /[^A-Za-z0-9._=-]/, '-') %}";

/**
 * Schedule → Step Functions workflow (JSONata) that runs Athena statements in the workgroup with
 * `startQueryExecution.sync` (waits for the query, retries throttling, stops the query on
 * timeout), then notifies the topic on success and on failure. A failed run still ends FAILED,
 * so the execution metrics and EventBridge events see it.
 */
function buildWorkflow(scope: Construct, spec: WorkflowSpec): Workflow {
  const serving = spec.serving;
  const stack = Stack.of(scope);

  const prepare = sfn.Pass.jsonata(scope, 'Prepare', {
    comment: 'Fix the run key the report is named after',
    assign: { runKey: RUN_KEY, ...spec.assign },
  });

  const failed = sfn.Fail.jsonata(scope, 'Failed', {
    error: 'ScheduledQueryFailed',
    cause: '{% $string($states.input.Error) & \': \' & $string($states.input.Cause) %}',
  });
  const notifyFailure = tasks.SnsPublish.jsonata(scope, 'NotifyFailure', {
    topic: serving.notificationTopic,
    subject: `${spec.kind} failed: ${spec.name}`.slice(0, 100),
    message: sfn.TaskInput.fromText(
      `{% $string({'status': 'FAILED', 'query': '${spec.name}', 'workGroup': '${serving.workGroupName}', 'runKey': $runKey, 'error': $states.input.Error, 'cause': $states.input.Cause, 'execution': $states.context.Execution.Id}) %}`),
    // Keep the error so the Fail state can report it.
    outputs: '{% $states.input %}',
  });
  notifyFailure.next(failed);

  let chain: sfn.Chain = sfn.Chain.start(prepare);
  spec.statements.forEach((statement, i) => {
    const task = new sfn.CustomState(scope, statement.id, {
      stateJson: {
        Type: 'Task',
        Resource: `arn:${stack.partition}:states:::athena:startQueryExecution.sync`,
        Arguments: {
          QueryString: statement.queryString,
          WorkGroup: serving.workGroupName,
          QueryExecutionContext: { Catalog: 'AwsDataCatalog', Database: statement.database },
        },
        TimeoutSeconds: spec.timeout.toSeconds(),
        Assign: i === spec.statements.length - 1 ? {
          queryExecutionId: '{% $states.result.QueryExecution.QueryExecutionId %}',
          resultLocation: '{% $states.result.QueryExecution.ResultConfiguration.OutputLocation %}',
        } : undefined,
      },
    });
    // Athena rejects new queries above the account's concurrency quota; those are safe to retry
    // (no query was created). A query that ran and failed is not retried.
    task.addRetry({
      errors: ['Athena.TooManyRequestsException'],
      interval: Duration.seconds(10),
      maxAttempts: 6,
      backoffRate: 2,
      jitterStrategy: sfn.JitterType.FULL,
    });
    task.addCatch(notifyFailure, { errors: ['States.ALL'] });
    chain = chain.next(task);
  });

  const after = spec.afterQueries?.(notifyFailure);
  if (after) chain = chain.next(after);

  const reportUrl = spec.reportUrl ?? "''";
  const notifySuccess = tasks.SnsPublish.jsonata(scope, 'NotifySuccess', {
    topic: serving.notificationTopic,
    subject: `${spec.kind} ready: ${spec.name}`.slice(0, 100),
    message: sfn.TaskInput.fromText(
      `{% $string({'status': 'SUCCEEDED', 'query': '${spec.name}', 'workGroup': '${serving.workGroupName}', 'runKey': $runKey, 'report': ${reportUrl}, 'queryExecutionId': $queryExecutionId, 'execution': $states.context.Execution.Id}) %}`),
  });
  // A report exists even when the notice cannot be sent: retry, then fail the run so it is seen.
  notifySuccess.addRetry({ errors: ['States.ALL'], maxAttempts: 3, interval: Duration.seconds(5), backoffRate: 2 });
  chain = chain.next(notifySuccess);

  const stateMachine = new sfn.StateMachine(scope, 'StateMachine', {
    queryLanguage: sfn.QueryLanguage.JSONATA,
    definitionBody: sfn.DefinitionBody.fromChainable(chain),
    comment: `${spec.kind} ${spec.name} in Athena workgroup ${serving.workGroupName}`,
    logs: { destination: serving.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    tracingEnabled: true,
  });
  // The topic's key, whether AthenaServing created the topic or the user brought one with its own key.
  serving.notificationTopic.masterKey?.grant(stateMachine, 'kms:Decrypt', 'kms:GenerateDataKey');

  const schedule = new scheduler.Schedule(scope, 'Schedule', {
    // Without a time zone, UTC is written out, so the template says which zone a cron runs in.
    schedule: spec.schedule.timeZone ? spec.schedule : scheduler.ScheduleExpression.expression(spec.schedule.expressionString, TimeZone.ETC_UTC),
    description: spec.description ?? `${spec.kind} ${spec.name} (Athena workgroup ${serving.workGroupName})`,
    enabled: spec.enabled,
    target: new targets.StepFunctionsStartExecution(stateMachine, {
      input: scheduler.ScheduleTargetInput.fromObject({ runKey: scheduler.ContextAttribute.scheduledTime }),
      deadLetterQueue: serving.scheduleDeadLetterQueue,
      retryAttempts: 3,
      maxEventAge: Duration.hours(1),
    }),
  });
  acknowledgeScheduleRole(schedule, `Scheduled workflow ${spec.name} of Athena workgroup ${serving.workGroupName}`);
  // The workflow's own findings are explained where they are made, so users inherit no noise.
  suppressNag(stateMachine.role.node.findChild('DefaultPolicy'), [{
    id: 'AwsSolutions-IAM5',
    reason: 'Step Functions log delivery (logs:*LogDelivery, DescribeLogGroups, PutResourcePolicy) and X-Ray tracing '
      + 'support no resource-level permissions, so they need Resource "*"; the other wildcards are object ARNs under the '
      + 'workgroup\'s results and report prefixes or the prefixes of the zones and tables the query reads, and the '
      + 'tables of a read zone\'s Glue database.',
    appliesTo: [
      'Resource::*',
      '/^Resource::<.+\\.Arn>\\/([A-Za-z0-9_.=-]+\\/)*\\*$/',
      '/^Resource::arn:<AWS::Partition>:glue:(<AWS::Region>|[a-z0-9-]+):(<AWS::AccountId>|[0-9]{12}):table\\/[a-z0-9_]+\\/\\*$/',
    ],
  }]);
  return { stateMachine, schedule };
}

/** What every scheduled Athena workflow offers: its state machine, schedule and metrics. */
export abstract class ScheduledWorkflow extends Construct {
  /** The workflow that runs the statements and notifies. */
  public abstract readonly stateMachine: sfn.StateMachine;
  /** The EventBridge Scheduler schedule that starts the workflow. */
  public abstract readonly schedule: scheduler.Schedule;

  /**
   * Runs started per period (Sum, 5 minutes).
   * @param props overrides of the metric's statistic, period, label, dimensions...
   */
  public metricRuns(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricStarted({ statistic: 'Sum', period: Duration.minutes(5), ...props });
  }

  /**
   * Runs that failed per period (Sum, 5 minutes); timeouts and throttling end as failures.
   * @param props overrides of the metric's statistic, period, label, dimensions...
   */
  public metricFailures(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricFailed({ statistic: 'Sum', period: Duration.minutes(5), ...props });
  }

  /**
   * How long runs take, in milliseconds (Maximum, 5 minutes).
   * @param props overrides of the metric's statistic, period, label, dimensions...
   */
  public metricDuration(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricTime({ statistic: 'Maximum', period: Duration.minutes(5), ...props });
  }
}

/**
 * A query that runs on a schedule and leaves its result as a report with a stable name per run:
 * `s3://<results bucket>/<reports prefix><queryName>/<run>.csv` (CSV) or the folder
 * `.../<queryName>/<run>/` (Parquet via UNLOAD), where `<run>` is the scheduled time (e.g.
 * `2030-01-31T06-00-00Z`; the start time for a run started by hand, or the `runKey` of the
 * execution input). A re-run of the same scheduled time overwrites the CSV; UNLOAD refuses to
 * write into a folder that already has files, so a Parquet report is never doubled.
 *
 * Usually made with `AthenaServing.addScheduledQuery`.
 *
 * @example
 * declare const serving: AthenaServing;
 * declare const orders: IcebergTable;
 *
 * const report = serving.addScheduledQuery('WeeklyOrders', {
 *   queryName: 'weekly-orders',
 *   sql: 'SELECT count(*) AS orders FROM orders',
 *   schedule: scheduler.ScheduleExpression.cron({ minute: '0', hour: '7', weekDay: 'MON' }),
 *   reads: { tables: [orders] },
 * });
 * // Where this query's reports land, e.g. for a downstream consumer.
 * new CfnOutput(this, 'WeeklyOrdersReports', { value: report.reportsUrl });
 */
export class ScheduledQuery extends ScheduledWorkflow {
  /** Name of the report. */
  public readonly queryName: string;
  /** Format of the report. */
  public readonly format: ReportFormat;
  /** `s3://` URL of the folder holding this query's reports. */
  public readonly reportsUrl: string;
  public readonly stateMachine: sfn.StateMachine;
  /** The EventBridge Scheduler schedule that starts the workflow. */
  public readonly schedule: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: ScheduledQueryProps) {
    super(scope, id);
    const serving = props.serving;
    validateQueryName('ScheduledQuery', 'queryName', props.queryName);
    const sql = validateSql('ScheduledQuery', 'sql', props.sql);
    validateScheduleText('ScheduledQuery', 'schedule', props.schedule.expressionString);
    validateScheduleExpression('ScheduledQuery', 'schedule', props.schedule);
    this.queryName = props.queryName;
    this.format = props.format ?? ReportFormat.CSV;
    const database = props.database ?? serving.defaultDatabase;
    validateGlueName('ScheduledQuery', 'database', database);

    const folder = `${serving.reportsPrefix}${props.queryName}/`;
    const bucketName = serving.resultsBucket.bucketName;
    this.reportsUrl = `s3://${bucketName}/${folder}`;

    let statement: Statement;
    let assign: Record<string, string> | undefined;
    let reportUrl: string;
    let afterQueries: ((catchTo: sfn.IChainable) => sfn.TaskStateBase) | undefined;
    if (this.format === ReportFormat.PARQUET) {
      if (!/^(select|with)\b/i.test(sql)) {
        throw propError('ScheduledQuery', 'sql', 'a Parquet report is written with UNLOAD, which takes a SELECT only',
          'give a SELECT (or WITH ... SELECT) statement, or use ReportFormat.CSV');
      }
      // The SQL stays a literal string (never parsed as JSONata); only the run key is spliced in.
      assign = {
        unloadHead: `UNLOAD (${sql}) TO '${this.reportsUrl}`,
        unloadTail: "/' WITH (format = 'PARQUET', compression = 'SNAPPY')",
      };
      statement = { id: 'RunQuery', queryString: '{% $unloadHead & $runKey & $unloadTail %}', database };
      reportUrl = `'${this.reportsUrl}' & $runKey & '/'`;
    } else {
      statement = { id: 'RunQuery', queryString: sql, database };
      reportUrl = `'${this.reportsUrl}' & $runKey & '.csv'`;
      // The workgroup enforces its results location, so the result file is named after the
      // query id; copy it to the stable report name.
      afterQueries = (catchTo) => {
        const copy = tasks.CallAwsService.jsonata(this, 'CopyReport', {
          service: 's3',
          action: 'copyObject',
          parameters: {
            Bucket: bucketName,
            Key: `{% '${folder}' & $runKey & '.csv' %}`,
            CopySource: "{% $substringAfter($resultLocation, 's3://') %}",
            ContentType: 'text/csv',
            ServerSideEncryption: 'aws:kms',
            SSEKMSKeyId: serving.resultsEncryptionKey.keyArn,
          },
          iamAction: 's3:PutObject',
          iamResources: [serving.resultsBucket.arnForObjects(`${folder}*`)],
        });
        copy.addRetry({ errors: ['States.ALL'], maxAttempts: 3, interval: Duration.seconds(5), backoffRate: 2 });
        copy.addCatch(catchTo, { errors: ['States.ALL'] });
        return copy;
      };
    }

    const workflow = buildWorkflow(this, {
      serving,
      name: props.queryName,
      kind: 'Report',
      schedule: props.schedule,
      timeout: props.timeout ?? Duration.hours(1),
      enabled: props.enabled ?? true,
      description: props.description,
      assign,
      statements: [statement],
      afterQueries,
      reportUrl,
    });
    this.stateMachine = workflow.stateMachine;
    this.schedule = workflow.schedule;

    // The workflow queries as itself: the workgroup, the data it reads, and its own reports.
    serving.grantQuery(this.stateMachine, props.reads ?? { zones: [serving.lake.curated] });
    // Explicit actions: Bucket.grantPut would add wildcard ones (s3:Abort*, kms:GenerateDataKey*).
    this.stateMachine.addToRolePolicy(new iam.PolicyStatement({
      actions: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
      resources: [serving.resultsBucket.arnForObjects(`${folder}*`)],
    }));
  }
}

/**
 * Scheduled `OPTIMIZE ... REWRITE DATA USING BIN_PACK` and `VACUUM` of one Iceberg table, for
 * tables the Glue table optimizers do not cover. Usually made with
 * `AthenaServing.addIcebergMaintenance`.
 *
 * @example
 * declare const serving: AthenaServing;
 * declare const events: IcebergTable;
 *
 * // Compact and vacuum every Sunday night; the Glue optimizers are off for this table.
 * serving.addIcebergMaintenance('EventsMaintenance', {
 *   table: events,
 *   schedule: scheduler.ScheduleExpression.cron({ minute: '0', hour: '2', weekDay: 'SUN' }),
 * });
 */
export class IcebergMaintenance extends ScheduledWorkflow {
  public readonly stateMachine: sfn.StateMachine;
  /** The EventBridge Scheduler schedule that starts the workflow. */
  public readonly schedule: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: IcebergMaintenanceProps) {
    super(scope, id);
    const table = props.table;
    const optimize = props.optimize ?? true;
    const vacuum = props.vacuum ?? true;
    if (table instanceof RawTable) {
      throw propError('IcebergMaintenance', 'table', `"${table.tableName}" is a raw table; OPTIMIZE and VACUUM work on Iceberg tables only`,
        'pass an IcebergTable (lake.addIcebergTable), or drop the maintenance');
    }
    validateScheduleText('IcebergMaintenance', 'schedule', props.schedule.expressionString);
    validateScheduleExpression('IcebergMaintenance', 'schedule', props.schedule);
    if (!optimize && !vacuum) {
      throw propError('IcebergMaintenance', 'optimize', 'both "optimize" and "vacuum" are false, so there is nothing to run',
        'leave at least one of them on, or remove the maintenance');
    }
    const database = table.zone.databaseName;
    const statements: Statement[] = [];
    if (optimize) statements.push({ id: 'Optimize', queryString: `OPTIMIZE ${table.tableName} REWRITE DATA USING BIN_PACK`, database });
    if (vacuum) statements.push({ id: 'Vacuum', queryString: `VACUUM ${table.tableName}`, database });

    const workflow = buildWorkflow(this, {
      serving: props.serving,
      name: `${database}.${table.tableName}`,
      kind: 'Maintenance',
      schedule: props.schedule,
      timeout: props.timeout ?? Duration.hours(2),
      enabled: true,
      statements,
    });
    this.stateMachine = workflow.stateMachine;
    this.schedule = workflow.schedule;

    // Rewriting files and expiring snapshots writes the table (data, metadata, catalog entry).
    props.serving.grantQuery(this.stateMachine);
    table.grantReadWrite(this.stateMachine);
  }
}
