import { Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { withDeadLetterKey } from './access';
import { NagReasons, suppressNag } from './nag';
import { propError } from './validation';

/**
 * EventBridge Scheduler pieces every construct of the library shares: the check that a schedule
 * expression parses, and the dead-letter queue of a construct's schedules with its alarm, its nag
 * acknowledgement and the one retry policy of every schedule target.
 */

const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;
const CRON = /^cron\((\S+ ){5}\S+\)$/;
const AT = /^at\(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\)$/;

/** Parts of a `rate(n unit)` expression, or undefined when the expression is not a rate. */
export function parseRate(text: string): { count: number; unitSeconds: number } | undefined {
  const rate = RATE.exec(text);
  if (!rate) return undefined;
  const unitSeconds = rate[2].startsWith('minute') ? 60 : rate[2].startsWith('hour') ? 3600 : 86400;
  return { count: Number(rate[1]), unitSeconds };
}

/**
 * Validates an EventBridge Scheduler expression where the user wrote it: `rate(1 hour)` /
 * `rate(n hours)` (singular for 1 only, as Scheduler parses it), `cron(` six fields `)` or
 * `at(yyyy-mm-ddThh:mm:ss)`. Unresolved tokens are left to the service.
 */
export function validateScheduleExpression(construct: string, prop: string, schedule: scheduler.ScheduleExpression | undefined): void {
  if (!schedule) throw propError(construct, prop, 'it is missing', 'give a schedule, e.g. ScheduleExpression.rate(Duration.hours(1))');
  const text = schedule.expressionString;
  if (Token.isUnresolved(text)) return;
  const rate = RATE.exec(text);
  if (rate) {
    const n = Number(rate[1]);
    const singular = !rate[2].endsWith('s');
    if (n < 1 || (n === 1) !== singular) {
      throw propError(construct, prop, `"${text}" does not parse (EventBridge Scheduler wants "rate(1 hour)" or "rate(2 hours)")`, 'use ScheduleExpression.rate(Duration.hours(n))');
    }
    return;
  }
  if (CRON.test(text) || AT.test(text)) return;
  throw propError(construct, prop, `"${text}" does not parse as rate(...), cron(6 fields) or at(yyyy-mm-ddThh:mm:ss)`,
    'use ScheduleExpression.rate(Duration.hours(1)) or ScheduleExpression.cron({ minute: "0", hour: "2" })');
}

/** Props of `ScheduleDeadLetterQueue`. */
export interface ScheduleDeadLetterQueueProps {
  /** Key of the queue (SQS SSE-KMS). */
  readonly encryptionKey: kms.IKey;
  /** What the schedules start, for the alarm's description (e.g. "the merge job"). */
  readonly what: string;
  /** Owner of the schedules, for the alarm's description (e.g. "CdcIngestion shop"). */
  readonly owner: string;
  /**
   * Removal policy of the queue.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The dead-letter queue of a construct's EventBridge Scheduler schedules (KMS-encrypted,
 * TLS-only, 14 days), its alarm, and `target()`, which gives a schedule target the one retry
 * policy (10 attempts within an hour) and the KMS rights on the queue key that Scheduler's
 * targets leave out (`withDeadLetterKey`).
 */
export class ScheduleDeadLetterQueue extends Construct {
  /** How often Scheduler retries a target before the invocation goes to the queue. */
  public static readonly RETRY_ATTEMPTS = 10;
  /** How long Scheduler keeps retrying an invocation. */
  public static readonly MAX_EVENT_AGE = Duration.hours(1);

  /** The queue. */
  public readonly queue: sqs.Queue;
  /** Fires on the first message in the queue. */
  public readonly alarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: ScheduleDeadLetterQueueProps) {
    super(scope, id);
    // id "Default": the queue keeps the logical id it had when constructs created it directly.
    this.queue = new sqs.Queue(this, 'Default', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: props.encryptionKey,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.alarm = new cloudwatch.Alarm(this, 'Alarm', {
      alarmDescription: `${props.owner}: a schedule could not start ${props.what} (see the schedule DLQ)`,
      metric: this.queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
      threshold: 0,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    // cdk-nag only recognises SQS redrive as "used as a DLQ".
    suppressNag(this.queue, [{
      id: 'AwsSolutions-SQS3',
      reason: `This queue is itself the dead-letter queue of the EventBridge Scheduler schedules of ${props.owner}; it is alarmed on (${this.alarm.node.path}).`,
    }]);
    suppressNag(this.alarm, [{ id: 'NIST.800.53.R5-CloudWatchAlarmAction', reason: NagReasons.alarmWithoutAction(this.alarm.node.path) }]);
  }

  /** The options every schedule target of the library takes: this queue and the one retry policy. */
  public get targetOptions(): { deadLetterQueue: sqs.IQueue; retryAttempts: number; maxEventAge: Duration } {
    return { deadLetterQueue: this.queue, retryAttempts: ScheduleDeadLetterQueue.RETRY_ATTEMPTS, maxEventAge: ScheduleDeadLetterQueue.MAX_EVENT_AGE };
  }

  /**
   * Wraps a target built with `targetOptions` so its role can also use the queue's key.
   * @param target the schedule target to wrap
   */
  public target(target: scheduler.IScheduleTarget): scheduler.IScheduleTarget {
    return withDeadLetterKey(target, this.queue);
  }
}
