/**
 * Starts DynamoDB Local (AWS's own implementation, from Maven Central) for a test file: fetches
 * it once into ~/.cache/cdk-lakehouse/ with Maven, runs it in memory on a free loopback port
 * with telemetry off, and stops it afterwards. Nothing else is contacted.
 */
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { CreateTableCommand, DynamoDBClient, ListTablesCommand, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';

export const DYNAMODB_LOCAL_VERSION = '3.1.0';

const CACHE = path.join(os.homedir(), '.cache', 'cdk-lakehouse', `dynamodb-local-${DYNAMODB_LOCAL_VERSION}`);

const POM = `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.cdk-lakehouse</groupId>
  <artifactId>dynamodb-local-fetch</artifactId>
  <version>1</version>
  <dependencies>
    <dependency>
      <groupId>software.amazon.dynamodb</groupId>
      <artifactId>DynamoDBLocal</artifactId>
      <version>${DYNAMODB_LOCAL_VERSION}</version>
    </dependency>
  </dependencies>
</project>
`;

/** Downloads DynamoDB Local and its dependencies (sqlite4java's native library included) once. */
export function ensureDynamoDbLocal(): string {
  const lib = path.join(CACHE, 'lib');
  const jar = path.join(lib, `DynamoDBLocal-${DYNAMODB_LOCAL_VERSION}.jar`);
  if (fs.existsSync(jar) && fs.readdirSync(lib).some((f) => f.startsWith('libsqlite4java-linux-amd64'))) return lib;
  fs.mkdirSync(CACHE, { recursive: true });
  fs.writeFileSync(path.join(CACHE, 'pom.xml'), POM);
  // Test files run in parallel: one download at a time (flock), the others find it done.
  execFileSync('flock', [path.join(CACHE, '.lock'), 'sh', '-c',
    `test -f "${jar}" || mvn -B -q dependency:copy-dependencies -DoutputDirectory="${lib}"`], { cwd: CACHE, stdio: 'inherit' });
  return lib;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

export class DynamoDbLocal {
  /** Starts an in-memory DynamoDB Local and waits until it answers. */
  public static async start(): Promise<DynamoDbLocal> {
    const lib = ensureDynamoDbLocal();
    const port = await freePort();
    const child = spawn('java', [
      `-Djava.library.path=${lib}`,
      '-cp', `${lib}${path.sep}*`,
      'software.amazon.dynamodb.services.local.main.ServerRunner',
      '-inMemory', '-disableTelemetry', '-port', String(port),
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (d) => { output += String(d); });
    child.stderr?.on('data', (d) => { output += String(d); });
    const local = new DynamoDbLocal(child, `http://127.0.0.1:${port}`);
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`DynamoDB Local exited: ${output}`);
      try {
        await local.client().send(new ListTablesCommand({}));
        return local;
      } catch {
        if (Date.now() > deadline) {
          local.stop();
          throw new Error(`DynamoDB Local did not answer on ${local.endpoint} within 120 s: ${output}`);
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  private constructor(private readonly child: ChildProcess, public readonly endpoint: string) {}

  /** A client for this instance (dummy credentials; loopback only). */
  public client(options: { maxAttempts?: number } = {}): DynamoDBClient {
    return new DynamoDBClient({
      endpoint: this.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: options.maxAttempts ?? 3,
    });
  }

  /** Creates a dedup table shaped like the construct's (partition key `pk`, TTL `expiresAt`). */
  public async createDedupTable(name: string): Promise<void> {
    const client = this.client();
    await client.send(new CreateTableCommand({
      TableName: name,
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }));
    await client.send(new UpdateTimeToLiveCommand({
      TableName: name,
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    }));
    client.destroy();
  }

  public stop(): void {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
  }
}
