import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { StackPolicies } from './iam-harness';

/** The execution role of a schedule, as its target names it. */
export function scheduleRole(p: StackPolicies, schedule: scheduler.Schedule): string {
  const cfn = schedule.node.defaultChild as scheduler.CfnSchedule;
  return p.value((cfn.target as scheduler.CfnSchedule.TargetProperty).roleArn);
}
