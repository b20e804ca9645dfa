// Checks a CloudFormation template against CloudFormation's resource
// specification as aws-cdk-lib itself is generated from it
// (@aws-cdk/aws-service-spec, pinned in package-lock.json): every resource
// type exists; every property is one the type has; required properties are
// present; values have the specified types, recursively through the
// specification's type definitions, and string values within the
// specification's enumerations (allowedValues; the specification carries
// no length or pattern constraints). Values that are intrinsic functions
// (Ref, Fn::*) are resolved only at deploy time and are counted, not checked.
// Input (argv[2]): a template JSON file. Output (stdout):
// {"resources": N, "checked": N, "intrinsics": N, "violations": ["<LogicalId>.<path>: …"]}
import { readFileSync } from 'node:fs'
import { loadAwsServiceSpec } from '@aws-cdk/aws-service-spec'

const db = await loadAwsServiceSpec()
const template = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const out = { resources: 0, checked: 0, intrinsics: 0, enums: 0, enumPaths: [], violations: [] }
const bad = (path, msg) => out.violations.push(`${path}: ${msg}`)

const isIntrinsic = (v) =>
  v !== null && typeof v === 'object' && !Array.isArray(v) &&
  Object.keys(v).length === 1 && /^(Ref|Fn::.+|Condition)$/.test(Object.keys(v)[0])

// check returns "" when value fits type, else why not.
function check(value, type, path) {
  if (isIntrinsic(value)) { out.intrinsics++; return '' }
  out.checked++
  switch (type.type) {
    case 'string':
      // CloudFormation accepts scalars where it wants strings.
      if (!['string', 'number', 'boolean'].includes(typeof value)) return `want a string, got ${JSON.stringify(value).slice(0, 60)}`
      // The specification's enumerations (allowedValues); it carries no
      // lengths or patterns.
      if (type.allowedValues && !type.allowedValues.includes(String(value))) {
        out.enums++
        return `${JSON.stringify(value)} is not one of ${type.allowedValues.join(', ')}`
      }
      if (type.allowedValues) { out.enums++; out.enumPaths.push(path) }
      return 
    case 'integer':
      return Number.isInteger(Number(value)) && typeof value !== 'boolean' && value !== '' ? '' : `want an integer, got ${JSON.stringify(value)}`
    case 'number':
      return !Number.isNaN(Number(value)) && typeof value !== 'boolean' && value !== '' ? '' : `want a number, got ${JSON.stringify(value)}`
    case 'boolean':
      return value === true || value === false || value === 'true' || value === 'false' ? '' : `want a boolean, got ${JSON.stringify(value)}`
    case 'json':
      return value !== undefined ? '' : 'missing'
    case 'array':
      if (!Array.isArray(value)) return `want a list, got ${JSON.stringify(value).slice(0, 60)}`
      value.forEach((e, i) => report(e, type.element, `${path}[${i}]`))
      return ''
    case 'map':
      if (typeof value !== 'object' || Array.isArray(value)) return 'want a map'
      for (const [k, e] of Object.entries(value)) report(e, type.element, `${path}.${k}`)
      return ''
    case 'tag':
      if (typeof value !== 'object' || !('Key' in value) || !('Value' in value)) return 'want a tag {Key, Value}'
      return ''
    case 'union': {
      const saved = out.violations.length
      for (const t of type.types) {
        const why = check(value, t, path)
        if (why === '' && out.violations.length === saved) return ''
        out.violations.length = saved
      }
      return `fits none of ${type.types.map((t) => t.type).join(', ')}`
    }
    case 'ref': {
      const def = db.get('typeDefinition', type.reference.$ref)
      if (typeof value !== 'object' || Array.isArray(value)) return `want a ${def.name} object`
      properties(value, def.properties, path)
      return ''
    }
  }
  return `unknown type ${type.type}`
}

function report(value, type, path) {
  const why = check(value, type, path)
  if (why) bad(path, why)
}

// properties checks an object against a property set: unknown, required, types.
function properties(obj, props, path) {
  for (const [name, spec] of Object.entries(props)) {
    if (spec.required && obj[name] === undefined) bad(`${path}.${name}`, 'required, missing')
  }
  for (const [name, value] of Object.entries(obj)) {
    const spec = props[name]
    if (!spec) { bad(`${path}.${name}`, 'no such property'); continue }
    // A property whose type changed over time accepts its earlier types too.
    const types = [spec.type, ...(spec.previousTypes ?? [])]
    const saved = out.violations.length
    let ok = false
    for (const t of types) {
      const why = check(value, t, `${path}.${name}`)
      if (why === '' && out.violations.length === saved) { ok = true; break }
      out.violations.length = saved
    }
    if (!ok) report(value, spec.type, `${path}.${name}`)
  }
}

for (const [id, res] of Object.entries(template.Resources ?? {})) {
  out.resources++
  if (res.Type === 'AWS::CDK::Metadata' || res.Type.startsWith('Custom::') || res.Type === 'AWS::CloudFormation::CustomResource') continue
  const spec = db.lookup('resource', 'cloudFormationType', 'equals', res.Type)
  if (spec.length === 0) { bad(id, `no resource type ${res.Type}`); continue }
  properties(res.Properties ?? {}, spec.only().properties, id)
}
process.stdout.write(JSON.stringify(out))
