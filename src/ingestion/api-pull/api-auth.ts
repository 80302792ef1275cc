import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { AuthConfig } from './runtime/config';

/**
 * How the puller authenticates to an API. The credentials stay in a Secrets Manager secret whose
 * value is a JSON object; the puller reads the named field(s) at the start of each run and never
 * writes them anywhere (the URL kept with each page has an API-key parameter redacted).
 *
 * @example
 * declare const secret: secretsmanager.ISecret;
 * ApiAuth.bearerToken(secret);              // {"token": "..."} → Authorization: Bearer ...
 * ApiAuth.apiKeyHeader(secret, 'X-Api-Key'); // {"apiKey": "..."} → X-Api-Key: ...
 */
export class ApiAuth {
  /** No authentication. */
  public static none(): ApiAuth {
    return new ApiAuth(undefined, { kind: 'none' });
  }

  /**
   * `Authorization: Bearer <token>`.
   * @param secret the secret (a JSON object)
   * @param tokenField the field holding the token (default `token`)
   */
  public static bearerToken(secret: secretsmanager.ISecret, tokenField?: string): ApiAuth {
    return new ApiAuth(secret, { kind: 'bearer', secretArn: secret.secretArn, tokenField: tokenField ?? 'token' });
  }

  /**
   * An API key sent in a request header.
   * @param secret the secret (a JSON object)
   * @param headerName the header, e.g. `X-Api-Key`
   * @param field the field holding the key (default `apiKey`)
   */
  public static apiKeyHeader(secret: secretsmanager.ISecret, headerName: string, field?: string): ApiAuth {
    return new ApiAuth(secret, { kind: 'apiKeyHeader', secretArn: secret.secretArn, headerName, field: field ?? 'apiKey' });
  }

  /**
   * An API key sent as a query parameter (redacted in every URL the lake keeps).
   * @param secret the secret (a JSON object)
   * @param parameterName the query parameter, e.g. `api_key`
   * @param field the field holding the key (default `apiKey`)
   */
  public static apiKeyQuery(secret: secretsmanager.ISecret, parameterName: string, field?: string): ApiAuth {
    return new ApiAuth(secret, { kind: 'apiKeyQuery', secretArn: secret.secretArn, parameterName, field: field ?? 'apiKey' });
  }

  /**
   * HTTP basic authentication.
   * @param secret the secret (a JSON object)
   * @param usernameField the field holding the user name (default `username`)
   * @param passwordField the field holding the password (default `password`)
   */
  public static basic(secret: secretsmanager.ISecret, usernameField?: string, passwordField?: string): ApiAuth {
    return new ApiAuth(secret, { kind: 'basic', secretArn: secret.secretArn, usernameField: usernameField ?? 'username', passwordField: passwordField ?? 'password' });
  }

  /** The kind of authentication (`none`, `bearer`, `apiKeyHeader`, `apiKeyQuery`, `basic`). */
  public readonly kind: string;

  private constructor(
    /** The secret holding the credentials (undefined for `none`). */
    public readonly secret: secretsmanager.ISecret | undefined,
    private readonly config: AuthConfig,
  ) {
    this.kind = config.kind;
  }

  /** @internal */
  public _config(): AuthConfig {
    return this.config;
  }
}
