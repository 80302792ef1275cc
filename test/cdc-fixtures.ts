import { Duration, RemovalPolicy, Stack, App } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { CdcIngestion, CdcIngestionProps, CdcTableMode, LakehouseTier } from '../src';

/** A VPC, a lake, a source secret and a database security group: what a CdcIngestion needs. */
export function cdcScaffold(removalPolicy: RemovalPolicy = RemovalPolicy.RETAIN) {
  const stack = new Stack(new App(), 'Cdc');
  const lake = new LakehouseTier(stack, 'Lake', { removalPolicy });
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
  const secret = new secretsmanager.Secret(stack, 'DbSecret');
  const dbSecurityGroup = new ec2.SecurityGroup(stack, 'DbSg', { vpc, allowAllOutbound: false });
  return { stack, lake, vpc, secret, dbSecurityGroup };
}

/** Props of a CdcIngestion with one CDC table, one pattern and one pulled table. */
export function cdcProps(s: ReturnType<typeof cdcScaffold>, overrides: Partial<CdcIngestionProps> = {}): CdcIngestionProps {
  return {
    lake: s.lake,
    pipelineName: 'shop',
    vpc: s.vpc,
    source: { secret: s.secret, databaseName: 'shop', securityGroup: s.dbSecurityGroup },
    tables: [
      { name: 'public.orders', primaryKey: ['id'] },
      { name: 'sales.*', primaryKey: ['id'], expectedInterval: Duration.hours(6) },
      {
        name: 'legacy.invoices',
        primaryKey: ['invoice_no'],
        mode: CdcTableMode.PULL,
        watermarkColumn: 'updated_at',
        pullSchedule: scheduler.ScheduleExpression.cron({ minute: '0', hour: '3' }),
      },
    ],
    ...overrides,
  };
}

export function cdcStack(overrides: Partial<CdcIngestionProps> = {}, removalPolicy?: RemovalPolicy) {
  const s = cdcScaffold(removalPolicy);
  const cdc = new CdcIngestion(s.stack, 'Shop', cdcProps(s, { removalPolicy, ...overrides }));
  return { ...s, cdc };
}
