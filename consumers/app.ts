// The TypeScript twin of consumers/go/main.go and consumers/java/src/main/java/consumer/App.java:
// the same constructs and props. consumers/run.js runs it against the npm tarball (the import
// becomes 'cdk-lakehouse'), synthesizes all three and requires the Java and Go templates to equal
// this one (asset hashes included).
import { App, Stack } from 'aws-cdk-lib';
import { AthenaServing, LakehouseTier } from '../src';

const app = new App();
const stack = new Stack(app, 'Consumer');
const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'analytics' });
lake.addIcebergTable('Events', {
  tableName: 'events',
  columns: [{ name: 'event_id', type: 'string' }, { name: 'payload', type: 'string' }],
});
new AthenaServing(stack, 'Sql', { lake, workGroupName: 'analysts' });
app.synth();
