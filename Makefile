# Kyoten firmware build.
#
#   make sim_defconfig        start a configuration from board/sim/defconfig
#   make menuconfig           edit it; make olddefconfig after a pull
#   make                      build kyotend and kyotenctl into build/<board>/
#   make check                everything this machine can test (tests/run)
#   make lab                  build the sim board and start the lab
#
# O=DIR keeps the configuration and the objects in DIR (side-by-side
# builds); V=1 shows every command; SANITIZE=1 builds with ASan and UBSan.
# docs/build.md says more.

srctree := $(CURDIR)
O ?=
KCONFIG_CONFIG := $(if $(O),$(O)/.config,.config)
export KCONFIG_CONFIG srctree

ifneq ($(wildcard $(KCONFIG_CONFIG)),)
include $(KCONFIG_CONFIG)
endif

unquote = $(patsubst "%",%,$(1))
BOARD := $(call unquote,$(CONFIG_BOARD_NAME))
ARCH := $(call unquote,$(CONFIG_ARCH))
CROSS_COMPILE ?= $(call unquote,$(CONFIG_CROSS_COMPILE))
SANITIZE ?=
B := $(if $(O),$(O),build/$(BOARD)$(if $(filter 1,$(SANITIZE)),-san))

ifeq ($(V),1)
Q :=
quiet = @:
else
Q := @
quiet = @printf '  %-8s %s\n'
endif

CC := $(CROSS_COMPILE)gcc
AR := $(CROSS_COMPILE)ar
ifneq ($(CROSS_COMPILE),)
PKG_CONFIG := PKG_CONFIG_LIBDIR=/usr/lib/$(ARCH)-linux-gnu/pkgconfig:/usr/share/pkgconfig pkg-config
else
PKG_CONFIG := pkg-config
endif

KYOTEN_DEPS ?= build/deps
WOLFSSL := $(KYOTEN_DEPS)/$(ARCH)/wolfssl
GIT_REV := $(shell git rev-parse --short HEAD 2>/dev/null)
GIT_DIRTY := $(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)
# The last commit's time: what the self-test takes as "the clock cannot be
# earlier than this" (reproducible, unlike the time of the build).
KYOTEN_BUILD_TIME := $(or $(shell git log -1 --format=%ct 2>/dev/null),0)
KYOTEN_VERSION := 0.1.0$(if $(GIT_REV),+g$(GIT_REV)$(GIT_DIRTY))

PC_LIBS := yaml-0.1 jansson libmnl libnftnl
WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
	-Wmissing-prototypes -Wold-style-definition -Wvla -Wpointer-arith \
	-Wundef -Wwrite-strings -Wno-unused-parameter
HARDEN := -fstack-protector-strong -fPIE
ifeq ($(ARCH),x86_64)
HARDEN += -fcf-protection
else ifeq ($(ARCH),aarch64)
HARDEN += -mbranch-protection=standard
endif
ifeq ($(filter 1,$(SANITIZE)),1)
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined
LDSAN := -fsanitize=address,undefined
else
OPT := -O2 -g -D_FORTIFY_SOURCE=2
LDSAN :=
endif

CPPFLAGS := -D_GNU_SOURCE -DKYOTEN_VERSION='"$(KYOTEN_VERSION)"' \
	-DKYOTEN_BUILD_TIME=$(KYOTEN_BUILD_TIME) \
	-I$(B)/include -Ifirmware -Idrivers -Inetstack -I$(WOLFSSL)/include
CFLAGS := -std=gnu11 $(OPT) $(WARN) $(HARDEN) -MMD -MP \
	$(shell $(PKG_CONFIG) --cflags $(PC_LIBS) 2>/dev/null) $(EXTRA_CFLAGS)
LDFLAGS := -pie -Wl,-z,relro -Wl,-z,now -Wl,--as-needed $(LDSAN) $(EXTRA_LDFLAGS)
LDLIBS := $(WOLFSSL)/lib/libwolfssl.a \
	$(shell $(PKG_CONFIG) --libs $(PC_LIBS) 2>/dev/null) -lm -lpthread

LIB_SRCS := firmware/addr.c firmware/text.c firmware/log.c firmware/loop.c firmware/msg.c \
	firmware/config.c firmware/board.c drivers/sys.c drivers/sys-linux.c \
	drivers/sys-dummy.c drivers/ports.c firmware/tunnels.c firmware/etun.c \
	netstack/replay.c netstack/allowedips.c netstack/ratelimiter.c \
	netstack/suite.c netstack/suite-wireguard.c netstack/suite-cryptrec.c \
	netstack/noise.c netstack/cookie.c netstack/device.c \
	netstack/tunio.c netstack/keys.c netstack/bfd.c netstack/bfdio.c \
	netstack/pathsig.c netstack/mqtt.c netstack/httpreq.c
KYOTEND_SRCS := firmware/main.c firmware/engine.c firmware/ctl.c \
	firmware/modules.c
KYOTENCTL_SRCS := firmware/kyotenctl.c
# Firmware images and A/B slots (docs/update.md): the box's kyoten-update,
# the build host's kyoten-image.
# The management channel: an MQTT session over TLS (docs/noc.md).
LIB_SRCS += firmware/mqttc.c firmware/ctlclient.c firmware/annex.c firmware/evqueue.c \
	firmware/polsign.c
LIB_SRCS += firmware/fileio.c firmware/jsonf.c firmware/image.c firmware/update.c \
	firmware/disk.c firmware/bundle.c firmware/pki.c
UPDATE_SRCS := firmware/kyoten-update.c
IMAGE_TOOL_SRCS := tools/kyoten-image.c
FLASH_SRCS := tools/kyoten-flash.c
# Site identity bundles (docs/field-guide.md): the NOC's kyoten-noc makes
# them, the box's kyoten-provision installs them.
NOC_SRCS := tools/kyoten-noc.c
PROVISION_SRCS := firmware/kyoten-provision.c
# The box's management agent (docs/noc.md).
AGENT_SRCS := firmware/kyoten-agent.c
# Segment-separation policy (policy/, docs/policy.md).
POLICY_SRCS := firmware/yamlwalk.c policy/parse.c policy/invariants.c \
	policy/explain.c policy/nft.c policy/verify.c
# kyotend's side of it: the generation store and the module.
POLICY_SRCS += policy/nfttag.c firmware/polstore.c firmware/policyd.c
LIB_SRCS += $(POLICY_SRCS)
# Denied-packet events: nflog parsing (engine) and the socket (parent).
LIB_SRCS += firmware/nflog.c firmware/edeny.c firmware/denials.c
# BFD on the tunnel paths, in the engine.
LIB_SRCS += firmware/ebfd.c
# Path selection per segment, in the parent.
LIB_SRCS += firmware/paths.c
KYOTENCTL_SRCS += firmware/kyotenctl-policy.c firmware/kyotenctl-selftest.c
CPPFLAGS += -Ipolicy
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))
LIB := $(B)/libkyoten.a
AUTOCONF := $(B)/include/generated/autoconf.h
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(UNIT_SRCS))
# Programs the integration tests drive against real peers.
TEST_TOOLS := $(B)/tests/interop/wgpeer $(B)/tests/interop/kytun \
	$(B)/tests/interop/polnft $(B)/tests/interop/kybfd \
	$(B)/tests/interop/seqstream $(B)/tests/interop/kymqtt
KCONFIG_FILES := Kconfig $(wildcard */Kconfig)

.PHONY: all unit check lab lab-down fuzz bench image clean distclean menuconfig \
	olddefconfig savedefconfig deps bootstrap help FORCE
.DEFAULT_GOAL := all

ifeq ($(BOARD),)
NEED_CONFIG = $(error no configuration at $(KCONFIG_CONFIG): run 'make sim_defconfig' (or $(patsubst board/%/defconfig,%_defconfig,$(wildcard board/*/defconfig))))
endif

all: $(B)/kyotend $(B)/kyotenctl $(B)/kyoten-update $(B)/kyoten-image $(B)/kyoten-flash \
	$(B)/kyoten-noc $(B)/kyoten-provision $(B)/kyoten-agent
	$(NEED_CONFIG)

unit: $(UNIT_BINS) $(TEST_TOOLS)

$(B)/tests/interop/%: tests/interop/%.c $(LIB) | $(AUTOCONF)
	$(quiet) CCLD $@
	$(Q)mkdir -p $(@D) $(B)/obj/tests/interop
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MF $(B)/obj/tests/interop/$*.d $(LDFLAGS) \
		-o $@ $< $(LIB) $(LDLIBS)

$(B)/kyotend: $(call obj,$(KYOTEND_SRCS)) $(LIB)
	$(quiet) LD $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/kyotenctl: $(call obj,$(KYOTENCTL_SRCS)) $(LIB)
	$(quiet) LD $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/kyoten-update: $(call obj,$(UPDATE_SRCS)) $(LIB)
	$(quiet) LD $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/kyoten-image: $(call obj,$(IMAGE_TOOL_SRCS)) $(LIB)
	$(quiet) LD $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/kyoten-flash: $(call obj,$(FLASH_SRCS)) $(LIB)
	$(quiet) LD $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/kyoten-noc: $(call obj,$(NOC_SRCS)) $(LIB)
	$(quiet) LD $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/kyoten-provision: $(call obj,$(PROVISION_SRCS)) $(LIB)
	$(quiet) LD $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/kyoten-agent: $(call obj,$(AGENT_SRCS)) $(LIB)
	$(quiet) LD $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(LIB): $(call obj,$(LIB_SRCS))
	$(quiet) AR $@
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(B)/tests/unit/%: tests/unit/%.c $(LIB) | $(AUTOCONF)
	$(quiet) CCLD $@
	$(Q)mkdir -p $(@D) $(B)/obj/tests/unit
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MF $(B)/obj/tests/unit/$*.d $(LDFLAGS) \
		-o $@ $< $(LIB) \
		$(shell $(PKG_CONFIG) --libs cmocka) $(LDLIBS)

$(B)/obj/%.o: %.c $(AUTOCONF) $(WOLFSSL).stamp
	$(quiet) CC $<
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# wolfSSL from Debian's source package with the firmware's configuration;
# cached per architecture, version and flags (tools/build-wolfssl).
$(WOLFSSL).stamp:
	$(NEED_CONFIG)
	$(quiet) WOLFSSL $(ARCH)
	$(Q)KYOTEN_DEPS=$(KYOTEN_DEPS) tools/build-wolfssl $(ARCH)

deps: $(WOLFSSL).stamp

# --- configuration ---

$(AUTOCONF): $(KCONFIG_CONFIG) $(KCONFIG_FILES)
	$(NEED_CONFIG)
	$(quiet) KCONFIG $@
	$(Q)mkdir -p $(B)/include/config $(B)/include/generated
	$(Q)kconfig-conf -s --olddefconfig Kconfig
	$(Q)cd $(B) && KCONFIG_CONFIG=$(abspath $(KCONFIG_CONFIG)) \
		KCONFIG_AUTOHEADER=include/generated/autoconf.h \
		KCONFIG_AUTOCONFIG=include/config/auto.conf \
		KCONFIG_TRISTATE=include/config/tristate.conf \
		kconfig-conf -s --silentoldconfig $(srctree)/Kconfig </dev/null

%_defconfig: board/%/defconfig
	$(quiet) DEFCONFIG $*
	$(Q)mkdir -p $(dir $(KCONFIG_CONFIG))
	$(Q)kconfig-conf -s --defconfig=$< Kconfig

board/%/defconfig:
	@echo "no board '$*': the boards are $(notdir $(wildcard board/*))" >&2
	@exit 1

menuconfig:
	$(Q)kconfig-mconf Kconfig

olddefconfig:
	$(Q)kconfig-conf --olddefconfig Kconfig

savedefconfig:
	$(Q)kconfig-conf --savedefconfig=$(B)/defconfig Kconfig
	@echo "minimal configuration written to $(B)/defconfig"

# --- the two entry points the README names ---

bootstrap:
	$(Q)tools/bootstrap

check: bootstrap
	$(Q)SANITIZE=$(SANITIZE) tests/run

# The lab always runs the sim board, whatever .config selects.
lab: bootstrap
	$(Q)[ -f build/sim/.config ] || \
		$(MAKE) --no-print-directory O=build/sim sim_defconfig
	$(Q)$(MAKE) --no-print-directory O=build/sim all
	$(Q)KYOTEN_BUILD=$(srctree)/build/sim tools/lab up $(SITES)

lab-down:
	$(Q)tools/lab down

# The signed firmware image of the selected board (docs/update.md). The
# key is the caller's, kept outside the repository: KEY=/path/image.key.
IMAGE := $(B)/kyoten-$(BOARD)-$(KYOTEN_VERSION).kimg
IMAGE_TOOL := $(if $(CROSS_COMPILE),qemu-$(ARCH)-static )$(B)/kyoten-image
IMAGE_PARTS := kyotend=$(B)/kyotend:bin/kyotend:0755 \
	kyotenctl=$(B)/kyotenctl:bin/kyotenctl:0755 \
	kyoten-update=$(B)/kyoten-update:bin/kyoten-update:0755 \
	kyoten-provision=$(B)/kyoten-provision:bin/kyoten-provision:0755 \
	kyoten-agent=$(B)/kyoten-agent:bin/kyoten-agent:0755 \
	config=$(KCONFIG_CONFIG):share/kyoten/config:0644 \
	board=board/$(BOARD)/board.md:share/kyoten/board.md:0644 \
	$(foreach t,$(wildcard policy/templates/*.yaml),policy-$(basename $(notdir $(t)))=$(t):share/kyoten/policy/$(notdir $(t)):0644)

image: all
	$(Q)[ -n "$(KEY)" ] || { echo "make image: no signing key; run: make image KEY=/path/image.key (a key outside the repository; make one with: $(B)/kyoten-image keygen DIR)" >&2; exit 1; }
	$(quiet) IMAGE $(IMAGE)
	$(Q)$(IMAGE_TOOL) build -k $(KEY) -b $(BOARD) -v $(KYOTEN_VERSION) \
		-i $(if $(GIT_REV),g$(GIT_REV)$(GIT_DIRTY),unknown) -o $(IMAGE) $(IMAGE_PARTS)

fuzz:
	$(Q)tests/fuzz/run $(FUZZ_SECONDS)

clean:
	$(Q)rm -rf $(B)

distclean:
	$(Q)rm -rf build .config .config.old

help:
	@sed -n '1,/^$$/p' Makefile | sed 's/^# \{0,1\}//'

-include $(shell find $(B) -name '*.d' 2>/dev/null)
