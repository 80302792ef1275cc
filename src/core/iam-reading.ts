/**
 * A reading of IAM policy documents that is enough for the deploy rules (identity policies, no
 * conditions, resource "*"). test/deploy-rules.test.ts checks it against an IAM policy simulator.
 */

/** Whether the documents allow `action` on every resource ("*") with no condition, and deny nothing of it. */
export function documentsAllow(documents: any[], action: string, allowedElsewhere = false): boolean {
  let allowed = allowedElsewhere;
  for (const doc of documents) {
    for (const st of asArray(doc?.Statement)) {
      const matches = st.Action !== undefined
        ? asArray(st.Action).some((a) => actionMatches(String(a), action))
        : st.NotAction !== undefined && !asArray(st.NotAction).some((a) => actionMatches(String(a), action));
      if (!matches) continue;
      if (st.Effect === 'Deny') return false;
      const onAll = st.Resource !== undefined && asArray(st.Resource).includes('*');
      if (st.Effect === 'Allow' && onAll && st.Condition === undefined) allowed = true;
    }
  }
  return allowed;
}

function asArray(value: unknown): any[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** IAM action matching: case-insensitive, `*` and `?` wildcards. */
function actionMatches(pattern: string, action: string): boolean {
  const regex = new RegExp(`^${pattern.split('').map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('')}$`, 'i');
  return regex.test(action);
}
