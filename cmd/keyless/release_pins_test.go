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

// pinned is what one template pins: its KEYLESS_HELPER_SHA256 and what
// follows the tag on its release image line ("" or "@sha256:...").
type pinned struct{ helpers, image string }

// scratchRepo is a directory with the release scripts and one template per
// pin given, for the scripts' own tests.
func scratchRepo(t *testing.T, pins ...pinned) string {
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
		y := fmt.Sprintf("spec:\n  inputs: {}\n---\nkeyless:install:\n  image:\n    name: $[[ inputs.image ]]:$[[ component.version ]]%s\n"+
			".x%d:\n  variables:\n    KEYLESS_HELPER_SHA256: %q\n    OTHER: x\n", p.image, i, p.helpers)
		if err := os.WriteFile(filepath.Join(dir, "templates", fmt.Sprintf("t%d.yml", i)), []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func checkPins(t *testing.T, dir string, image ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join(dir, "scripts", "release-check-pins.sh"), filepath.Join(dir, "dist")}, image...)...)
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
	// The image: an OCI layout tarball whose index.json names the index
	// digest, as scripts/release-image.sh writes it (crane's layout.Write).
	digest := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("index")))
	other := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("another index")))
	layout := func(dir, d string) string {
		root := filepath.Join(dir, "layout")
		os.MkdirAll(root, 0o755)
		index := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","size":607,"digest":"` + d + `"}]}`
		if err := os.WriteFile(filepath.Join(root, "index.json"), []byte(index), 0o644); err != nil {
			t.Fatal(err)
		}
		tarball := filepath.Join(dir, "image.tar")
		if out, err := exec.Command("tar", "-C", root, "-cf", tarball, ".").CombinedOutput(); err != nil {
			t.Fatalf("tar: %v: %s", err, out)
		}
		return tarball
	}
	both := pinned{pin, "@" + digest}
	for _, tc := range []struct {
		name   string
		pins   []pinned
		tamper bool
		image  string // "layout:DIGEST" for a layout tarball of that index, else the argument
		ok     bool
		want   string
	}{
		{"pinned and reproduced", []pinned{both, both}, false, "layout:" + digest, true, "is what the templates pin (" + pin + " image@" + digest + ")"},
		{"pushed image is the pinned one", []pinned{both}, false, "registry.example/keyless@" + digest, true, "is what the templates pin"},
		{"image not given", []pinned{both}, false, "", true, "no image given to check"},
		{"a helper differs", []pinned{both, both}, true, "", false, "does not reproduce the pinned one"},
		{"the image's binary unpinned", []pinned{{pin[:strings.Index(pin, " keyless-linux-amd64")], "@" + digest}}, false, "", false, "the pin names no keyless-linux-amd64"},
		{"no pin", []pinned{{"", ""}, {"", ""}}, false, "", false, "run make release-pin VERSION=X.Y.Z"},
		{"templates disagree", []pinned{both, {strings.Replace(pin, "go1.26.8", "go1.26.7", 1), "@" + digest}}, false, "", false, "pin different helpers"},
		{"no Go version", []pinned{{strings.TrimPrefix(pin, "go1.26.8 "), "@" + digest}}, false, "", false, "names no Go version"},
		{"image by tag", []pinned{{pin, ""}}, false, "", false, "name the release image by tag, not by digest"},
		{"templates pin different images", []pinned{both, {pin, "@" + other}}, false, "", false, "name the release image differently"},
		{"built image differs", []pinned{both}, false, "layout:" + other, false, "does not reproduce the pinned image"},
		{"pushed image differs", []pinned{both}, false, "registry.example/keyless@" + other, false, "is not the one the templates pin"},
		{"layout missing", []pinned{both}, false, "/nonexistent/image.tar", false, "is missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := scratchRepo(t, tc.pins...)
			write(dir)
			if tc.tamper {
				os.WriteFile(filepath.Join(dir, "dist", "keyless-helper-linux-arm64"), []byte("swapped"), 0o755)
			}
			var args []string
			if d, ok := strings.CutPrefix(tc.image, "layout:"); ok {
				args = append(args, layout(t.TempDir(), d))
			} else if tc.image != "" {
				args = append(args, tc.image)
			}
			out, ok := checkPins(t, dir, args...)
			if ok != tc.ok || !strings.Contains(out, tc.want) {
				t.Errorf("ok=%v, want %v with %q:\n%s", ok, tc.ok, tc.want, out)
			}
		})
	}
}

// make release-pin VERSION= clears what a release pinned: the helpers'
// digests and the image's, so main names the image by tag again.
func TestReleasePinClears(t *testing.T) {
	digest := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("index")))
	dir := scratchRepo(t, pinned{"go1.26.8 linux-amd64=ab", "@" + digest}, pinned{"", ""})
	// A template that runs the image but downloads no helper (lint, report).
	lint := filepath.Join(dir, "templates", "lint.yml")
	lintYAML := "spec:\n  inputs: {}\n---\nlint:\n  image:\n      name: $[[ inputs.image ]]:$[[ component.version ]]"
	if err := os.WriteFile(lint, []byte(lintYAML+"@"+digest+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", filepath.Join(dir, "scripts", "release-pin.sh"))
	cmd.Env = append(os.Environ(), "VERSION=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("release-pin VERSION=: %v\n%s", err, out)
	}
	for i := 0; i < 2; i++ {
		b, err := os.ReadFile(filepath.Join(dir, "templates", fmt.Sprintf("t%d.yml", i)))
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("spec:\n  inputs: {}\n---\nkeyless:install:\n  image:\n    name: $[[ inputs.image ]]:$[[ component.version ]]\n"+
			".x%d:\n  variables:\n    KEYLESS_HELPER_SHA256: \"\"\n    OTHER: x\n", i)
		if string(b) != want {
			t.Errorf("t%d.yml after release-pin VERSION=:\n%s\nwant:\n%s", i, b, want)
		}
	}
	if b, _ := os.ReadFile(lint); string(b) != lintYAML+"\n" {
		t.Errorf("lint.yml after release-pin VERSION=:\n%s\nwant:\n%s", b, lintYAML)
	}
}
