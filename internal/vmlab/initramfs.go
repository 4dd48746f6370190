package vmlab

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// GuestModules are the modules the initramfs loads, with what they depend
// on, before it mounts the host's root: the transports (virtio over PCI,
// 9p), the overlay, and the NIC drivers the lab offers. A module the kernel
// has built in is skipped.
var GuestModules = []string{
	"virtio_pci", "virtio_net", "9pnet_virtio", "9p", "overlay",
	"igb", "e1000e", "veth",
}

// modules resolves names, and what they depend on, in a kernel's modules
// folder, and returns them in an order insmod can load them in.
type modules struct {
	dir     string
	files   map[string]string // module name (with '_') -> path
	builtin map[string]bool
	order   []string
	seen    map[string]bool
	deps    map[string][]string
	data    map[string][]byte // uncompressed .ko
}

func normal(name string) string { return strings.ReplaceAll(name, "-", "_") }

func scanModules(dir string) (*modules, error) {
	m := &modules{dir: dir, files: map[string]string{}, builtin: map[string]bool{},
		seen: map[string]bool{}, deps: map[string][]string{}, data: map[string][]byte{}}
	err := filepath.WalkDir(filepath.Join(dir, "kernel"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		base := d.Name()
		if i := strings.Index(base, ".ko"); i > 0 && !d.IsDir() {
			m.files[normal(base[:i])] = p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("vmlab: modules: %w", err)
	}
	f, err := os.Open(filepath.Join(dir, "modules.builtin"))
	if err != nil {
		return nil, fmt.Errorf("vmlab: modules: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		base := filepath.Base(s.Text())
		m.builtin[normal(strings.TrimSuffix(base, ".ko"))] = true
	}
	return m, s.Err()
}

// add appends name after everything it depends on.
func (m *modules) add(ctx context.Context, name string) error {
	name = normal(name)
	if m.seen[name] {
		return nil
	}
	m.seen[name] = true
	path, ok := m.files[name]
	if !ok {
		if m.builtin[name] {
			return nil
		}
		return fmt.Errorf("vmlab: module %s: neither in %s nor built in", name, m.dir)
	}
	ko, err := readModule(ctx, path)
	if err != nil {
		return err
	}
	deps, err := moduleDepends(ko)
	if err != nil {
		return fmt.Errorf("vmlab: module %s: %w", path, err)
	}
	for _, d := range deps {
		if err := m.add(ctx, d); err != nil {
			return err
		}
	}
	m.data[name] = ko
	m.deps[name] = deps
	m.order = append(m.order, name)
	return nil
}

// readModule returns a module's ELF bytes. Debian compresses modules with
// xz since 6.x (zstd on some builds); busybox's insmod takes plain ELF.
func readModule(ctx context.Context, path string) ([]byte, error) {
	switch {
	case strings.HasSuffix(path, ".ko"):
		return os.ReadFile(path)
	case strings.HasSuffix(path, ".ko.gz"):
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		z, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("vmlab: %s: %w", path, err)
		}
		return io.ReadAll(z)
	case strings.HasSuffix(path, ".ko.xz"), strings.HasSuffix(path, ".ko.zst"):
		tool := "xz"
		if strings.HasSuffix(path, ".zst") {
			tool = "zstd"
		}
		out, err := exec.CommandContext(ctx, tool, "-dc", path).Output()
		if err != nil {
			return nil, fmt.Errorf("vmlab: %s -dc %s: %w (install xz-utils or zstd)", tool, path, err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("vmlab: %s: not a module", path)
}

// moduleDepends reads the depends= entry of a module's .modinfo section.
func moduleDepends(ko []byte) ([]string, error) {
	f, err := elf.NewFile(bytes.NewReader(ko))
	if err != nil {
		return nil, err
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("no .modinfo section")
	}
	info, err := sec.Data()
	if err != nil {
		return nil, err
	}
	for _, kv := range bytes.Split(info, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			if len(v) == 0 {
				return nil, nil
			}
			return strings.Split(string(v), ","), nil
		}
	}
	return nil, nil
}

// initScript is the initramfs's /init: load the modules, mount the host's
// root read-only over 9p under a tmpfs overlay, mount the job's share, and
// hand over to the job's run.sh in that root. A step that fails powers
// the guest off, so the host sees no result file instead of a hang.
const initScript = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
fail() { echo "vmlab: $*"; echo o > /proc/sysrq-trigger; sleep 30; }
for m in $(cat /etc/modules); do
	insmod /lib/modules/$m.ko || fail "insmod $m"
done
mkdir -p /lower /rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose host /lower || fail "mount the host's root (9p)"
mount -t tmpfs -o mode=0755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot || fail "mount the overlay"
for d in run tmp; do mount -t tmpfs -o mode=1777 tmpfs /newroot/$d || fail "tmpfs on /$d"; done
mkdir -p /newroot/run/vmlab/job /newroot/run/netns
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 job /newroot/run/vmlab/job || fail "mount the job (9p)"
for d in proc sys dev; do mount --move /$d /newroot/$d; done
exec switch_root /newroot /bin/sh /run/vmlab/job/run.sh
`

// BuildInitramfs writes a newc cpio archive to w holding a static busybox,
// the init script and the modules GuestModules needs on kernel f.
func BuildInitramfs(ctx context.Context, f Files, w io.Writer) error {
	bb, err := busybox(ctx)
	if err != nil {
		return err
	}
	bbData, err := os.ReadFile(bb)
	if err != nil {
		return err
	}
	m, err := scanModules(f.Modules)
	if err != nil {
		return err
	}
	for _, name := range GuestModules {
		if err := m.add(ctx, name); err != nil {
			return err
		}
	}
	c := newCpio(w)
	for _, d := range []string{"bin", "dev", "etc", "lib", "lib/modules", "proc", "sys"} {
		c.dir(d)
	}
	c.node("dev/console", 0o020600, 5, 1)
	c.file("bin/busybox", 0o755, bbData)
	c.file("init", 0o755, []byte(initScript))
	c.file("etc/modules", 0o644, []byte(strings.Join(m.order, "\n")+"\n"))
	for _, name := range m.order {
		c.file("lib/modules/"+name+".ko", 0o644, m.data[name])
	}
	return c.close()
}

// cpio writes the "newc" format the kernel unpacks an initramfs from
// (Documentation/driver-api/early-userspace/buffer-format.rst).
type cpio struct {
	w   io.Writer
	ino uint32
	err error
}

func newCpio(w io.Writer) *cpio { return &cpio{w: w, ino: 1} }

func (c *cpio) entry(name string, mode uint32, data []byte, major, minor uint32) {
	if c.err != nil {
		return
	}
	nlink := uint32(1)
	if mode&0o170000 == 0o040000 {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		c.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, major, minor, len(name)+1, 0)
	c.ino++
	var b bytes.Buffer
	b.WriteString(hdr)
	b.WriteString(name)
	b.WriteByte(0)
	pad4(&b)
	b.Write(data)
	pad4(&b)
	_, c.err = c.w.Write(b.Bytes())
}

func pad4(b *bytes.Buffer) {
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
}

func (c *cpio) dir(name string)                         { c.entry(name, 0o040755, nil, 0, 0) }
func (c *cpio) file(name string, perm uint32, d []byte) { c.entry(name, 0o100000|perm, d, 0, 0) }
func (c *cpio) node(name string, mode, major, minor uint32) {
	c.entry(name, mode, nil, major, minor)
}

func (c *cpio) close() error {
	c.entry("TRAILER!!!", 0, nil, 0, 0)
	return c.err
}
