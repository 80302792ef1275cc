/**
 * What the CDC preflight Lambda and CLI share besides the checks: the Lambda's configuration
 * (one JSON environment variable the construct sets), TLS settings for `pg`, and plain-words
 * explanations of connection failures.
 */
import * as fs from 'fs';
import type { ConnectionOptions } from 'tls';

/** The environment variable holding the Lambda's configuration as JSON ({@link PreflightFunctionConfig}). */
export const PREFLIGHT_CONFIG_ENV = 'CDC_PREFLIGHT_CONFIG';

/** One selected table: `schema.table`, `*` (or DMS's `%`) as a wildcard in either part. */
export interface PreflightTableConfig {
  /** `schema.table`, e.g. `public.orders` or `sales.*`. */
  readonly name: string;
  /** The key the merge uses for this table, when declared; checked against the table's primary key. */
  readonly primaryKey?: string[];
}

/** The Lambda's configuration (JSON in {@link PREFLIGHT_CONFIG_ENV}). */
export interface PreflightFunctionConfig {
  /** ARN of a Secrets Manager secret in the RDS/DMS format: username, password, host, port, optionally dbname. */
  readonly secretArn: string;
  /** The database DMS reads; falls back to the secret's `dbname`. */
  readonly databaseName?: string;
  /** The tables the DMS task selects. */
  readonly tables: PreflightTableConfig[];
  /** `require` (encrypted, certificate not checked) or `verify-full` (certificate and host name checked). @default require */
  readonly sslMode?: string;
  /**
   * For `verify-full`: path (inside the Lambda) of a PEM bundle to trust instead of Node's default
   * CAs, e.g. the RDS global bundle. When absent, Node's trust store plus `NODE_EXTRA_CA_CERTS` apply.
   */
  readonly caBundlePath?: string;
  /** The DMS task runs in full LOB mode (no truncation of large values). @default false */
  readonly fullLobMode?: boolean;
  /** The DMS task's limited-LOB size in KB. @default 32 */
  readonly lobMaxSizeKb?: number;
  /** Connection timeout in milliseconds. @default 10000 */
  readonly connectTimeoutMs?: number;
}

/** The SSL modes the CLI and the Lambda accept. */
export const SSL_MODES = ['disable', 'require', 'verify-full'];

/** `pg`'s `ssl` setting for a mode: false, encrypted without verification, or fully verified. */
export function sslOptions(mode: string, caBundlePath?: string): false | ConnectionOptions {
  switch (mode) {
    case 'disable':
      return false;
    case 'require':
      // Like libpq's sslmode=require: encrypted, server certificate not checked.
      return { rejectUnauthorized: false };
    case 'verify-full':
      // Node checks the chain and the host name (checkServerIdentity) when rejectUnauthorized is on.
      return caBundlePath ? { rejectUnauthorized: true, ca: fs.readFileSync(caBundlePath, 'utf8') } : { rejectUnauthorized: true };
    default:
      throw new Error(`unknown SSL mode "${mode}": use one of ${SSL_MODES.join(', ')}`);
  }
}

/** Where a connection went, for messages. */
export interface ConnectionTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  readonly sslMode: string;
}

/** A connection failure in plain words: what failed, and what to look at. */
export function describeConnectionError(err: unknown, t: ConnectionTarget): string {
  const e = err as { code?: string; message?: string };
  const where = `${t.host}:${t.port}`;
  const msg = e?.message ?? String(err);
  switch (e?.code) {
    case 'ECONNREFUSED':
      return `connection refused by ${where}: no server listens there (check the host, the port and that the database is running)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host not found: ${t.host} does not resolve (check the endpoint name and the DNS settings of the network you run in)`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `host unreachable: no answer from ${where} (check security groups, network ACLs, routes and that you run inside the database's VPC)`;
    case 'ECONNRESET':
      return `connection reset by ${where} (a firewall or proxy may drop the connection, or the server requires SSL settings other than ${t.sslMode})`;
    case '28P01':
      return `authentication failed: wrong password for user "${t.user}" on ${where}`;
    case '28000':
      return `access rejected for user "${t.user}" to database "${t.database}" on ${where}: ${msg} (check pg_hba.conf / the user's LOGIN right; use --ssl require when the server only accepts encrypted connections)`;
    case '3D000':
      return `database "${t.database}" does not exist on ${where}`;
    case '53300':
      return `${where} has no free connection slot (too many connections): ${msg}`;
    case '57P03':
      return `${where} is starting up or shutting down; try again shortly`;
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'CERT_HAS_EXPIRED':
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `SSL verification of ${where} failed (${e.code}: ${msg}): trust the server's CA (for RDS, the RDS CA bundle) or use sslmode require`;
    default:
      break;
  }
  if (/does not support SSL/i.test(msg)) {
    return `SSL refused: ${where} does not accept SSL connections (enable SSL on the server, or use sslmode disable only on a trusted network)`;
  }
  if (/no pg_hba\.conf entry/i.test(msg)) {
    return `access rejected by ${where}: ${msg} (add a pg_hba.conf entry for this client, or use sslmode require if only hostssl entries exist)`;
  }
  if (/timeout/i.test(msg)) {
    return `host unreachable: connecting to ${where} timed out (check security groups, network ACLs, routes and that you run inside the database's VPC)`;
  }
  return `could not connect to ${where} as "${t.user}" (database "${t.database}"): ${msg}`;
}
