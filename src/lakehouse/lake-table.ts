import { Stack } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { Column } from './table-props';
import { grantLakeRead, grantLakeReadWrite, glueArns } from '../core/grants';
import { ILakeTable, ILakeZone, LakeLayout } from '../core/lake';
import { propError, validateGlueName } from '../core/validation';

/** What both table kinds share: a Glue table over a prefix of a zone, and its grants. */
export abstract class LakeTableBase extends Construct implements ILakeTable {
  public readonly tableName: string;
  public readonly zone: ILakeZone;
  public readonly prefix: string;
  public readonly tableArn: string;

  protected constructor(scope: Construct, id: string, kind: string, zone: ILakeZone, tableName: string, prefix: string | undefined) {
    super(scope, id);
    validateGlueName(kind, 'tableName', tableName);
    this.tableName = tableName;
    this.zone = zone;
    this.prefix = prefix === undefined ? LakeLayout.dataPrefix(tableName) : LakeLayout.dataPrefix(prefix);
    this.tableArn = glueArns(this, zone.databaseName).tableArn(tableName);
  }

  public grantRead(grantee: iam.IGrantable): iam.Grant {
    return grantLakeRead(grantee, this.access());
  }

  public grantReadWrite(grantee: iam.IGrantable): iam.Grant {
    return grantLakeReadWrite(grantee, this.access());
  }

  /** The zone's catalog id (its account). */
  protected get catalogId(): string {
    return Stack.of(this).account;
  }

  private access() {
    const arns = glueArns(this, this.zone.databaseName);
    return {
      bucket: this.zone.bucket,
      key: this.zone.encryptionKey,
      prefix: this.prefix,
      catalogArn: arns.catalogArn,
      databaseArn: arns.databaseArn,
      tableArns: [this.tableArn],
    };
  }
}

/** Validates columns (non-empty when required, valid unique names) and returns them for Glue. */
export function glueColumns(kind: string, columns: Column[], required: boolean): glue.CfnTable.ColumnProperty[] {
  if (required && columns.length === 0) {
    throw propError(kind, 'columns', 'the table has no columns', 'give at least one column, e.g. { name: "id", type: "string" }');
  }
  const seen = new Set<string>();
  columns.forEach((column, i) => {
    validateGlueName(kind, `columns[${i}].name`, column.name);
    if (seen.has(column.name)) {
      throw propError(kind, `columns[${i}].name`, `column "${column.name}" appears twice`, 'give each column a unique name');
    }
    seen.add(column.name);
  });
  return columns.map((c) => ({ name: c.name, type: c.type, comment: c.comment }));
}
