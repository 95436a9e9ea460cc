package collector

import "sync"

// jobQueue contains the requests of one scrape. Pushing never blocks, so the
// listing's pages are never held back by balances still waiting for a
// request slot. Balance jobs are taken before workflow jobs, so a scrape cut
// by its deadline loses workflow prices before balances.
type jobQueue struct {
	mu       sync.Mutex
	ready    *sync.Cond
	balances []fetchJob
	others   []fetchJob
	closed   bool
}

func newJobQueue() *jobQueue {
	q := &jobQueue{}
	q.ready = sync.NewCond(&q.mu)
	return q
}

func (q *jobQueue) push(job fetchJob) {
	q.mu.Lock()
	if job.endpoint == endpointBalance {
		q.balances = append(q.balances, job)
	} else {
		q.others = append(q.others, job)
	}
	q.mu.Unlock()
	q.ready.Signal()
}

// pop waits for a job and returns false once the queue is closed and empty.
func (q *jobQueue) pop() (fetchJob, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()

	for len(q.balances) == 0 && len(q.others) == 0 && !q.closed {
		q.ready.Wait()
	}

	switch {
	case len(q.balances) > 0:
		job := q.balances[0]
		q.balances[0] = fetchJob{}
		q.balances = q.balances[1:]
		return job, true
	case len(q.others) > 0:
		job := q.others[0]
		q.others[0] = fetchJob{}
		q.others = q.others[1:]
		return job, true
	default:
		return fetchJob{}, false
	}
}

// close wakes every waiting worker; they drain what is left, then stop.
func (q *jobQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.ready.Broadcast()
}
