# The two commands a newcomer needs (README): `make demo` and `make test`.
# Both install missing Debian packages first (.ci/install-deps), then build.

JOBS ?= $(shell nproc)
CTEST = ctest --output-on-failure --no-tests=error -j $(JOBS)

.PHONY: deps release debug asan tsan demo test test-release test-sanitizers test-fuzz bench fuzz clean

deps:
	@./.ci/install-deps

release: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)

debug: deps
	cmake --preset debug >/dev/null
	cmake --build --preset debug -j $(JOBS)

# The concurrent code (the actor runtime, the transport, the cluster daemon, sharding and
# the singleton, the persistent actors and the SQLite plugin's threads, the ddata
# replicator, the pub-sub mediator, the cluster routers, the cache) runs under both
# sanitizers; sharding's pure model, pub-sub's pure core and codec and the cache's store,
# single-threaded, under ASan+UBSan only (ThreadSanitizer has no race to find there, and
# CI's 45 minutes are counted). Sharding's simulator (whose scenario at 200 nodes takes 50 s under ASan) and
# the CRDTs and their decoder, pure and single-threaded, run in the release tree only, for
# CI's time; by hand under ASan+UBSan:
#   cmake --build --preset asan --target troupe_sharding_sim_tests troupe_ddata_tests
#   build/asan/test/sharding/sim/troupe_sharding_sim_tests; build/asan/test/ddata/troupe_ddata_tests
TSAN_TESTS = troupe_actor_tests troupe_remote_tests troupe_cluster_daemon_tests \
  troupe_cluster_management_tests troupe_sharding_tests troupe_sharding_singleton_tests \
  troupe_persistence_tests troupe_persistence_store_tests troupe_ddata_replicator_tests \
  troupe_pubsub_mediator_tests troupe_routers_tests troupe_cache_tests
ASAN_TESTS = $(TSAN_TESTS) troupe_sharding_model_tests troupe_pubsub_tests troupe_cache_model_tests

asan: deps
	cmake --preset asan >/dev/null
	cmake --build --preset asan -j $(JOBS) --target $(ASAN_TESTS)

tsan: deps
	cmake --preset tsan >/dev/null
	cmake --build --preset tsan -j $(JOBS) --target $(TSAN_TESTS)

# The main demo: three greeter hosts on 127.0.0.1:2551..2553 and a client on 2560
# (samples/hello_sharding); Ctrl-C leaves gracefully and stops them.
demo: release
	./samples/hello_sharding/run-demo.sh build/release/samples/hello_sharding/hello_sharding

# Every test of the optimised build, the actor runtime and the transport under TSan and
# ASan+UBSan, then each wire-protocol fuzzer briefly.
test: test-release test-sanitizers test-fuzz

# Builds the test programs only (not the benchmarks), then runs them all.
test-release: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS) --target troupe_all_tests
	cd build/release && $(CTEST)

test-sanitizers: asan tsan
	cd build/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 $(CTEST) -R '^(unit|integration|stress):'
	cd build/tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  $(CTEST) -R '^(unit|integration|stress):'

test-fuzz: deps
	FUZZ_SECONDS=5 JOBS=$(JOBS) ./test/fuzz/run

# Benchmarks, troupe against CAF 0.17 in the same run; writes build/bench-results.json.
bench: release
	./test/bench/run-all build/release build/bench-results.json

# libFuzzer targets of the wire protocol (clang, build/fuzz), each run FUZZ_SECONDS
# (default 60) from the seed corpus in test/fuzz/corpus; CI-sized: make fuzz FUZZ_SECONDS=5.
FUZZ_SECONDS ?= 60

fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) JOBS=$(JOBS) ./test/fuzz/run

clean:
	rm -rf build
