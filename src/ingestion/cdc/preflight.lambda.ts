/**
 * The CDC preflight Lambda: runs the preflight checks (./preflight/checks.ts) against the source
 * PostgreSQL from inside its VPC, on demand (a user, or an integ test, invokes it).
 *
 * Configuration: JSON in the CDC_PREFLIGHT_CONFIG environment variable ({@link PreflightFunctionConfig}):
 * `{ secretArn, databaseName?, tables: [{ name: "public.orders", primaryKey?: ["id"] }], sslMode?: "require" | "verify-full", caBundlePath?, fullLobMode?, lobMaxSizeKb? }`.
 * The secret is in the RDS/DMS format: `username`, `password`, `host`, `port`, optionally `dbname`.
 *
 * Event (all optional): `{ tables?: [...], fullLobMode?: boolean, lobMaxSizeKb?: number }` overrides the configuration.
 * Returns the report ({@link PreflightReport}); findings are data, not failures. Throws only when
 * the secret cannot be read or the database cannot be reached, with a message saying why.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Client } from 'pg';
import { PreflightReport, runPreflight } from './preflight/checks';
import { describeConnectionError, PREFLIGHT_CONFIG_ENV, PreflightFunctionConfig, PreflightTableConfig, sslOptions } from './preflight/config';

const logger = new Logger();
let secrets: SecretsManagerClient | undefined;

/** What an invocation may override. */
export interface PreflightEvent {
  readonly tables?: PreflightTableConfig[];
  readonly fullLobMode?: boolean;
  readonly lobMaxSizeKb?: number;
}

interface DatabaseSecret {
  username: string;
  password: string;
  host: string;
  port?: number | string;
  dbname?: string;
}

function readConfig(): PreflightFunctionConfig {
  const raw = process.env[PREFLIGHT_CONFIG_ENV];
  if (!raw) throw new Error(`environment variable ${PREFLIGHT_CONFIG_ENV} is not set`);
  let config: PreflightFunctionConfig;
  try {
    config = JSON.parse(raw);
  } catch (e) {
    throw new Error(`environment variable ${PREFLIGHT_CONFIG_ENV} is not valid JSON: ${(e as Error).message}`);
  }
  if (!config.secretArn) throw new Error(`${PREFLIGHT_CONFIG_ENV} has no secretArn`);
  return config;
}

async function readSecret(secretArn: string): Promise<DatabaseSecret> {
  secrets ??= new SecretsManagerClient({ maxAttempts: 3 });
  let text: string | undefined;
  try {
    text = (await secrets.send(new GetSecretValueCommand({ SecretId: secretArn }))).SecretString;
  } catch (e) {
    throw new Error(`cannot read the database secret ${secretArn}: ${(e as Error).name}: ${(e as Error).message} (the function needs secretsmanager:GetSecretValue on it, kms:Decrypt on its key, and a route to Secrets Manager from the VPC)`);
  }
  let secret: DatabaseSecret;
  try {
    secret = JSON.parse(text ?? '');
  } catch {
    throw new Error(`the database secret ${secretArn} is not JSON (expected the RDS format: username, password, host, port, dbname)`);
  }
  const missing = ['username', 'password', 'host'].filter((k) => !(secret as unknown as Record<string, unknown>)[k]);
  if (missing.length) throw new Error(`the database secret ${secretArn} has no ${missing.join(', ')} (expected the RDS format: username, password, host, port, dbname)`);
  return secret;
}

export const handler = async (event: PreflightEvent | null | undefined): Promise<PreflightReport> => {
  const config = readConfig();
  const secret = await readSecret(config.secretArn);
  const sslMode = config.sslMode ?? 'require';
  const target = {
    host: secret.host,
    port: Number(secret.port ?? 5432),
    user: secret.username,
    database: config.databaseName ?? secret.dbname ?? 'postgres',
    sslMode,
  };
  const tables = event?.tables ?? config.tables;
  logger.info('preflight starting', { host: target.host, port: target.port, database: target.database, user: target.user, sslMode, tables: tables?.map((t) => t.name) });

  const client = new Client({
    host: target.host,
    port: target.port,
    user: target.user,
    password: secret.password,
    database: target.database,
    ssl: sslOptions(sslMode, config.caBundlePath),
    connectionTimeoutMillis: config.connectTimeoutMs ?? 10_000,
    application_name: 'cdk-lakehouse-cdc-preflight',
  });
  client.on('error', (e) => logger.warn('connection error', { error: e.message }));
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => undefined);
    const message = describeConnectionError(e, target);
    logger.error('cannot connect', { message });
    throw new Error(message);
  }
  try {
    const report = await runPreflight(client, {
      tables,
      fullLobMode: event?.fullLobMode ?? config.fullLobMode,
      lobMaxSizeKb: event?.lobMaxSizeKb ?? config.lobMaxSizeKb,
    });
    logger.info('preflight done', { ok: report.ok, errors: report.errorCount, warnings: report.warningCount, findings: report.findings });
    return report;
  } finally {
    await client.end().catch(() => undefined);
  }
};
