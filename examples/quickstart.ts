import { App, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AthenaServing, LakehouseTier, PartitionProjection } from '../src';

const app = new App();
const stack = new Stack(app, 'Lake');
const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'analytics' });

// Raw JSON lines as they arrive; Athena projects the partitions, no crawler needed.
lake.addRawTable('RawEvents', {
  tableName: 'events',
  columns: [{ name: 'event_id', type: 'string' }, { name: 'payload', type: 'string' }],
  partitionKeys: [
    { name: 'event_type' },
    { name: 'day', projection: PartitionProjection.dateRange({ format: 'yyyy-MM-dd', rangeStart: '2024-01-01' }) },
  ],
});

// The curated, upsertable table people query.
const events = lake.addIcebergTable('Events', {
  tableName: 'events',
  columns: [{ name: 'event_id', type: 'string' }, { name: 'payload', type: 'string' }],
});

// SQL for the team: an enforced workgroup, and one call to let an analyst query this table.
const sql = new AthenaServing(stack, 'Sql', { lake, workGroupName: 'analysts' });
const analyst = new iam.Role(stack, 'Analyst', { assumedBy: new iam.AccountRootPrincipal() });
sql.grantQuery(analyst, { tables: [events] });

app.synth();
