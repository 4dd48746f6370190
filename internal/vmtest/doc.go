// Package vmtest holds the tests that need real NIC drivers: they run in
// a VM (internal/vmlab) on emulated virtio-net, igb and e1000e NICs.
//
// The host side (vm_test.go) builds bin/fastpath and this package's test
// binary with the vmguest build tag, boots a guest, runs the binary in it
// and reports each guest test as a subtest. The guest side
// (guest_*_test.go, vmguest tag) holds the tests themselves; they put the
// guest's NICs into an internal/lab lab (Options.Devices) and drive the
// fastpath command and the guest kernel's own stack across them.
//
//	sudo make vmtest                          # the zero-copy suite and other drivers; the matrix on the newest and oldest kernels
//	sudo FASTPATH_VM_RUN=TestGenSink make vmtest   # some guest tests only
//	sudo make vmtest-matrix                   # every pinned kernel
package vmtest
