# tcptake — top-level make targets. Everything CI runs is under "test".
GO      ?= go
BIN     := bin

.PHONY: all build generate check-generated vet unit hosttest vmtest vmtest-debug kmod dkms-check deb test demo bench bench-vm bench-vm-smoke fuzz fuzz-smoke clean

all: build

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN)/tcptakectl ./ctl
	$(GO) build ./...

generate:
	ci/ynl-gen.sh
	$(GO) run ./internal/cmd/ynlgo -spec uapi/tcptake.yaml -go internal/tcptakeh/zconst.go -cgocheck internal/tcptakeh/uapicheck/zuapi.go -uapi uapi/linux/tcptake.h
	$(GO) test -count=1 -run '^TestGeneratedFiles$$' ./ctl -update

# The generated uapi header also compiles alone as C and C++.
check-generated:
	ci/check-generated.sh
	ci/uapi-check.sh

# The API exists on every platform (outside Linux it answers ErrUnsupported).
vet:
	$(GO) vet ./...
	GOOS=darwin $(GO) vet ./...
	GOOS=freebsd $(GO) build ./...
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: run gofmt -w"; exit 1; }

# Unit tier: codec, fakes, CLI; no privileges needed.
unit:
	$(GO) test -count=1 ./...

# Host tier: real sockets in network namespaces, needs root (TCP_REPAIR, netns, nftables).
hosttest:
	ci/hosttest.sh

# Module tier: builds kmod for each kernel (Debian 6.1, 6.12, sid 7.x) and
# runs the selftests, the fuzzer and the Go VM tests in qemu.
vmtest:
	ci/vmtest.sh

# The same on a 6.12 debug kernel (KASAN, lockdep, kmemleak, UBSAN,
# PROVE_RCU), built once (~15 min) and cached in /var/cache/tcptake.
vmtest-debug:
	ci/debug/vmtest.sh

kmod:
	$(MAKE) -C kmod

dkms-check:
	ci/dkms-check.sh

deb:
	ci/deb-check.sh

test: check-generated vet unit fuzz-smoke hosttest vmtest bench-vm-smoke dkms-check deb

demo:
	ci/demo.sh

# The switchover of N sessions between two node processes against a plain
# serial TCP_REPAIR loop in the same run (tests/bench; ratios, not gates;
# needs root). BENCH_N=1,100,1000,10000 for the full set; BENCH_REPEATS,
# BENCH_PINGERS, BENCH_OUT (bench.md, bench.svg, node logs).
BENCH_N ?= 1,100,1000
BENCH_N_VM ?= 1,100,1000,10000
BENCH_REPEATS ?= 3
bench:
	TCPTAKE_BENCH=1 BENCH_N=$(BENCH_N) BENCH_REPEATS=$(BENCH_REPEATS) \
		$(GO) test -count=1 -timeout 0 -v -run '^TestBench$$' ./tests/bench

# The same benchmark with the kernel module, in the test VM (ci/vm/bench.sh:
# TCG with a host thread per vCPU, ratios only; N = 1 to 10,000 three
# times, about an hour; BENCH_N_VM, BENCH_KERNEL, BENCH_OUT=/tmp/tcptake-bench-vm).
# bench-vm-smoke (make test): N = 1 and 100 once, one host thread.
bench-vm:
	BENCH_N=$(BENCH_N_VM) BENCH_REPEATS=$(BENCH_REPEATS) BENCH_TCG_THREAD=multi ci/vm/bench.sh

bench-vm-smoke:
	BENCH_N=1,100 BENCH_REPEATS=1 BENCH_TCG_THREAD=single BENCH_TIMEOUT=900 \
		BENCH_OUT=out/bench-vm-smoke ci/vm/bench.sh

# Every decoder has a fuzz target; FUZZTIME each (make fuzz FUZZTIME=5m or =1000000x).
FUZZTIME ?= 60s
FUZZ_TARGETS := libtcptake:FuzzDecodeImage libtcptake:FuzzDecodeTuple libtcptake:FuzzDecodeSegment \
	libtcptake:FuzzDecodeFreeze libtcptake:FuzzDecodeGetReply ctl:FuzzParseInetDiagMsg \
	ctl:FuzzParseArgs \
	ha:FuzzDecodeFrame ha:FuzzDecodeCheckpoint libtcptake:FuzzParseSegment

fuzz:
	set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz: $${t#*:} ($(FUZZTIME))"; \
		$(GO) test -run=^$$ -fuzz="^$${t#*:}$$" -fuzztime=$(FUZZTIME) ./$${t%%:*}; \
	done

# A count, not a duration: a -fuzztime deadline that falls while a worker
# minimizes a new input fails the run with "context deadline exceeded".
fuzz-smoke:
	$(MAKE) fuzz FUZZTIME=100000x

clean:
	rm -rf $(BIN) out
	$(MAKE) -C kmod clean || true
