// Package flotilla holds Flotilla's domain: job definitions, runs and their
// statuses, clusters, and the ports (Store, Queue, Executor, LogReader) that
// the use cases consume and the adapters implement.
//
// It imports the standard library only. Everything that talks to an outside
// system lives in an adapter package named after that system
// (internal/embedded, internal/awsdynamodb, …); wiring happens only in
// cmd/flotilla and lambdas/*.
//
// Runs move through the statuses below. Every status write is conditional on
// the status it expects (see Transition), so duplicate, late and reordered
// engine events do no harm:
//
//	QUEUED ──admit──▶ PENDING ──task running──▶ RUNNING
//	  │                 │  ▲                       │
//	  │ stop/queue      │  └─ engine had no room   │ task stopped
//	  │ timeout         │     or infra retry       ▼
//	  └───────────────▶ SUCCEEDED | FAILED | STOPPED (terminal)
//
// A run moves back to QUEUED only when it never started (the engine had no
// room) or as an explicit new attempt after an infrastructure failure.
package flotilla
