// Package runs holds the use cases of a run's life: launch, dispatch
// (admission to a cluster slot and the start on the engine), reconcile
// (engine task events → statuses), stop, and the periodic sweep (timeouts,
// lost events, re-admission). They depend only on the ports of package
// flotilla, so the same code runs in `flotilla serve` and in the Lambdas.
//
// Capacity follows DESIGN §5: the dispatcher admits a run only by a
// conditional QUEUED→PENDING write that takes a cluster slot atomically.
// A run that finds no room stays QUEUED in the store with a wait reason and
// its message is deleted (waiting never burns queue receives); whatever
// frees a slot — a run ending, a stop, the sweep — re-admits waiting runs by
// sending fresh messages, choosing owners in turns so one owner's burst
// cannot starve another.
package runs
