// Package flotillatest holds one conformance suite per port of package
// flotilla. Every implementation — embedded and AWS — runs the same suite,
// so they agree on semantics, not just on signatures.
//
//	func TestStore(t *testing.T) {
//		flotillatest.TestStore(t, func(t *testing.T) flotilla.Store { return newStore(t) })
//	}
package flotillatest
