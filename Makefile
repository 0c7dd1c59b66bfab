# keten — build, test, bench, fuzz, install.
#
# Layout of the build tree (all generated, never committed):
#   build/gen/        protobuf-c code generated from proto/*.proto
#   build/obj/        objects of the normal build
#   build/asan/       everything again under AddressSanitizer + UBSan
#   build/fuzz/       libFuzzer harnesses (clang)
#   build/bin/        ketend, keten, unit tests, benchmarks
#   build/variant/    ketend with a part compiled out, for `make bench` only

PREFIX    ?= /usr/local
# V=1 shows every command.
V         ?= 0
ifeq ($(V),0)
Q         := @
say        = @printf '  %-6s %s\n' $(1) $(2);
else
Q         :=
say        =
endif
DESTDIR   ?=
CC        ?= gcc
FUZZ_CC   ?= clang
FUZZ_SECONDS ?= 30

# Debian 12 packages the build and tests need.  `make deps` installs the
# missing ones and says nothing when all are present.
DEB_PKGS := build-essential pkg-config libzmq3-dev libsodium-dev \
            libprotobuf-c-dev protobuf-c-compiler libssl-dev openssl \
            libsqlite3-dev sqlite3 libjansson-dev libinih-dev liblz4-dev clang python3

PKGS      := libzmq libsodium libprotobuf-c openssl sqlite3 jansson inih liblz4
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN      := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
             -Wmissing-prototypes -Wformat=2 -Wvla
CFLAGS    ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -fstack-protector-strong \
             -D_FORTIFY_SOURCE=2 -Iproto -Idaemon -Iclient -Ibuild/gen $(PKG_CFLAGS)
# Generated code gets the same flags except the prototype warnings it
# cannot satisfy.
GEN_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $(CFLAGS) -Ibuild/gen $(PKG_CFLAGS)
LDLIBS     = $(PKG_LIBS) -lpthread -lm

SAN        := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
ASAN_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) -O1 -g $(SAN) -Iproto -Idaemon -Iclient -Ibuild/gen $(PKG_CFLAGS)

PROTOS     := $(wildcard proto/*.proto)
GEN_C      := $(patsubst proto/%.proto,build/gen/%.pb-c.c,$(PROTOS))
GEN_H      := $(GEN_C:.c=.h)

LIB_SRC    := $(wildcard proto/*.c)
DAEMON_SRC := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
CLIENT_LIB_SRC := $(filter-out client/main.c client/cmd_%.c,$(wildcard client/*.c))
CLIENT_CLI_SRC := $(wildcard client/main.c client/cmd_*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
BENCH_SRC  := $(wildcard tests/bench/bench_*.c)
TOOL_SRC   := $(wildcard tests/tools/*.c)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)

obj        = $(patsubst %.c,build/obj/%.o,$(1))
aobj       = $(patsubst %.c,build/asan/%.o,$(1))

LIB_OBJ    := $(call obj,$(LIB_SRC)) $(patsubst build/gen/%.c,build/obj/gen/%.o,$(GEN_C))
DAEMON_OBJ := $(call obj,$(DAEMON_SRC))
CLIENT_OBJ := $(call obj,$(CLIENT_LIB_SRC))
ALIB_OBJ   := $(call aobj,$(LIB_SRC) $(DAEMON_SRC) $(CLIENT_LIB_SRC)) $(patsubst build/gen/%.c,build/asan/gen/%.o,$(GEN_C))

UNIT_BIN   := $(patsubst tests/unit/%.c,build/bin/%,$(UNIT_SRC))
UNIT_ABIN  := $(patsubst tests/unit/%.c,build/bin/asan/%,$(UNIT_SRC))
BENCH_BIN  := $(patsubst tests/bench/%.c,build/bin/%,$(BENCH_SRC))
TOOL_BIN   := $(patsubst tests/tools/%.c,build/bin/%,$(TOOL_SRC))
FUZZ_BIN   := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))

BINS := $(if $(wildcard client/main.c),build/bin/keten) $(if $(wildcard daemon/main.c),build/bin/ketend)

.PHONY: all deps test unit integration bench fuzz install clean demo devnet
.SECONDARY:

all: $(BINS)

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" -ne 0 ]; then echo "make deps: run as root to install:$$missing" >&2; exit 1; fi; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

build/gen/%.pb-c.c build/gen/%.pb-c.h: proto/%.proto
	@mkdir -p build/gen
	$(call say,PROTOC,$<)protoc-c --proto_path=proto --c_out=build/gen $<

build/obj/gen/%.o: build/gen/%.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(GEN_CFLAGS) -c $< -o $@

build/asan/gen/%.o: build/gen/%.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(call say,CC-SAN,$<)$(CC) -std=c11 -D_GNU_SOURCE -O1 -g $(SAN) -Ibuild/gen $(PKG_CFLAGS) -c $< -o $@

# Tests find their data files (test vectors, scripts) through KETEN_SRCDIR.
build/obj/tests/%.o build/asan/tests/%.o: EXTRA_CFLAGS = -DKETEN_SRCDIR='"$(CURDIR)"'

build/obj/%.o: %.c $(GEN_H) $(wildcard proto/*.h daemon/*.h client/*.h)
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(ALL_CFLAGS) $(EXTRA_CFLAGS) -c $< -o $@

build/asan/%.o: %.c $(GEN_H) $(wildcard proto/*.h daemon/*.h client/*.h)
	@mkdir -p $(dir $@)
	$(call say,CC-SAN,$<)$(CC) $(ASAN_CFLAGS) $(EXTRA_CFLAGS) -c $< -o $@

build/libketen.a: $(LIB_OBJ)
	@rm -f $@
	$(call say,AR,$@)ar rcs $@ $^

build/libketend.a: $(DAEMON_OBJ)
	@rm -f $@
	$(call say,AR,$@)ar rcs $@ $^

build/libketenclient.a: $(CLIENT_OBJ)
	@rm -f $@
	$(call say,AR,$@)ar rcs $@ $^

build/libketen-asan.a: $(ALIB_OBJ)
	@rm -f $@
	$(call say,AR,$@)ar rcs $@ $^

build/bin/ketend: build/obj/daemon/main.o build/libketend.a build/libketenclient.a build/libketen.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

build/bin/keten: $(call obj,$(CLIENT_CLI_SRC)) build/libketenclient.a build/libketen.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

build/bin/test_%: build/obj/tests/unit/test_%.o build/obj/tests/unit/tap.o build/libketend.a build/libketenclient.a build/libketen.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

build/bin/asan/test_%: build/asan/tests/unit/test_%.o build/asan/tests/unit/tap.o build/libketen-asan.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(ASAN_CFLAGS) -o $@ $^ $(LDLIBS)

build/bin/bench_%: build/obj/tests/bench/bench_%.o build/obj/tests/unit/tap.o build/libketend.a build/libketenclient.a build/libketen.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

# Benchmark builds of ketend, never installed: the same node with one part
# compiled out, so that `make bench` can set the node against itself
# without that part in the same run (mandate checks; the audit log).
VARIANTS := build/variant/nomandate/ketend build/variant/noaudit/ketend
NOMANDATE_OBJ := build/variant/nomandate/proto/mandate.o build/variant/nomandate/daemon/inbound.o
NOAUDIT_OBJ := build/variant/noaudit/daemon/audit.o
build/variant/nomandate/%.o: %.c $(GEN_H) $(wildcard proto/*.h daemon/*.h)
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(ALL_CFLAGS) -DKETEN_BENCH_UNCHECKED -c $< -o $@
build/variant/noaudit/%.o: %.c $(GEN_H) $(wildcard proto/*.h daemon/*.h)
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(ALL_CFLAGS) -DKETEN_BENCH_NO_AUDIT -c $< -o $@
# The variant's objects come first: the archives' own copies of them are
# never pulled in.
VARIANT_LIBS := build/obj/daemon/main.o build/libketend.a build/libketenclient.a build/libketen.a
build/variant/nomandate/ketend: $(NOMANDATE_OBJ) $(VARIANT_LIBS)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)
build/variant/noaudit/ketend: $(NOAUDIT_OBJ) $(VARIANT_LIBS)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

# Helpers of the integration tests (a misbehaving peer).
build/bin/%: build/obj/tests/tools/%.o build/libketen.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

# libFuzzer harnesses: clang, the library sources compiled in with the
# fuzzer's coverage instrumentation.
FUZZ_FLAGS = -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
             -Iproto -Idaemon -Iclient -Ibuild/gen $(PKG_CFLAGS)
build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIB_SRC) $(DAEMON_SRC) $(CLIENT_LIB_SRC) $(GEN_C) $(GEN_H)
	@mkdir -p $(dir $@)
	$(call say,FUZZ,$@)$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(LIB_SRC) $(DAEMON_SRC) $(CLIENT_LIB_SRC) $(GEN_C) $(LDLIBS)

test: deps
	@$(MAKE) --no-print-directory all $(UNIT_BIN) $(UNIT_ABIN) $(TOOL_BIN) $(FUZZ_BIN)
	@tests/run.sh

unit: all $(UNIT_BIN)
	@KETEN_ONLY=unit tests/run.sh

# bench_nodes runs two real nodes: tests/bench/bench_nodes.sh makes their
# dev network and runs it.
bench: deps
	@$(MAKE) --no-print-directory all $(BENCH_BIN) $(VARIANTS)
	@for b in $(filter-out build/bin/bench_nodes,$(BENCH_BIN)); do $$b || exit 1; done
	@tests/bench/bench_nodes.sh
	@echo; echo "mandate checks: the node against itself without them (target >= 0.95)"
	@tests/bench/bench_nodes.sh --ab build/variant/nomandate --rounds 4 --seconds 10 --fresh \
	    --label-a "checks on" --label-b "checks off" --ab-target 0.95
	@echo; echo "audit log: the node against itself without it (target >= 0.90)"
	@tests/bench/bench_nodes.sh --ab build/variant/noaudit --rounds 8 --seconds 10 --fresh \
	    --label-a "log on" --label-b "log off" --ab-target 0.90

fuzz: deps
	@$(MAKE) --no-print-directory $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do \
	  n=$$(basename $$f); mkdir -p build/fuzz/corpus/$$n; \
	  echo "== $$n ($(FUZZ_SECONDS)s)"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -print_final_stats=0 \
	      build/fuzz/corpus/$$n $$( [ -d tests/fuzz/seeds/$$n ] && echo tests/fuzz/seeds/$$n ) 2>&1 | tail -n 3 || exit 1; \
	done

devnet: all
	KETEN_BIN=$(CURDIR)/build/bin certs/mkdevnet.sh certs/dev

demo: deps
	@$(MAKE) --no-print-directory all
	@tests/demo.sh

install: all build/libketenclient.a build/libketen.a
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin \
	  $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5 \
	  $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/include/keten \
	  $(DESTDIR)$(PREFIX)/lib
	install -m 0755 build/bin/keten $(DESTDIR)$(PREFIX)/bin/keten
	[ ! -f build/bin/ketend ] || install -m 0755 build/bin/ketend $(DESTDIR)$(PREFIX)/sbin/ketend
	install -m 0644 build/libketen.a build/libketenclient.a $(DESTDIR)$(PREFIX)/lib/
	install -m 0644 proto/*.h client/keten.h build/gen/*.pb-c.h $(DESTDIR)$(PREFIX)/include/keten/
	for m in docs/man/*.[158]; do [ -f "$$m" ] || continue; \
	  s=$${m##*.}; install -m 0644 $$m $(DESTDIR)$(PREFIX)/share/man/man$$s/; done

clean:
	rm -rf build
