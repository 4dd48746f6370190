package vmlab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Mirror is where the pinned packages are downloaded from. Debian keeps a
// package in its pool while any suite lists it; a pin that has left the
// pool fails with the URL it tried, and is moved to a newer build.
var Mirror = "http://deb.debian.org/debian"

// Package is one Debian package pinned by its pool path and SHA-256.
type Package struct {
	Path   string // under Mirror, as in the Packages index's Filename
	SHA256 string
}

// Kernel is a guest kernel: a Debian linux-image package, unpacked (never
// installed) into the cache.
type Kernel struct {
	// Name is what tests and make targets call it: "5.10", "6.18", ...
	Name string
	// Release is the kernel's uname -r, the name of its modules folder.
	Release string
	// Suite is the Debian suite that serves it.
	Suite string
	// Packages hold the image and its modules: linux-image-RELEASE up to
	// 6.x; from 7.x Debian splits it into linux-binary (the image),
	// linux-modules and linux-base (modules.builtin, the config).
	Packages []Package
}

// Kernels are the guest kernels the lab boots, oldest first: the oldest
// each Debian suite serves that the README claims, up to the newest
// backport. The first and the last are the ones CI boots on every run
// (see CI); the rest run in `make vmtest-matrix`.
var Kernels = []Kernel{
	{"5.10", "5.10.0-32-amd64", "bullseye", []Package{{
		"pool/main/l/linux-signed-amd64/linux-image-5.10.0-32-amd64_5.10.223-1_amd64.deb",
		"86a6792f3a03ab15a643f385830cdaa921f15e3e9c8bf63aa55a9243c62fc797"}}},
	{"6.1", "6.1.0-50-amd64", "bookworm", []Package{{
		"pool/main/l/linux-signed-amd64/linux-image-6.1.0-50-amd64_6.1.176-1_amd64.deb",
		"7b5597492a0a65aee61985a492e6bcc3f2cde830072a0e3b3d8c7e1b90279bd3"}}},
	{"6.12", "6.12.117+deb13-amd64", "trixie", []Package{{
		"pool/main/l/linux-signed-amd64/linux-image-6.12.117+deb13-amd64_6.12.117-1_amd64.deb",
		"ca712d36790184f6ac125ce2b20ea4e2202ae6bb7817b7de268f1f0115ccda73"}}},
	// 6.18.12 rejected the steering program of 2026-12-04 where this host's
	// 6.18.44 and 7.3 took it: the point release stays in the matrix.
	{"6.18", "6.18.12+deb13-amd64", "trixie-backports", []Package{{
		"pool/main/l/linux-signed-amd64/linux-image-6.18.12+deb13-amd64_6.18.12-1~bpo13+1_amd64.deb",
		"571d02d211cb824765fa4b24fc2fe9d5e3edf838682a3e326aa62471652f8b9d"}}},
	{"7.3", "7.3.4+deb13-amd64", "trixie-backports", []Package{{
		"pool/main/l/linux-signed-amd64/linux-binary-7.3.4+deb13-amd64_7.3.4-1~bpo13+1_amd64.deb",
		"7e3248d03a84dcdda88c567aa8c4038f2e7795d2dd167b112c56f8901b6f513f"}, {
		"pool/main/l/linux/linux-modules-7.3.4+deb13-amd64_7.3.4-1~bpo13+1_amd64.deb",
		"b3ea01922c9f133767a83cf6891c19b3693858ded617bf22d1e34f95382c08ea"}, {
		"pool/main/l/linux/linux-base-7.3.4+deb13-amd64_7.3.4-1~bpo13+1_amd64.deb",
		"5663505495b5c90be94af42105c7b28629802516779102dac48d5a00cc00fccf"}}},
}

// Busybox is the static busybox the initramfs runs before it hands over
// to the host's root filesystem.
var Busybox = Package{
	"pool/main/b/busybox/busybox-static_1.37.0-6+b9_amd64.deb",
	"598a3fd92bdafc34cd81196b2952ad36e910e47a4ecf162f8ce5e8e262598e53",
}

// KernelByName returns the pinned kernel called name ("7.3"), or "newest"
// and "oldest".
func KernelByName(name string) (Kernel, error) {
	switch name {
	case "oldest":
		return Kernels[0], nil
	case "newest", "":
		return Kernels[len(Kernels)-1], nil
	}
	var names []string
	for _, k := range Kernels {
		if k.Name == name || k.Release == name {
			return k, nil
		}
		names = append(names, k.Name)
	}
	return Kernel{}, fmt.Errorf("vmlab: no pinned kernel %q (have %s)", name, strings.Join(names, ", "))
}

// CacheEnv names the environment variable that overrides DefaultCache.
const CacheEnv = "FASTPATH_VMLAB_CACHE"

// DefaultCache is where downloads and unpacked kernels are kept, outside
// the repository, across runs.
const DefaultCache = "/var/cache/fastpath-vmlab"

// CacheDir returns the cache folder: $FASTPATH_VMLAB_CACHE or DefaultCache.
func CacheDir() string {
	if d := os.Getenv(CacheEnv); d != "" {
		return d
	}
	return DefaultCache
}

// fetch downloads p into dir (once; a file whose hash matches is kept) and
// returns the .deb's path.
func fetch(ctx context.Context, dir string, p Package) (string, error) {
	dst := filepath.Join(dir, "debs", filepath.Base(p.Path))
	if sum, err := fileSHA256(dst); err == nil && sum == p.SHA256 {
		return dst, nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	url := Mirror + "/" + p.Path
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("vmlab: download %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("vmlab: download %s: %s (a pin that left Debian's pool moves to a newer build in internal/vmlab/kernel.go)", url, resp.Status)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".part-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), resp.Body); err != nil {
		tmp.Close()
		return "", fmt.Errorf("vmlab: download %s: %w", url, err)
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != p.SHA256 {
		return "", fmt.Errorf("vmlab: %s: SHA-256 %s, pinned %s", url, sum, p.SHA256)
	}
	return dst, os.Rename(tmp.Name(), dst)
}

func fileSHA256(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// unpack downloads ps and unpacks them with dpkg-deb into one folder,
// dir/root/NAME (NAME from the first), once (a "done" marker records a
// finished unpack), and returns that folder.
func unpack(ctx context.Context, dir string, ps ...Package) (string, error) {
	// Several test processes may share the cache (go test runs packages
	// in parallel): one downloads and unpacks while the others wait.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return "", fmt.Errorf("vmlab: lock %s: %w", lock.Name(), err)
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN)
	name := strings.TrimSuffix(filepath.Base(ps[0].Path), ".deb")
	root := filepath.Join(dir, "root", name)
	if _, err := os.Stat(filepath.Join(root, ".done")); err == nil {
		return root, nil
	}
	if err := os.RemoveAll(root); err != nil {
		return "", err
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	for _, p := range ps {
		deb, err := fetch(ctx, dir, p)
		if err != nil {
			return "", err
		}
		if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, root).CombinedOutput(); err != nil {
			return "", fmt.Errorf("vmlab: dpkg-deb -x %s: %w: %s", deb, err, out)
		}
	}
	return root, os.WriteFile(filepath.Join(root, ".done"), nil, 0o644)
}

// Files is a kernel ready to boot.
type Files struct {
	Kernel  Kernel
	Vmlinuz string // the bzImage QEMU loads
	Modules string // lib/modules/RELEASE
}

// Fetch downloads (once) and unpacks k into the cache.
func Fetch(ctx context.Context, k Kernel) (Files, error) {
	dir := CacheDir()
	root, err := unpack(ctx, dir, k.Packages...)
	if err != nil {
		return Files{}, err
	}
	// Up to 6.x the image is boot/vmlinuz-RELEASE and the modules are in
	// lib/modules; from 7.x both are in usr/lib/modules/RELEASE.
	f := Files{Kernel: k}
	for _, p := range []string{"lib/modules/" + k.Release, "usr/lib/modules/" + k.Release} {
		if _, err := os.Stat(filepath.Join(root, p, "kernel")); err == nil {
			f.Modules = filepath.Join(root, p)
		}
	}
	for _, p := range []string{"boot/vmlinuz-" + k.Release, "usr/lib/modules/" + k.Release + "/vmlinuz"} {
		if _, err := os.Stat(filepath.Join(root, p)); err == nil {
			f.Vmlinuz = filepath.Join(root, p)
		}
	}
	if f.Modules == "" || f.Vmlinuz == "" {
		return Files{}, fmt.Errorf("vmlab: kernel %s: no image or modules for %s in %s", k.Name, k.Release, root)
	}
	return f, nil
}

// busybox returns the path of the static busybox binary in the cache.
func busybox(ctx context.Context) (string, error) {
	root, err := unpack(ctx, CacheDir(), Busybox)
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, "usr", "bin", "busybox")
	if _, err := os.Stat(p); err != nil {
		return "", errors.New("vmlab: busybox-static has no usr/bin/busybox")
	}
	return p, nil
}
