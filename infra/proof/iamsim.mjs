// Evaluates IAM requests against identity policies with @cloud-copilot/iam-simulate
// (a real IAM policy evaluation engine, pinned in package-lock.json).
// Input (argv[2]): {"cases":[{"id","principal","action","resource","context":{},"policies":[doc…]}]}
// Output (stdout): [{"id","result","errors"}], result one of Allowed, ImplicitlyDenied, ExplicitlyDenied, Error.
import { readFileSync } from 'node:fs'
import { runSimulation } from '@cloud-copilot/iam-simulate'

const { cases } = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const out = []
for (const c of cases) {
  const r = await runSimulation({
    identityPolicies: c.policies.map((policy, i) => ({ name: `policy${i}`, policy })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    request: {
      action: c.action,
      principal: c.principal,
      resource: { accountId: c.account, resource: c.resource },
      contextVariables: c.context ?? {},
    },
  }, {})
  if (r.errors) {
    out.push({ id: c.id, result: 'Error', errors: r.errors })
  } else {
    out.push({ id: c.id, result: r.overallResult })
  }
}
process.stdout.write(JSON.stringify(out))
