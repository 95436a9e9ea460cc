// Package testsupport holds the helpers that the end-to-end, deploy, collector
// and client tests share: a buffer a running process or logger can write to
// while a test reads it, and a free loopback address.
package testsupport

import (
	"bytes"
	"fmt"
	"net"
	"sync"
)

// SyncBuffer is a bytes.Buffer that is safe for concurrent writes and reads,
// such as a process's output read while the process runs.
type SyncBuffer struct {
	mu     sync.Mutex
	buffer bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buffer.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buffer.String()
}

// FreeLoopbackAddress returns a loopback address with a port that was free a
// moment ago. Another process can take it before the server binds it, which
// fails the test with "address already in use".
func FreeLoopbackAddress() (string, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free loopback port: %w", err)
	}
	address := listener.Addr().String()
	if err := listener.Close(); err != nil {
		return "", fmt.Errorf("closing the listener on %s: %w", address, err)
	}
	return address, nil
}
