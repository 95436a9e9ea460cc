package autoretouchtest

import "math/rand/v2"

// randomFaults injects one of a set of faults into a random share of the
// requests, for soak tests.
type randomFaults struct {
	rng         *rand.Rand
	probability float64
	faults      []Fault
}

// SetRandomFaults applies one of faults, picked at random, to each request
// with the given probability, unless a rule from SetFault matches it. The
// seed makes a failing run repeatable. A probability of 0 turns it off.
func (s *Server) SetRandomFaults(seed uint64, probability float64, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()

	if probability <= 0 || len(faults) == 0 {
		s.random = nil
		return
	}
	s.random = &randomFaults{
		rng:         rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		probability: probability,
		faults:      append([]Fault(nil), faults...),
	}
}

// pick returns a fault for one request, or false. The caller holds s.mu,
// which also guards the generator.
func (r *randomFaults) pick() (Fault, bool) {
	if r == nil || r.rng.Float64() >= r.probability {
		return Fault{}, false
	}
	return r.faults[r.rng.IntN(len(r.faults))], true
}

// CloseClientConnections closes every connection to the server, idle or
// not, so that a test can check that the client leaves nothing behind.
func (s *Server) CloseClientConnections() {
	s.httpServer.CloseClientConnections()
}
