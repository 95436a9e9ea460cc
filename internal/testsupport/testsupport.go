// Package testsupport contains the helpers that the end-to-end, deploy,
// collector and client tests share: a buffer that a running process or logger
// writes to while a test reads it, a free loopback address, and an atomic
// file replacement.
package testsupport

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
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

// LoopbackAddress returns FreeLoopbackAddress's address, and fails the test
// when there is none.
func LoopbackAddress(t testing.TB) string {
	t.Helper()
	address, err := FreeLoopbackAddress()
	if err != nil {
		t.Fatal(err)
	}
	return address
}

// ReplaceFile writes content and a newline to a new file of mode 0600 and
// renames it over path, as a Kubernetes secret update replaces a file. It
// fails the test when a step fails.
func ReplaceFile(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(content+"\n"), 0o600); err != nil {
		t.Fatalf("writing %s: %v", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatalf("renaming %s: %v", tmp, err)
	}
}
