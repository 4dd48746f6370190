# fastpath. Kernel tests need root: sudo make test.
GO        ?= go
BIN       := bin/fastpath
PKGS      := ./...
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: deps bench-vm all build image run test test-deploy test-kernel test-race test-fuzz lint generate generate-check bench bench-peers bench-micro bench-stack bench-load bench-rfc2544 fuzz clean vmtest vmtest-matrix vm-deps

all: build

build:
	$(GO) build -o $(BIN) ./cmd/fastpath

# The container image the Kubernetes manifests run
# (deploy/kubernetes/ociimage): the static binary alone, written as a
# tarball without a container runtime, tagged IMAGE
# (ghcr.io/fastpathnet/fastpath:latest unless set). docker load -i,
# podman load -i or crane push it.
IMAGE ?=
image:
	CGO_ENABLED=0 $(GO) build -o bin/fastpath-static ./cmd/fastpath
	$(GO) -C deploy/kubernetes run ./cmd/fastpath-image --binary $(CURDIR)/bin/fastpath-static --out $(CURDIR)/bin/fastpath-image.tar $(if $(IMAGE),--tag $(IMAGE))

# Builds a veth lab in two namespaces, runs fastpath gen in one against
# fastpath sink in the other for 3 seconds, prints rates, loss and latency,
# cleans up.
run: build
	./$(BIN) lab

# Everything CI runs: lint, the Kubernetes manifests' tests, every test
# (kernel tests need root), the race detector over the short variants, and
# a check that no lab was left behind.
test: lint test-deploy test-kernel test-race test-fuzz
	@left=$$(ip netns list 2>/dev/null | awk '$$1 ~ /^fp-/ {print $$1}'); \
	if [ -n "$$left" ]; then echo "tests left namespaces behind: $$left"; exit 1; fi

# The Kubernetes manifests (deploy/kubernetes), in a module of their own so
# that the engine's gains no Kubernetes dependencies: every kustomization
# built and decoded strictly, the pods' and Jobs' properties, every flag
# against the binary, promtool over the rules and the dashboard, and the
# manifests' pods run in a lab of namespaces standing for nodes, scraped
# by a real Prometheus (TestFleet; root). Through testreport, as the
# other tests, so that its skips are listed.
test-deploy:
	cd deploy/kubernetes && $(GO) vet ./... && $(GO) run $(STATICCHECK) ./...
	cd deploy/kubernetes && $(GO) test -count=1 -json ./... | $(GO) -C ../.. run ./internal/testreport

# Every test through internal/testreport: go test's lines, then every test
# that skipped and why, and the command that installs what they need.
#
# The packages in ALONE measure rates through a device of known capacity
# (rfc2544's NDR within its resolution) or count allocations over a second
# of churn at a set rate (load's, tcpapp's pools): they run after the others, one at a
# time, so that no other package's busy engines take their cores. So does
# the command's own RFC 2544 test (ALONETESTS, in ./cmd/fastpath): its NDR
# is held within 2% of the capacity too.
ALONE      := ./rfc2544 ./load ./tcpapp
ALONETESTS := ^TestRFC2544Command$$
NOTALONE    = $$($(GO) list $(PKGS) | grep -v -e '/rfc2544$$' -e '/load$$' -e '/tcpapp$$')
test-kernel:
	{ $(GO) test -count=1 -json -skip '$(ALONETESTS)' $(NOTALONE); \
	  $(GO) test -count=1 -p 1 -json $(ALONE); \
	  $(GO) test -count=1 -json -run '$(ALONETESTS)' ./cmd/fastpath; } | $(GO) run ./internal/testreport

# What the tests need from Debian (tshark, iptables, scapy, clang-19, ...).
deps:
	bash .ci/deps

test-race:
	$(GO) test -race -short -count=1 -skip '$(ALONETESTS)' $(NOTALONE)
	$(GO) test -race -short -count=1 -p 1 $(ALONE)
	$(GO) test -race -short -count=1 -run '$(ALONETESTS)' ./cmd/fastpath
	$(GO) test -race -count=1 -run 'TestKernelLoop|TestAllocatorModel' ./rings ./umem

# A short differential fuzz of the XDP program against its Go reference
# (longer: make fuzz FUZZTIME=10m). The default is a count of executions,
# not a duration: go1.26's fuzz coordinator can report its own -fuzztime
# deadline as a failure when a worker is mid-call at that moment
# (golang/go#75804, fixed in go1.27); a count has no deadline to race.
# 300000 executions take 15-25 s here.
FUZZTIME ?= 300000x
test-fuzz:
	$(GO) test -run '^$$' -fuzz FuzzProgram -fuzztime $(FUZZTIME) ./steering
fuzz: test-fuzz

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)

# Regenerates bpf/steer_bpfel.{go,o} from bpf/steer.c. Needs Debian's
# clang-19, llvm-19 and libbpf-dev; the output is committed, so building
# fastpath does not.
generate:
	$(GO) generate ./bpf

# Fails if the committed program differs from what steer.c compiles to.
generate-check: generate
	git diff --exit-code -- bpf/

# Go microbenchmarks, benchstat-friendly (run with -count via BENCHFLAGS).
BENCHFLAGS ?= -count=5
# The side-by-side harness (bench/): fastpath against the C reference on
# libxdp, asavie/xdp and the kernel's sockets, in a lab of its own.
# Results go to bench/results/DATE (results.md, results.json, plots).
BENCHOUT ?= bench/results/$(shell date -u +%F)
bench: build bench-peers
	$(GO) run ./bench -out $(BENCHOUT) $(BENCHARGS)

# The peers: the C reference needs libxdp-dev and libbpf-dev.
bench-peers:
	OUT=$(CURDIR)/bin/xskref sh bench/c/build.sh
	$(GO) build -o bin/asavie ./bench/asavie

bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem $(BENCHFLAGS) ./rings ./umem ./ether ./arp ./ipv4 ./gen
	$(GO) test -run '^$$' -bench Steer -benchtime 31x $(BENCHFLAGS) ./steering
	$(GO) test -run '^$$' -bench SPSC $(BENCHFLAGS) ./stack

# fastpath load against wrk in the lab, alternating within one run, on
# the same cores (client core 0, server core 1): connections/s and
# requests/s against nginx and against serve --http, and latency at 50%
# and 90% of the rate reached. Needs nginx and wrk (make deps).
bench-load:
	$(GO) test -run '^$$' -bench BenchmarkLoad -benchtime 5x ./load

# RFC 2544's method against a device of known capacity (a router policing
# at 100k frames/s): the NDR found over five searches, its spread, the
# trials and the time outside them.
bench-rfc2544:
	$(GO) test -run '^$$' -bench BenchmarkPolicerNDR -benchtime 5x -timeout 30m ./rfc2544

# The engine against the kernel in the lab, alternating within one run:
# UDP echo and ICMP echo, medians of 7 one-second rounds each.
bench-stack:
	$(GO) test -run '^$$' -bench 'UDPEcho|ICMPEcho' -benchtime 7x ./stack

# The VM lab (internal/vmlab, internal/vmtest): real NIC drivers under
# QEMU (TCG), one guest at a time. vmtest boots the zero-copy suite on
# virtio-net and the other drivers (igb, e1000e) on the newest pinned
# kernel, and the kernel matrix on VMKERNELS (names from
# internal/vmlab/kernel.go, or all); vmtest-matrix boots every pinned
# kernel. Kernels are downloaded once into /var/cache/fastpath-vmlab
# (FASTPATH_VMLAB_CACHE), never installed. Needs root and vm-deps.
VMKERNELS ?= oldest,newest
VMFLAGS   ?= -v
vmtest:
	FASTPATH_VM=1 FASTPATH_VM_KERNELS=$(VMKERNELS) $(GO) test -p 1 -count=1 -timeout 40m $(VMFLAGS) ./internal/vmlab ./internal/vmtest
vmtest-matrix:
	FASTPATH_VM=1 FASTPATH_VM_KERNELS=all $(GO) test -count=1 -timeout 60m $(VMFLAGS) -run TestKernelMatrix ./internal/vmtest

# fastpath against the C reference (libxdp) in zero-copy on virtio-net in
# the VM lab, same boot, alternating: txonly, rxdrop, l2fwd; then TCP bulk,
# the engine against the guest kernel (BenchmarkTCPBulk in internal/vmtest). QEMU's TCG
# runs the guest: the ratios mean something, the rates are not a NIC's.
# Results go to bench/results/DATE-vm. rxdrop and l2fwd are fed by
# fastpath txonly (-rx-sender fastpath): the kernel's XDP live-frame
# sender moved nothing on the guest's virtio-net.
BENCHVMOUT  ?= bench/results/$(shell date -u +%F)-vm
BENCHVMARGS ?= -sizes 64,1518 -rounds 5 -rx-sender fastpath
bench-vm: build bench-peers
	rm -rf bin/vmjob && mkdir -p bin/vmjob/results
	cp bin/fastpath bin/xskref bin/vmjob/
	$(GO) build -o bin/vmjob/bench ./bench
	$(GO) test -c -tags vmguest -o bin/vmjob/vmtest.test ./internal/vmtest
	$(GO) build -o bin/vmrun ./internal/vmlab/vmrun
	./bin/vmrun -kernel newest -nics virtio,virtio -timeout 40m -dir $(CURDIR)/bin/vmjob -- sh -c '\
		/run/vmlab/job/bench -devices eth0,eth1 -xsk-mode zerocopy -bin /run/vmlab/job -systems fastpath,c \
			-out /run/vmlab/job/results $(BENCHVMARGS) && \
		FASTPATH_BIN=/run/vmlab/job/fastpath /run/vmlab/job/vmtest.test -test.run "^$$" -test.bench TCPBulk \
			-test.benchtime 5x > /run/vmlab/job/results/tcp-bulk.txt 2>&1; \
		rc=$$?; cat /run/vmlab/job/results/tcp-bulk.txt; exit $$rc'
	mkdir -p $(BENCHVMOUT) && cp -r bin/vmjob/results/. $(BENCHVMOUT)/

# What the VM lab needs on a Debian 12 host: QEMU 10 from
# bookworm-backports (bookworm's 7.2 has no igb model), through a private
# source list so the host's own stays as it is; ethtool, xz and tshark
# for the guest, which runs the host's tools.
vm-deps:
	sh internal/vmlab/deps.sh

clean:
	rm -rf bin
