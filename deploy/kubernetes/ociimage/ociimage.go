// Package ociimage builds fastpath's container image without a container
// runtime: the static binary at /usr/local/bin/fastpath on an empty base,
// and nothing else (fastpath reads the kernel through system calls, /proc
// and /sys, which the runtime mounts, and runs no other program). The
// image is reproducible: the same binary gives the same digest.
//
// Write puts it in a tarball that `docker load`, `podman load` and
// `crane push` read (go-containerregistry's format, as ko and crane
// write it).
package ociimage

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// BinaryPath is where the image holds fastpath, on the image's PATH: the
// manifests run the command "fastpath".
const BinaryPath = "/usr/local/bin/fastpath"

// Path is the image's PATH.
const Path = "/usr/local/bin:/usr/bin:/bin"

// DefaultTag is the image the manifests run (deploy/kubernetes/image):
// the tag make image gives the tarball.
const DefaultTag = "ghcr.io/fastpathnet/fastpath:latest"

// Source is the image's org.opencontainers.image.source label.
const Source = "https://github.com/fastpathnet/fastpath"

// arches maps an ELF machine to its OCI architecture.
var arches = map[elf.Machine]string{elf.EM_X86_64: "amd64", elf.EM_AARCH64: "arm64"}

// Build returns the image of the fastpath binary at binary: a static
// Linux executable for amd64 or arm64 (CGO_ENABLED=0 go build
// ./cmd/fastpath), refused otherwise with what to do.
func Build(binary string) (v1.Image, error) {
	b, err := os.ReadFile(binary)
	if err != nil {
		return nil, err
	}
	arch, err := check(binary, b)
	if err != nil {
		return nil, err
	}
	lt, err := layerTar(b)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(lt)), nil
	})
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Config.Env = []string{"PATH=" + Path}
	cf.Config.Entrypoint = []string{BinaryPath}
	cf.Config.Cmd = []string{"--help"}
	cf.Config.Labels = map[string]string{"org.opencontainers.image.source": Source, "org.opencontainers.image.title": "fastpath"}
	return mutate.ConfigFile(img, cf)
}

// check reports the architecture of the executable b (read from the
// file binary), or why an empty image cannot run it.
func check(binary string, b []byte) (string, error) {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return "", fmt.Errorf("%s: not a Linux executable (%v): build one with CGO_ENABLED=0 GOOS=linux go build ./cmd/fastpath", binary, err)
	}
	arch, ok := arches[f.Machine]
	if !ok || f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return "", fmt.Errorf("%s: a %v %v, not an amd64 or arm64 executable", binary, f.Machine, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", fmt.Errorf("%s is dynamically linked: the image has no libc or loader; build it with CGO_ENABLED=0", binary)
		}
	}
	return arch, nil
}

// layerTar is the image's one layer: /usr/local/bin/fastpath and its
// directories, owned by root, dated at the epoch (reproducible).
func layerTar(bin []byte) ([]byte, error) {
	var buf bytes.Buffer
	w := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	for _, d := range []string{"usr/", "usr/local/", "usr/local/bin/"} {
		if err := w.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	if err := w.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: BinaryPath[1:], Mode: 0o755, Size: int64(len(bin)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
		return nil, err
	}
	if _, err := w.Write(bin); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Write builds the image of binary and writes it to out as a tarball
// tagged tag (such as ghcr.io/fastpathnet/fastpath:latest); it returns the
// image and its tag.
func Write(binary, out, tag string) (v1.Image, name.Tag, error) {
	t, err := name.NewTag(tag)
	if err != nil {
		return nil, name.Tag{}, fmt.Errorf("tag %q: %w", tag, err)
	}
	img, err := Build(binary)
	if err != nil {
		return nil, t, err
	}
	if err := tarball.WriteToFile(out, t, img); err != nil {
		return nil, t, err
	}
	return img, t, nil
}

// ReadFile returns the contents and mode of the file at p (absolute) in
// img's filesystem, as a runtime would unpack it.
func ReadFile(img v1.Image, p string) ([]byte, fs.FileMode, error) {
	rc := mutate.Extract(img)
	defer rc.Close()
	r := tar.NewReader(rc)
	for {
		h, err := r.Next()
		if err == io.EOF {
			return nil, 0, fmt.Errorf("%s: not in the image", p)
		}
		if err != nil {
			return nil, 0, err
		}
		if "/"+strings.TrimPrefix(h.Name, "./") == p && h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(r)
			return b, h.FileInfo().Mode(), err
		}
	}
}
