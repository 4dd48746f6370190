package ociimage

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// staticFastpath builds fastpath from this tree as the image wants it.
func staticFastpath(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fastpath")
	cmd := exec.Command("go", "build", "-C", "../../..", "-o", bin, "./cmd/fastpath")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/fastpath: %v\n%s", err, out)
	}
	return bin
}

// TestImage writes the image of a static fastpath, reads the tarball
// back as a registry client would, and runs the image's fastpath in a
// root of nothing but the image's files (chroot): it needs nothing else.
func TestImage(t *testing.T) {
	bin := staticFastpath(t)
	out := filepath.Join(t.TempDir(), "image.tar")
	const ref = "registry.example/fastpath:test"
	built, _, err := Write(bin, out, ref)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag(ref)
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatalf("the tarball read back: %v", err)
	}
	d1, _ := built.Digest()
	d2, err := img.Digest()
	if err != nil || d1 != d2 {
		t.Errorf("digest written %v, read back %v (%v)", d1, d2, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH || !slices.Contains(cf.Config.Env, "PATH="+Path) ||
		!slices.Equal(cf.Config.Entrypoint, []string{BinaryPath}) || cf.Config.Labels["org.opencontainers.image.source"] != Source {
		t.Errorf("config: %s/%s, %+v", cf.OS, cf.Architecture, cf.Config)
	}
	if !slices.Contains(strings.Split(Path, ":"), filepath.Dir(BinaryPath)) {
		t.Errorf("%s is not on the image's PATH %s: the manifests' command \"fastpath\" would not be found", BinaryPath, Path)
	}

	// Exactly the binary and its directories, the binary's bytes intact.
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers (%v), want 1", len(layers), err)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	root := t.TempDir()
	var files []string
	r := tar.NewReader(rc)
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, h.Name)
		p := filepath.Join(root, h.Name)
		if h.Typeflag == tar.TypeDir {
			os.MkdirAll(p, 0o755)
			continue
		}
		b, _ := io.ReadAll(r)
		if err := os.WriteFile(p, b, h.FileInfo().Mode()); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"usr", "usr/local", "usr/local/bin", "usr/local/bin/fastpath"}; !slices.Equal(files, want) {
		t.Errorf("the image's files: %q, want %q", files, want)
	}
	want, _ := os.ReadFile(bin)
	got, mode, err := ReadFile(img, BinaryPath)
	if err != nil || !bytes.Equal(got, want) || mode.Perm() != 0o755 {
		t.Errorf("%s in the image: %d bytes (the binary has %d), mode %v, %v", BinaryPath, len(got), len(want), mode, err)
	}

	// The same binary, the same image.
	again, err := Build(bin)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := again.Digest(); d != d1 {
		t.Errorf("built twice from one binary: %v, then %v", d1, d)
	}

	if os.Geteuid() != 0 {
		t.Skip("chroot into the image's files needs root (make test runs as root)")
	}
	o, err := exec.Command("chroot", root, BinaryPath, "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(o), "gen") {
		t.Errorf("the image's fastpath alone in a root: %v\n%s", err, o)
	}
}

// TestRefused: what an empty image cannot run is refused with what to do.
func TestRefused(t *testing.T) {
	text := filepath.Join(t.TempDir(), "script")
	os.WriteFile(text, []byte("#!/bin/sh\n"), 0o755)
	dynamic, err := exec.LookPath("true") // the base system's: linked to libc
	if err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]string{text: "CGO_ENABLED=0", dynamic: "dynamically linked"} {
		if _, err := Build(f); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Build(%s): %v, want an error saying %q", f, err, want)
		}
	}
	if _, _, err := Write(dynamic, filepath.Join(t.TempDir(), "x.tar"), "Not A Tag"); err == nil || !strings.Contains(err.Error(), `tag "Not A Tag"`) {
		t.Errorf("a malformed tag: %v", err)
	}
}
