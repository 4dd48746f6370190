// Package vmlab runs code on real NIC drivers: it boots a Debian kernel
// under QEMU with emulated NICs (virtio-net, igb, e1000e) and runs a
// command inside, on the host's own binaries.
//
// Nothing is installed into the host but QEMU. A pinned Debian kernel
// package (Kernels) is downloaded once, checked against its SHA-256, and
// unpacked into a cache outside the repository (CacheDir). Each boot gets
// an initramfs built from a static busybox and the kernel's own modules
// (GuestModules, with what they depend on). Its init mounts the host's
// root read-only over virtio-9p under a tmpfs overlay, so binaries built
// on the host (a `go test -c` binary, bin/fastpath) and the host's tools
// (ip, ethtool, tshark) run inside unchanged; a second 9p share, the job
// folder, carries the command in and the results (exit code, output)
// back.
//
// The guest's NICs are wired through persistent taps and bridges in a
// namespace of an internal/lab lab on the host (A): NICs with the same
// Wire are back to back, and Config.PeerWire joins a wire to the lab's
// other namespace (B) through its veth. No interface outside the lab's
// namespaces is created or changed; Close kills QEMU and deletes the
// namespaces, which removes the taps and bridges with them.
//
// /dev/kvm on the development machines is a paravirtual KVM that cannot
// run a stock kernel, so QEMU runs TCG (-accel tcg,thread=multi): slow,
// but the drivers are real. Figures from inside are only good as ratios
// of two systems measured in the same boot.
//
// The guest asks the host for what only QEMU can do (a link down, a
// hot-unplug) by writing a line into the job folder's req/ (see
// Request).
package vmlab
