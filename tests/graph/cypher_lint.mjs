// Lint Cypher statements with Neo4j's own parser and semantic analysis.
// Usage: node cypher_lint.mjs STATEMENTS.json
// Input: {"labels": [...], "relationshipTypes": [...], "statements": [{"name", "cypher",
// "parameters": {name: example}}]}. Output (stdout): one JSON list of
// {"name", "diagnostics": [{"severity", "message", "offset"}]}, one entry per statement.
import { readFileSync } from 'node:fs';
import { lintCypherQuery } from '@neo4j-cypher/language-support';

const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const results = input.statements.map(({ name, cypher, parameters }) => {
  const schema = {
    labels: input.labels,
    relationshipTypes: input.relationshipTypes,
    parameters,
    defaultLanguage: 'CYPHER 5',
  };
  const { diagnostics } = lintCypherQuery(cypher, schema);
  return {
    name,
    diagnostics: diagnostics.map((d) => ({
      severity: d.severity,
      message: d.message,
      offset: d.offsets?.start ?? null,
    })),
  };
});
process.stdout.write(JSON.stringify(results));
