// Runs the routing table on json-rules-engine: one rule per row, earlier
// rows at higher priority, stopping at the first success (first hit).
// Usage: node run.mjs RULES.json CASES.json PASSES
// Prints {"answers": [team|null, …], "us_per_decision": best pass}.
import { readFileSync } from 'node:fs';
import { Engine } from 'json-rules-engine';

const [rulesFile, casesFile, passesArg] = process.argv.slice(2);
const rules = JSON.parse(readFileSync(rulesFile, 'utf8'));
const cases = JSON.parse(readFileSync(casesFile, 'utf8'));
const passes = Number(passesArg || 3);

const engine = new Engine([], { allowUndefinedFacts: true });
for (const rule of rules) {
  engine.addRule(rule);
}
engine.on('success', () => engine.stop());

async function decide(facts) {
  const { events } = await engine.run({ ...facts });
  return events.length > 0 ? events[0].params.team : null;
}

const answers = [];
for (const c of cases) {
  answers.push(await decide(c));
}
let best = Infinity;
for (let p = 0; p < passes; p++) {
  const start = process.hrtime.bigint();
  for (const c of cases) {
    await decide(c);
  }
  const us = Number(process.hrtime.bigint() - start) / 1000 / cases.length;
  best = Math.min(best, us);
}
process.stdout.write(JSON.stringify({ answers, us_per_decision: best }));
