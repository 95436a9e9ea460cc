package autoretouch

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeTokenFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatalf("writing token file: %v", err)
	}
}

func setModTime(t *testing.T, path string, modTime time.Time) {
	t.Helper()
	if err := os.Chtimes(path, modTime, modTime); err != nil {
		t.Fatalf("setting the modification time: %v", err)
	}
}

func accessToken(t *testing.T, f *TokenFile) string {
	t.Helper()
	token, err := f.AccessToken(context.Background())
	if err != nil {
		t.Fatalf("AccessToken failed: %v", err)
	}
	return token
}

func TestTokenFileReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	writeTokenFile(t, path, "  token-A\n")

	f, err := NewTokenFile(path)
	if err != nil {
		t.Fatalf("NewTokenFile failed: %v", err)
	}

	if got := accessToken(t, f); got != "token-A" {
		t.Errorf("token is %q, expected the trimmed content token-A", got)
	}
}

func TestTokenFileChangePickedUp(t *testing.T) {
	cases := []struct {
		name string
		next string
		// coarseTime sets both versions' modification time to the current
		// second, as a file system with 1 s time stamps does, so that
		// neither size nor time distinguishes same-length versions.
		coarseTime bool
	}{
		{name: "same length", next: "token-B"},
		{name: "other length", next: "token-BB"},
		{name: "same length coarse time", next: "token-B", coarseTime: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "token")
			second := time.Now().Truncate(time.Second)
			writeTokenFile(t, path, "token-A")
			if tc.coarseTime {
				setModTime(t, path, second)
			}
			f, err := NewTokenFile(path)
			if err != nil {
				t.Fatalf("NewTokenFile failed: %v", err)
			}

			writeTokenFile(t, path, tc.next)
			if tc.coarseTime {
				setModTime(t, path, second)
			}

			if got := accessToken(t, f); got != tc.next {
				t.Errorf("token after the file changed is %q, expected %q", got, tc.next)
			}
		})
	}
}

func TestTokenFileReplacedBySymlinkSwap(t *testing.T) {
	// Kubernetes updates a mounted secret by pointing a symlink at a new
	// directory.
	dir := t.TempDir()
	for name, token := range map[string]string{"v1": "token-A", "v2": "token-B"} {
		if err := os.Mkdir(filepath.Join(dir, name), 0o700); err != nil {
			t.Fatal(err)
		}
		writeTokenFile(t, filepath.Join(dir, name, "token"), token)
	}
	link := filepath.Join(dir, "current")
	if err := os.Symlink("v1", link); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(link, "token")
	f, err := NewTokenFile(path)
	if err != nil {
		t.Fatalf("NewTokenFile failed: %v", err)
	}

	if err := os.Symlink("v2", link+".new"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(link+".new", link); err != nil {
		t.Fatal(err)
	}

	if got := accessToken(t, f); got != "token-B" {
		t.Errorf("token after the symlink swap is %q, expected token-B", got)
	}
}

func TestTokenFileKeepsLastGoodToken(t *testing.T) {
	cases := []struct {
		name    string
		corrupt func(t *testing.T, path string)
	}{
		{name: "missing", corrupt: func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "empty", corrupt: func(t *testing.T, path string) { writeTokenFile(t, path, "") }},
		{name: "white space only", corrupt: func(t *testing.T, path string) { writeTokenFile(t, path, " \n") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "token")
			writeTokenFile(t, path, "token-A")
			f, err := NewTokenFile(path)
			if err != nil {
				t.Fatalf("NewTokenFile failed: %v", err)
			}

			tc.corrupt(t, path)
			f.Invalidate("token-A")

			if got := accessToken(t, f); got != "token-A" {
				t.Errorf("token while the file is %s is %q, expected the last good token-A", tc.name, got)
			}
		})
	}
}

func TestTokenFileInvalidateRereads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	old := time.Now().Add(-time.Hour)
	writeTokenFile(t, path, "token-A")
	setModTime(t, path, old)
	f, err := NewTokenFile(path)
	if err != nil {
		t.Fatalf("NewTokenFile failed: %v", err)
	}

	// Same size and modification time: only Invalidate can reveal the change.
	writeTokenFile(t, path, "token-B")
	setModTime(t, path, old)
	if got := accessToken(t, f); got != "token-A" {
		t.Fatalf("token before Invalidate is %q, expected the cached token-A, so this test cannot show what Invalidate does", got)
	}
	f.Invalidate("token-A")

	if got := accessToken(t, f); got != "token-B" {
		t.Errorf("token after Invalidate is %q, expected the reread token-B", got)
	}
}

func TestTokenFileErrors(t *testing.T) {
	cases := []struct {
		name    string
		content *string
	}{
		{name: "missing", content: nil},
		{name: "empty", content: ptr("")},
		{name: "two tokens", content: ptr("SECRET-ONE SECRET-TWO\n")},
		{name: "two lines", content: ptr("SECRET-ONE\nSECRET-TWO\n")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "token")
			if tc.content != nil {
				writeTokenFile(t, path, *tc.content)
			}

			_, err := NewTokenFile(path)

			if err == nil {
				t.Fatalf("NewTokenFile accepted a file that is %s", tc.name)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the path %s", err, path)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error %q shows the file's content", err)
			}
		})
	}
}

func TestStaticToken(t *testing.T) {
	token, err := StaticToken("abc").AccessToken(context.Background())
	if err != nil || token != "abc" {
		t.Errorf("StaticToken(abc) returned %q, %v, expected abc and no error", token, err)
	}

	if _, err := StaticToken("").AccessToken(context.Background()); err == nil {
		t.Errorf("empty StaticToken returned no error, expected one")
	}
}

func ptr[T any](v T) *T { return &v }
