import { Duration, Token } from 'aws-cdk-lib';
import { propError } from './validation';

/**
 * The one range of freshness intervals ("new data is expected at least this often") every
 * construct of the library accepts, and how `PipelineObservability` watches an interval.
 *
 * CloudWatch's rule (PutMetricAlarm, `Period`): "An alarm's total current evaluation period can
 * be no longer than seven days, so Period multiplied by EvaluationPeriods can't be more than
 * 604,800 seconds. For alarms with a period of less than one hour (3,600 seconds), the total
 * evaluation period can't be longer than one day (86,400 seconds)." Periods are multiples of 60 s.
 *
 * So an interval of up to one day is one period of that length (Sum of arrivals < 1), and a
 * longer one is N one-hour periods that must all be empty (N of N, missing data breaching):
 * the alarm fires exactly when no arrival was counted during the whole interval.
 */
export const MIN_FRESHNESS_SECONDS = 60;
export const MAX_FRESHNESS_SECONDS = 7 * 86_400;
const ONE_DAY = 86_400;
const ONE_HOUR = 3_600;

/** The alarm shape that watches one freshness interval. */
export interface FreshnessWindow {
  /** Length of one alarm period. */
  readonly period: Duration;
  /** Periods evaluated; all must be empty for the alarm to fire. */
  readonly evaluationPeriods: number;
}

/** Why an interval cannot be watched, or undefined when it can. */
export function freshnessIntervalProblem(value: Duration): string | undefined {
  const seconds = value.toSeconds({ integral: false });
  const label = exactLabel(value, seconds);
  if (!Number.isFinite(seconds) || seconds < MIN_FRESHNESS_SECONDS) {
    return `${label} is shorter than a minute (the shortest CloudWatch alarm period on standard metrics)`;
  }
  if (seconds > MAX_FRESHNESS_SECONDS) {
    return `${label} is longer than 7 days (CloudWatch evaluates an alarm over at most 7 days)`;
  }
  if (!Number.isInteger(seconds / 60)) {
    return `${label} is not a whole number of minutes (CloudWatch alarm periods are multiples of 60 seconds)`;
  }
  if (seconds > ONE_DAY && !Number.isInteger(seconds / ONE_HOUR)) {
    return `${label} is longer than a day but not a whole number of hours (beyond a day CloudWatch needs periods of an hour or more)`;
  }
  return undefined;
}

/**
 * Validates a freshness interval where the user wrote it: the error names `construct` and
 * `prop` exactly. Unresolved tokens are left alone.
 */
export function validateFreshnessInterval(construct: string, prop: string, value: Duration): void {
  if (Token.isUnresolved(value.toSeconds({ integral: false }))) return;
  const problem = freshnessIntervalProblem(value);
  if (problem) {
    throw propError(construct, prop, problem,
      'give whole minutes from Duration.minutes(1) to Duration.days(1), or whole hours up to Duration.days(7)');
  }
}

/** The alarm period and evaluation periods that together cover exactly `interval`. */
export function freshnessWindow(interval: Duration): FreshnessWindow {
  const seconds = interval.toSeconds();
  if (seconds <= ONE_DAY) return { period: interval, evaluationPeriods: 1 };
  return { period: Duration.hours(1), evaluationPeriods: seconds / ONE_HOUR };
}

/** `toHumanString()` keeps two units ("1 day 1 hour" for 25.5 hours): add the seconds when it rounds. */
function exactLabel(value: Duration, seconds: number): string {
  const human = value.toHumanString();
  const unit: Record<string, number> = { day: 86_400, hour: 3_600, minute: 60, second: 1, milli: 0.001 };
  let total = 0;
  for (const m of human.matchAll(/([\d.]+) (day|hour|minute|second|milli)/g)) total += Number(m[1]) * unit[m[2]];
  return Math.abs(total - seconds) < 1e-9 ? human : `${human} (${seconds} seconds)`;
}
