package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// scratchRepo is a directory with the release scripts and one template per
// pin given, for the scripts' own tests.
func scratchRepo(t *testing.T, pins ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"scripts", "templates", "dist"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []string{"release-check-pins.sh", "release-pin.sh"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "scripts", s))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "scripts", s), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range pins {
		y := fmt.Sprintf("spec:\n  inputs: {}\n---\n.x%d:\n  variables:\n    KEYLESS_HELPER_SHA256: %q\n    OTHER: x\n", i, p)
		if err := os.WriteFile(filepath.Join(dir, "templates", fmt.Sprintf("t%d.yml", i)), []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func checkPins(t *testing.T, dir string) (string, bool) {
	t.Helper()
	cmd := exec.Command("bash", filepath.Join(dir, "scripts", "release-check-pins.sh"), filepath.Join(dir, "dist"))
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// The release's last gate: the helpers it publishes are the ones its
// templates pin, or it stops with the reason.
func TestReleaseCheckPins(t *testing.T) {
	if _, err := exec.LookPath("sha256sum"); err != nil {
		t.Skip("sha256sum (coreutils) is missing")
	}
	files := map[string][]byte{}
	pin := "go1.26.8"
	for _, name := range []string{"linux-amd64", "linux-arm64", "keyless-linux-amd64", "keyless-linux-arm64"} {
		file := name
		if strings.HasPrefix(name, "linux-") {
			file = "keyless-helper-" + name
		}
		files[file] = []byte(file + " bytes")
		pin += fmt.Sprintf(" %s=%x", name, sha256.Sum256(files[file]))
	}
	write := func(dir string) {
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(dir, "dist", name), b, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name   string
		pins   []string
		tamper bool
		ok     bool
		want   string
	}{
		{"pinned and reproduced", []string{pin, pin}, false, true, "are the ones the templates pin"},
		{"a helper differs", []string{pin, pin}, true, false, "does not reproduce the pinned one"},
		{"the image's binary unpinned", []string{pin[:strings.Index(pin, " keyless-linux-amd64")]}, false, false, "the pin names no keyless-linux-amd64"},
		{"no pin", []string{"", ""}, false, false, "run make release-pin VERSION=X.Y.Z"},
		{"templates disagree", []string{pin, strings.Replace(pin, "go1.26.8", "go1.26.7", 1)}, false, false, "pin different helpers"},
		{"no Go version", []string{strings.TrimPrefix(pin, "go1.26.8 ")}, false, false, "names no Go version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := scratchRepo(t, tc.pins...)
			write(dir)
			if tc.tamper {
				os.WriteFile(filepath.Join(dir, "dist", "keyless-helper-linux-arm64"), []byte("swapped"), 0o755)
			}
			out, ok := checkPins(t, dir)
			if ok != tc.ok || !strings.Contains(out, tc.want) {
				t.Errorf("ok=%v, want %v with %q:\n%s", ok, tc.ok, tc.want, out)
			}
		})
	}
}
