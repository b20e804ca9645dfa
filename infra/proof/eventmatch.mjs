// Matches events against an EventBridge event pattern with the pattern
// matcher of serverless-offline-aws-eventbridge (a third-party emulator of
// EventBridge, pinned in package-lock.json), not with Flotilla's code.
// It implements EventBridge's content filtering for exact values, prefix,
// suffix, anything-but, exists, numeric and equals-ignore-case (the rule
// uses exact values and prefix); it is not AWS's own matcher (event-ruler),
// which cannot be installed here.
// Input (argv[2]): {"pattern":{…},"events":[{"id","event":{source,detail-type,detail}}]}
// Output (stdout): {"<id>": true|false}
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const Plugin = require('serverless-offline-aws-eventbridge')
// The matcher is a method of the plugin; it needs no server, only a logger.
const matcher = Object.create(Plugin.prototype)
matcher.logDebug = () => {}

const { pattern, events } = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const out = {}
for (const { id, event } of events) {
  // The plugin matches PutEvents entries (Source, DetailType, Detail as a string).
  const entry = { Source: event.source, DetailType: event['detail-type'], Detail: JSON.stringify(event.detail) }
  out[id] = matcher.verifyIsSubscribed({ event: { pattern } }, entry)
}
process.stdout.write(JSON.stringify(out))
