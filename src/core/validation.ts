import { Duration, Token } from 'aws-cdk-lib';

/**
 * Builds the one error shape every construct throws for bad props: it names the construct,
 * the prop and the fix, so a user never has to guess which of many props was wrong.
 */
export function propError(construct: string, prop: string, problem: string, fix: string): Error {
  return new Error(`${construct}: invalid prop "${prop}": ${problem}. Fix: ${fix}.`);
}

/** Lowercase, digits and underscores, starting with a letter: what Glue and Athena both accept. */
const GLUE_NAME = /^[a-z][a-z0-9_]*$/;
const GLUE_NAME_MAX = 255;

/** Turns any string into a Glue/Athena-safe suggestion for an error message or a default. */
export function toGlueName(value: string): string {
  let name = value
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/_+/g, '_')
    .replace(/^_+|_+$/g, '');
  if (!/^[a-z]/.test(name)) name = `t_${name}`;
  return name.slice(0, GLUE_NAME_MAX);
}

/**
 * Validates a Glue database, table or column name. Unresolved tokens are left to the service.
 */
export function validateGlueName(construct: string, prop: string, value: string): void {
  if (Token.isUnresolved(value)) return;
  if (value.length === 0 || value.length > GLUE_NAME_MAX || !GLUE_NAME.test(value)) {
    throw propError(
      construct,
      prop,
      `"${value}" is not a valid Glue/Athena name (lowercase letters, digits and underscores, starting with a letter, 1-${GLUE_NAME_MAX} characters)`,
      `use a name such as "${toGlueName(value || 'name')}"`,
    );
  }
}

/** Whole days of a duration, or an error naming the prop when it is not whole days. */
export function wholeDays(construct: string, prop: string, value: Duration): number {
  const days = value.toDays({ integral: false });
  if (!Number.isInteger(days) || days < 0) {
    throw propError(construct, prop, `${value.toHumanString()} is not a whole, non-negative number of days`, 'use Duration.days(n) with a whole n >= 0');
  }
  return days;
}
