package collector

import "testing"

func TestJobQueueBalancesFirst(t *testing.T) {
	queue := newJobQueue()
	a, b := &orgResult{id: "a"}, &orgResult{id: "b"}
	queue.push(fetchJob{org: a, endpoint: endpointWorkflows})
	queue.push(fetchJob{org: a, endpoint: endpointBalance})
	queue.push(fetchJob{org: b, endpoint: endpointWorkflows})
	queue.push(fetchJob{org: b, endpoint: endpointBalance})
	queue.close()

	want := []struct{ id, endpoint string }{
		{"a", endpointBalance},
		{"b", endpointBalance},
		{"a", endpointWorkflows},
		{"b", endpointWorkflows},
	}
	for i, w := range want {
		job, ok := queue.pop()
		if !ok {
			t.Fatalf("pop %d: queue empty, want %s of %s", i, w.endpoint, w.id)
		}
		if job.org.id != w.id || job.endpoint != w.endpoint {
			t.Errorf("pop %d = %s of %s, want %s of %s", i, job.endpoint, job.org.id, w.endpoint, w.id)
		}
	}
	if _, ok := queue.pop(); ok {
		t.Error("pop after the last job returned a job from a closed queue")
	}
}
