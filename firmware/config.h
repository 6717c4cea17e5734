/* The site configuration: one YAML file per box (docs/configuration.md).
 *
 * Parsed with libyaml into fixed-size structures, so that a configuration
 * is a plain value: copied on reload, compared, and thrown away whole when
 * the new file is bad while the daemon keeps running on the old one. */
#ifndef KT_CONFIG_H
#define KT_CONFIG_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define KT_NAME_MAX 32
#define KT_DEVNUM_MAX 64
#define KT_LOCATION_MAX 128
#define KT_PORT_MAX 16		/* logical port or interface name, IFNAMSIZ */
#define KT_MAX_LINES 4
#define KT_MAX_HUBS 4
#define KT_MAX_SEGMENTS 8
#define KT_MAX_SITES 512		/* a hub's sites */
#define KT_MAX_ROUTES 8		/* prefixes behind one tunnel peer */
#define KT_PATH_MAX 128		/* key file paths */
#define KT_PUB_MAX 65		/* longest public key (P-256, uncompressed) */
#define KT_TUNNEL_MTU_DEFAULT 1420
#define KT_KEEPALIVE_SITE_DEFAULT 25
/* Every tunnel interface kyotend makes starts so (kt-hH-lL on a site,
 * kt-lL on a hub); the policy accepts BFD on these and no others. */
#define KT_TUNNEL_IFNAME_PREFIX "kt-"

enum kt_role { KT_ROLE_SITE, KT_ROLE_HUB };
enum kt_line_kind { KT_LINE_CLOSED, KT_LINE_BEST_EFFORT };
enum kt_seg_kind {
	KT_SEG_MYNUMBER,
	KT_SEG_LGWAN,
	KT_SEG_INTERNET,
	KT_SEG_MANAGEMENT,
	KT_SEG_DATACENTER,	/* hubs only: the port towards the DC core */
	KT_SEG_KIND_COUNT
};

struct kt_line {
	char name[KT_NAME_MAX];
	enum kt_line_kind kind;
	char port[KT_PORT_MAX];		/* as written in the file */
	char ifname[IF_NAMESIZE];	/* resolved through the board's port map */
	struct kt_prefix address;
	struct kt_addr gateway;
	/* BFD on every tunnel path over this line (netstack/bfd.h): the
	 * interval we send at and ask to receive at while Up, and the
	 * detection multiplier. Defaults by kind (Kconfig BFD_*). */
	uint16_t bfd_interval_ms;
	uint8_t bfd_multiplier;
};

struct kt_endpoint {
	unsigned line;			/* index into kt_config.lines */
	struct kt_addr addr;
};

/* This box's end of its tunnels (docs/configuration.md, "tunnel"). */
struct kt_tunnel {
	bool enabled;			/* the file has a tunnel section */
	char suite[16];			/* "wireguard" | "cryptrec" */
	char private_key[KT_PATH_MAX];	/* absolute path of the key file */
	uint16_t port;			/* UDP; a site's path i uses port + i */
	struct kt_addr address;		/* this box inside its tunnels */
	uint16_t keepalive_s;		/* persistent keepalive, 0: off */
	uint16_t mtu;
};

/* The far end of tunnels: a hub as a site sees it, or a site as a hub
 * sees it. Its allowed IPs are its address and its routes. */
struct kt_tunnel_peer {
	uint8_t public_key[KT_PUB_MAX];
	size_t public_key_len;		/* 0: none given (no tunnel section) */
	struct kt_addr address;
	struct kt_prefix routes[KT_MAX_ROUTES];
	size_t n_routes;
	char preshared_key[KT_PATH_MAX];	/* path; "" for none */
};

struct kt_hub {
	char name[KT_NAME_MAX];
	struct kt_endpoint endpoints[KT_MAX_LINES];
	size_t n_endpoints;
	struct kt_tunnel_peer peer;
};

/* Hubs only: a site whose tunnels this hub terminates. closed_only: those
 * of its routes the hub sends over closed lines only (the site's My
 * Number prefixes), dropped rather than sent over a best-effort line when
 * no closed path to the site works. */
struct kt_remote_site {
	char name[KT_NAME_MAX];
	struct kt_tunnel_peer peer;
	struct kt_prefix closed_only[KT_MAX_ROUTES];
	size_t n_closed_only;
};

struct kt_segment {
	char name[KT_NAME_MAX];
	enum kt_seg_kind kind;
	char port[KT_PORT_MAX];
	char ifname[IF_NAMESIZE];
	struct kt_prefix address;
};

/* The segment-separation policy kyotend applies (docs/configuration.md,
 * "policy"; docs/policy.md, "In kyotend"). Filled with the defaults when
 * the file has no policy section. */
struct kt_policy_cfg {
	char file[KT_PATH_MAX];		/* "" none: start from the store only */
	char templates[KT_PATH_MAX];
	char state_dir[KT_PATH_MAX];
	uint32_t confirm_timeout_s;
};

/* Path selection (docs/failover.md, docs/configuration.md "failover"). */
struct kt_failover_cfg {
	uint32_t hold_down_ms;		/* a better path must hold up this long */
};

/* The management channel to the NOC (docs/configuration.md,
 * "management"): the broker and the files of the box's identity, which
 * a site bundle installs (docs/field-guide.md). */
enum kt_mgmt_via {
	KT_MGMT_VIA_LINE,		/* straight over a line to `broker` */
	KT_MGMT_VIA_AUTO,		/* the tunnel while the management segment
					 * has a path, else the line */
	KT_MGMT_VIA_TUNNEL,		/* only through the management tunnel */
};

struct kt_mgmt_cfg {
	bool enabled;			/* the file has a management section */
	char broker_host[256];		/* DNS name or address */
	uint16_t broker_port;
	char tunnel_host[256];		/* the broker inside the data centre, or "" */
	uint16_t tunnel_port;
	enum kt_mgmt_via via;
	char ca[KT_PATH_MAX];		/* the NOC's CA certificate */
	char certificate[KT_PATH_MAX];	/* the box's certificate */
	char key[KT_PATH_MAX];		/* and its private key */
	char policy_key[KT_PATH_MAX];	/* the NOC's policy-signing key */
};

struct kt_config {
	char site_id[KT_NAME_MAX];
	char device_number[KT_DEVNUM_MAX];
	char location[KT_LOCATION_MAX];
	enum kt_role role;
	int log_level;			/* -1: the build's default */
	struct kt_line lines[KT_MAX_LINES];
	size_t n_lines;
	struct kt_hub hubs[KT_MAX_HUBS];
	size_t n_hubs;
	struct kt_segment segments[KT_MAX_SEGMENTS];
	size_t n_segments;
	struct kt_tunnel tunnel;
	struct kt_remote_site sites[KT_MAX_SITES];
	size_t n_sites;
	struct kt_policy_cfg policy;
	struct kt_failover_cfg failover;
	struct kt_mgmt_cfg management;
	uint8_t sha256[32];		/* of the file's bytes, for drift checks */
};

struct kt_config_error {
	char file[256];
	unsigned line, column;		/* 1-based; 0 when not tied to a place */
	char field[96];			/* e.g. lines[1].address */
	char message[256];
};

/* The board's logical ports and the interfaces behind them. */
struct kt_port_map {
	const char *const (*ports)[2];	/* {logical, ifname} pairs */
	size_t n;
	bool names_as_is;		/* accept interface names not in the map */
};

extern const struct kt_port_map kt_board_ports;

int kt_config_load(const char *path, const struct kt_port_map *map,
		   struct kt_config *out, struct kt_config_error *err);
int kt_config_parse(const char *name, const uint8_t *buf, size_t len,
		    const struct kt_port_map *map, struct kt_config *out,
		    struct kt_config_error *err);
/* "FILE:LINE:COLUMN: FIELD: MESSAGE" */
const char *kt_config_error_str(const struct kt_config_error *e, char *buf,
				size_t len);

/* Tunnel paths the file asks for: a site's hub endpoints, a hub's lines
 * times its sites; 0 without a tunnel section. */
size_t kt_config_paths(const struct kt_config *cfg);

const char *kt_role_name(enum kt_role r);
const char *kt_mgmt_via_name(enum kt_mgmt_via v);	/* "line", "auto", "tunnel" */
const char *kt_line_kind_name(enum kt_line_kind k);
const char *kt_seg_kind_name(enum kt_seg_kind k);

#endif
