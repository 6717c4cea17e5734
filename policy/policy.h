/* The segment-separation policy (docs/policy.md).
 *
 * A policy names the box's segments (My Number, LGWAN, internet,
 * management, on the box's own ports or behind the tunnels), named host
 * groups, the flows allowed between them, and per-segment line
 * eligibility. A file may extend a template (`model: alpha | beta |
 * beta-prime`, policy/templates/) so that a site changes model by
 * changing one line.
 *
 * Parsing fills a struct kt_policy; kt_pol_check (invariants.c) then
 * refuses anything that breaks separation, whatever the file says;
 * kt_pol_explain says in words what the policy allows; nft.c turns a
 * checked policy into the kernel's ruleset. Every object remembers where
 * it was written, so that every complaint names a file and a line. */
#ifndef KT_POLICY_H
#define KT_POLICY_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "addr.h"
#include "config.h"	/* enum kt_seg_kind, enum kt_line_kind, errors, port map */

#define KT_POL_NAME_MAX 32
#define KT_POL_PURPOSE_MAX 128
#define KT_POL_MAX_LINES 4
#define KT_POL_MAX_SEGMENTS 16
#define KT_POL_MAX_PORTS 4		/* interfaces per segment */
#define KT_POL_MAX_PREFIXES 32		/* per segment */
#define KT_POL_MAX_HOSTS 64		/* host groups */
#define KT_POL_MAX_ADDRS 32		/* per host group */
#define KT_POL_MAX_RANGES 16		/* port ranges per flow */
#define KT_POL_MAX_TUNNEL_PORTS 4	/* per line */
#define KT_POL_MAX_FILES 2		/* the policy and its template */

enum kt_pol_model {
	KT_POL_MODEL_NONE,
	KT_POL_MODEL_ALPHA,
	KT_POL_MODEL_BETA,
	KT_POL_MODEL_BETA_PRIME,
};

enum kt_pol_role {
	KT_POL_ROLE_SERVER,		/* an ordinary named host */
	KT_POL_ROLE_RELAY,		/* file or mail sanitisation (無害化) */
	KT_POL_ROLE_SCREEN_TRANSFER,	/* virtual browser, VDI (画面転送) */
	KT_POL_ROLE_FILE_TRANSFER,	/* My Number <-> LGWAN file transfer */
};

enum kt_pol_proto {
	KT_POL_PROTO_TCP,
	KT_POL_PROTO_UDP,
	KT_POL_PROTO_ICMP,		/* ICMP for IPv4, ICMPv6 for IPv6 */
	KT_POL_PROTO_ANY,
};

/* Where a flow starts or ends. */
enum kt_pol_ep_type {
	KT_POL_EP_SEGMENT,		/* every address of a segment */
	KT_POL_EP_HOSTS,		/* the addresses of a host group */
	KT_POL_EP_BOX,			/* the box itself (its management plane) */
	KT_POL_EP_INTERNET_LINE,	/* straight out of a best-effort line */
};

/* Reserved endpoint names; no segment or host group may take them. */
#define KT_POL_EP_BOX_NAME "box"
#define KT_POL_EP_INTERNET_LINE_NAME "internet-line"

struct kt_pol_loc {
	uint8_t file;			/* index into kt_policy.files */
	uint32_t line, column;		/* 1-based */
};

struct kt_pol_line {
	char name[KT_POL_NAME_MAX];
	enum kt_line_kind kind;
	char ifname[IF_NAMESIZE];
	/* UDP ports the box's tunnels use on this line: accepted in, sent
	 * from. Nothing else reaches the box from a line. */
	uint16_t tunnel_ports[KT_POL_MAX_TUNNEL_PORTS];
	size_t n_tunnel_ports;
	struct kt_pol_loc loc;
};

struct kt_pol_segment {
	char name[KT_POL_NAME_MAX];
	enum kt_seg_kind kind;		/* datacenter is not a policy kind */
	/* Interfaces its traffic enters by: LAN ports for segments on the
	 * box, the tunnel interface for segments behind the data centre. With
	 * a VLAN, the 802.1Q interface "<port>.<vlan>" of each. */
	char ifnames[KT_POL_MAX_PORTS][IF_NAMESIZE];
	size_t n_ports;
	uint16_t vlan;			/* 0: untagged */
	struct kt_prefix prefixes[KT_POL_MAX_PREFIXES];
	size_t n_prefixes;
	unsigned paths;			/* bit per enum kt_line_kind; 0 = unset */
	bool allow_best_effort;		/* My Number over best-effort lines */
	bool has_kind;
	struct kt_pol_loc loc;		/* of its first definition */
	struct kt_pol_loc loc_paths, loc_prefixes, loc_ports, loc_allow;
	uint32_t defined_at[KT_POL_MAX_FILES];	/* line in each file, 0: not */
	char path[24];			/* "segments[2]", for errors */
};

struct kt_pol_hosts {
	char name[KT_POL_NAME_MAX];
	enum kt_pol_role role;
	char segment_name[KT_POL_NAME_MAX];
	unsigned segment;		/* index, once resolved */
	struct kt_prefix addrs[KT_POL_MAX_ADDRS];
	size_t n_addrs;
	bool has_role, has_segment;
	struct kt_pol_loc loc, loc_segment, loc_addrs;
	uint32_t defined_at[KT_POL_MAX_FILES];
	char path[24];
};

struct kt_pol_ep {
	enum kt_pol_ep_type type;
	unsigned index;			/* segment or host group */
	char name[KT_POL_NAME_MAX];	/* as written */
	struct kt_pol_loc loc;
};

struct kt_pol_range {
	uint16_t lo, hi;
};

struct kt_pol_flow {
	struct kt_pol_ep from, to;
	enum kt_pol_proto proto;
	struct kt_pol_range ports[KT_POL_MAX_RANGES];	/* destination ports */
	size_t n_ports;			/* 0: every port (icmp, any) */
	char purpose[KT_POL_PURPOSE_MAX];
	bool log;
	struct kt_pol_loc loc;
	char path[24];			/* "flows[12]" */
};

struct kt_policy {
	char files[KT_POL_MAX_FILES][256];	/* [0] the policy, [1] its template */
	size_t n_files;
	enum kt_pol_model model;
	struct kt_pol_line lines[KT_POL_MAX_LINES];
	size_t n_lines;
	struct kt_pol_segment segments[KT_POL_MAX_SEGMENTS];
	size_t n_segments;
	struct kt_pol_hosts hosts[KT_POL_MAX_HOSTS];
	size_t n_hosts;
	struct kt_pol_flow *flows;	/* the template's first */
	size_t n_flows, cap_flows;
	uint8_t sha256[32];		/* of the policy file's bytes */
};

/* Where templates live and how ports are named. */
struct kt_pol_source {
	const char *template_dir;	/* NULL: `model:` is refused */
	const struct kt_port_map *map;	/* logical ports -> interfaces */
};

/* Parse a policy file; on success *out holds the merged policy (the
 * template's segments, hosts and flows completed by the file's) and must
 * be freed with kt_policy_uninit. On failure nothing is left to free and
 * err names file, line, column and field. 0, -EINVAL, -EFBIG, -ENOMEM or
 * the error of opening the file. */
int kt_policy_load(const char *path, const struct kt_pol_source *src,
		   struct kt_policy *out, struct kt_config_error *err);
int kt_policy_parse(const char *name, const uint8_t *buf, size_t len,
		    const struct kt_pol_source *src, struct kt_policy *out,
		    struct kt_config_error *err);
void kt_policy_uninit(struct kt_policy *p);

/* --- invariants (invariants.c) --- */

enum kt_pol_inv {
	KT_INV_MYNUMBER_INTERNET,
	KT_INV_MYNUMBER_LGWAN,
	KT_INV_LGWAN_INTERNET,
	KT_INV_MANAGEMENT_PLANE,
	KT_INV_DEFAULT_DENY,
	KT_INV_COUNT
};

struct kt_pol_invariant {
	const char *id;			/* stable: "mynumber-internet" */
	const char *rule;		/* one sentence */
};

extern const struct kt_pol_invariant kt_pol_invariants[KT_INV_COUNT];

struct kt_pol_violation {
	enum kt_pol_inv inv;
	size_t flow;			/* index into kt_policy.flows */
	char detail[200];
};

#define KT_POL_MAX_VIOLATIONS 32

/* Checks every invariant on every flow. Returns the number of violations
 * found (those beyond max are counted, not stored); 0 means the policy
 * may be compiled. */
size_t kt_pol_check(const struct kt_policy *p, struct kt_pol_violation *v,
		    size_t max);
/* The invariants applied to one allowed crossing, from a flow or (in
 * verify.c) from what the kernel holds; kinds are KT_SEG_KIND_COUNT for
 * the box and the internet line. Violations get flow 0. */
struct kt_pol_edge {
	const char *from_name, *to_name;
	enum kt_pol_ep_type from_type, to_type;
	enum kt_seg_kind from_kind, to_kind;
	enum kt_pol_role to_role;	/* when to_type is KT_POL_EP_HOSTS */
	enum kt_pol_proto proto;
};
size_t kt_pol_judge(const struct kt_pol_edge *e, struct kt_pol_violation *v,
		    size_t max);

/* "FILE:LINE: flows[3]: invariant mynumber-internet: RULE (DETAIL)" */
const char *kt_pol_violation_str(const struct kt_policy *p,
				 const struct kt_pol_violation *v, char *buf,
				 size_t len);

/* --- names --- */

const char *kt_pol_model_name(enum kt_pol_model m);
const char *kt_pol_role_name(enum kt_pol_role r);
const char *kt_pol_proto_name(enum kt_pol_proto p);
/* The segment kind an endpoint belongs to; KT_SEG_KIND_COUNT for the box
 * and the internet line. */
enum kt_seg_kind kt_pol_ep_kind(const struct kt_policy *p,
				const struct kt_pol_ep *e);

/* --- plain words (explain.c) --- */

/* Writes what the policy allows and denies, in sentences, to f. Text
 * goes through gettext (text domain "kyoten"). */
void kt_pol_explain(const struct kt_policy *p, FILE *f);

#endif
