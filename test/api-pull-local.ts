/**
 * Local stand-ins for the puller tests and benchmark: a real HTTP server on 127.0.0.1 (Node's
 * `http`) whose behaviour each test sets, and moto's server on 127.0.0.1 for S3, DynamoDB and
 * Secrets Manager (Python: `pip install "moto[server]"`, see test/python/api-pull/requirements.txt).
 * Nothing here sends traffic anywhere but loopback.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import { AddressInfo, createServer } from 'net';
import * as path from 'path';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { CreateSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => void;

/** An HTTP server on loopback whose handler a test swaps; it records every request. */
export class ApiServer {
  public readonly requests: { url: URL; headers: http.IncomingHttpHeaders }[] = [];
  private server?: http.Server;
  public handler: Handler = (_req, res) => {
    res.statusCode = 500;
    res.end();
  };

  public async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
      this.requests.push({ url, headers: req.headers });
      this.handler(req, res, url);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this.baseUrl;
  }

  public get baseUrl(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  public reset(handler: Handler) {
    this.requests.length = 0;
    this.handler = handler;
  }

  public async stop() {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

/** Sends a JSON body with the given status. */
export function json(res: http.ServerResponse, body: unknown, status = 200, headers: Record<string, string> = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** moto's server on loopback, with clients pointed at it. */
export class Moto {
  public s3!: S3Client;
  public dynamo!: DynamoDBClient;
  public secrets!: SecretsManagerClient;
  public endpoint = '';
  private proc?: ChildProcess;
  private log = '';

  public async start() {
    const port = await freePort();
    this.endpoint = `http://127.0.0.1:${port}`;
    // The test command installs moto into .venv (python:env); PYTHON overrides.
    const venvPython = path.join(__dirname, '..', '.venv', 'bin', 'python');
    const python = process.env.PYTHON ?? (fs.existsSync(venvPython) ? venvPython : 'python3');
    this.proc = spawn(python, ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.on('data', (d) => (this.log += d));
    this.proc.stderr!.on('data', (d) => (this.log += d));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (this.proc.exitCode !== null) throw new Error(`moto server exited: ${this.log} (install it with: pip install "moto[server]")`);
      try {
        const ok = await fetch(`${this.endpoint}/moto-api/`).then((r) => r.ok);
        if (ok) break;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error(`moto server did not start: ${this.log}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const common = { endpoint: this.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
    this.s3 = new S3Client({ ...common, forcePathStyle: true });
    this.dynamo = new DynamoDBClient(common);
    this.secrets = new SecretsManagerClient(common);
  }

  /** Empties every service (a fresh account) and creates the bucket and watermark table. */
  public async reset(bucket: string, table: string) {
    await fetch(`${this.endpoint}/moto-api/reset`, { method: 'POST' });
    await this.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await this.dynamo.send(new CreateTableCommand({
      TableName: table,
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }));
  }

  public async createSecret(name: string, value: string): Promise<string> {
    const out = await this.secrets.send(new CreateSecretCommand({ Name: name, SecretString: value }));
    return out.ARN!;
  }

  public async getSecret(arn: string): Promise<string | undefined> {
    return (await this.secrets.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString;
  }

  public async keys(bucket: string, prefix = ''): Promise<string[]> {
    const out = await this.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    return (out.Contents ?? []).map((o) => o.Key!).sort();
  }

  public async object(bucket: string, key: string): Promise<{ body: Buffer; metadata: Record<string, string>; contentType?: string }> {
    const out = await this.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return { body: Buffer.from(await out.Body!.transformToByteArray()), metadata: out.Metadata ?? {}, contentType: out.ContentType };
  }

  public async stop() {
    if (this.proc && this.proc.exitCode === null) {
      const exited = new Promise((r) => this.proc!.once('exit', r));
      this.proc.kill('SIGTERM');
      await exited;
    }
    this.s3?.destroy();
    this.dynamo?.destroy();
    this.secrets?.destroy();
  }
}
